/// A password, token or key that prints and encodes as `<redacted>`, so it cannot end up in a log line,
/// an error, a configuration dump or the configuration hash by accident. Both programs read their secrets
/// from configuration files into this one type.
public struct Secret: Sendable, Equatable, Hashable, Encodable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The secret itself, for the one place that must hand it on (the MQTT client, the database driver,
    /// a token comparison, a webhook signature).
    public let revealed: String

    public init(_ revealed: String) { self.revealed = revealed }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }

    /// Encodes as `<redacted>`: the configuration hash and any dump stay free of it.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode("<redacted>")
    }
}
