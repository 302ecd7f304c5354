#if canImport(Glibc)
import Glibc
#endif

/// A configuration or scenario file that cannot be used, with the file, the field path and (when the
/// YAML parser knows it) the line, e.g. `binsd.yaml:14: bins[1].shape.depth_mm: must be positive (got -5)`.
public struct ConfigError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable {
        /// The file cannot be read (errno attached).
        case unreadable
        /// Not YAML, or YAML the project does not accept (aliases, duplicate keys).
        case syntax
        /// A required field is absent.
        case missingField
        /// A field the schema does not know (usually a typo).
        case unknownField
        /// A value of the wrong kind or out of range.
        case invalidValue
    }

    public var code: Code
    public var file: String
    /// Dotted path to the field, e.g. `bins[1].shape.depth_mm`; empty for the whole file.
    public var path: String
    public var line: Int?
    public var message: String
    public var errno: Int32?

    public init(_ code: Code, file: String, path: String, line: Int? = nil, message: String, errno: Int32? = nil) {
        self.code = code
        self.file = file
        self.path = path
        self.line = line
        self.message = message
        self.errno = errno
    }

    public var description: String {
        var text = file
        if let line { text += ":\(line)" }
        text += ": "
        if !path.isEmpty { text += "\(path): " }
        text += message
        return text
    }
}

/// A validation failure raised from a type's `init(from:)`. The decoder adds file, path and line.
///
///     guard depth > 0 else { throw ConfigValueError("must be positive (got \(depth))") }
public struct ConfigValueError: Error, Sendable {
    public var message: String
    /// Optional sub-path below the value being decoded, e.g. `depth_mm`.
    public var field: String?

    public init(_ message: String, field: String? = nil) {
        self.message = message
        self.field = field
    }
}

/// Renders a coding path as `bins[1].shape.depth_mm`.
public func renderCodingPath(_ path: [any CodingKey]) -> String {
    var text = ""
    for key in path {
        if let index = key.intValue, key.stringValue.hasPrefix("Index") || key.stringValue == "\(index)" {
            text += "[\(index)]"
        } else {
            if !text.isEmpty { text += "." }
            text += key.stringValue
        }
    }
    return text
}
