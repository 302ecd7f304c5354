/// One problem in a configuration, board or scenario file, located as precisely as the YAML allows.
public struct ConfigIssue: Sendable, Hashable, CustomStringConvertible {
    public enum Severity: String, Sendable, Hashable {
        /// The file cannot be used.
        case error
        /// Usable, but probably not what the author meant (e.g. a pin that doubles as I2C).
        case warning
    }

    public var severity: Severity
    public var file: String
    /// 1-based line and column in the file, when the issue has a place.
    public var line: Int?
    public var column: Int?
    /// Dotted path of the field, e.g. `bins[1].shape.depth_mm`; empty for the whole file.
    public var field: String
    public var message: String

    public init(
        severity: Severity = .error, file: String, line: Int? = nil, column: Int? = nil, field: String,
        message: String
    ) {
        self.severity = severity
        self.file = file
        self.line = line
        self.column = column
        self.field = field
        self.message = message
    }

    /// `file:line:column: field: message`, with `warning: ` before the field for warnings, as compilers
    /// print it so that editors can jump to the place.
    public var description: String {
        var place = file
        if let line {
            place += ":\(line)"
            if let column { place += ":\(column)" }
        }
        let prefix = severity == .warning ? "warning: " : ""
        return field.isEmpty ? "\(place): \(prefix)\(message)" : "\(place): \(prefix)\(field): \(message)"
    }
}

/// An error carrying the issues found in a file (`ConfigError`, and the error types of the modules that
/// wrap it): described as its message, then every issue on a line of its own.
public protocol ConfigIssueReport: CustomStringConvertible {
    var message: String { get }
    var issues: [ConfigIssue] { get }
}

extension ConfigIssueReport {
    public var description: String {
        ([message] + issues.map(\.description)).joined(separator: "\n")
    }
}
