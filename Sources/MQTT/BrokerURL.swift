/// A broker address, `mqtt://HOST[:PORT]` or `mqtts://HOST[:PORT]`: the one parser both programs' configurations
/// read their broker with (binsd's `broker.url`, the aggregator's `broker.url`). `tcp://` and `ssl://`, the names
/// other MQTT clients use, are read as `mqtt://` and `mqtts://`.
public struct BrokerURL: Sendable, Equatable, Hashable, Encodable, CustomStringConvertible {
    public var tls: Bool
    public var host: String
    public var port: Int

    public init(tls: Bool, host: String, port: Int) {
        self.tls = tls
        self.host = host
        self.port = port
    }

    /// Why a text is not a broker URL.
    public enum Problem: Error, Sendable, Equatable {
        /// Not `SCHEME://HOST[:PORT]` with a known scheme, a host and a port in 1...65535 (paths and queries
        /// included).
        case malformed
        /// A user or password in the URL: credentials belong in the configuration's own fields, where they
        /// are kept out of logs.
        case credentials
    }

    /// The parts of a broker URL; `port` is nil when the URL gives none (the caller picks the default or
    /// a separate `port:` field).
    public struct Parts: Sendable, Equatable {
        public var tls: Bool
        public var host: String
        public var port: Int?
    }

    /// Parses a broker URL (IPv6 hosts in brackets), default ports 1883 and 8883. Returns nil for
    /// anything else.
    public init?(_ text: String) {
        guard case .success(let parts) = Self.parse(text) else { return nil }
        self.init(tls: parts.tls, host: parts.host, port: parts.port ?? (parts.tls ? 8883 : 1883))
    }

    public static func parse(_ text: String) -> Result<Parts, Problem> {
        let schemes: [(prefix: String, tls: Bool)] = [
            ("mqtt://", false), ("mqtts://", true), ("tcp://", false), ("ssl://", true),
        ]
        guard let scheme = schemes.first(where: { text.hasPrefix($0.prefix) }) else { return .failure(.malformed) }
        var hostPart = text.dropFirst(scheme.prefix.count)
        if hostPart.hasSuffix("/") { hostPart = hostPart.dropLast() }
        if hostPart.contains("@") { return .failure(.credentials) }
        guard !hostPart.isEmpty, !hostPart.contains("/"), !hostPart.contains("?") else { return .failure(.malformed) }
        var host: Substring
        var portText: Substring?
        if hostPart.hasPrefix("[") {
            guard let close = hostPart.firstIndex(of: "]") else { return .failure(.malformed) }
            host = hostPart[hostPart.index(after: hostPart.startIndex)..<close]
            let after = hostPart[hostPart.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { return .failure(.malformed) }
                portText = after.dropFirst()
            }
        } else {
            let parts = hostPart.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count <= 2 else { return .failure(.malformed) }
            host = parts[0]
            if parts.count == 2 { portText = parts[1] }
        }
        guard !host.isEmpty, host.allSatisfy({ $0.isLetter || $0.isNumber || "-._:".contains($0) }) else {
            return .failure(.malformed)
        }
        var port: Int?
        if let portText {
            guard let value = Int(portText), (1...65535).contains(value) else { return .failure(.malformed) }
            port = value
        }
        return .success(Parts(tls: scheme.tls, host: String(host), port: port))
    }

    /// `host:port` as errors and logs name the broker (never with credentials).
    public var endpoint: String { Self.endpoint(host: host, port: port) }

    /// `host:port`, an IPv6 host in brackets: how every error and log line names a broker.
    public static func endpoint(host: String, port: Int) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    public var description: String { "\(tls ? "mqtts" : "mqtt")://\(endpoint)" }
}
