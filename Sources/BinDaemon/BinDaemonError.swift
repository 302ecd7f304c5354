/// The one error type of the BinDaemon module. Configuration and board problems carry every issue found
/// (not only the first), each naming the file, the field and the offending value, so an installer can fix
/// a file in one pass. Messages never contain secrets.
public struct BinDaemonError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable {
        /// A file could not be read (missing, permissions); the message names the path and errno.
        case fileUnreadable = "file_unreadable"
        /// The file is not well-formed YAML.
        case syntax
        /// The daemon configuration is well-formed but not valid; see `issues`.
        case invalidConfig = "invalid_config"
        /// A board file is not valid, or the named board does not exist; see `issues`.
        case invalidBoard = "invalid_board"
        /// A bin's scale has no calibration in the state directory.
        case calibrationMissing = "calibration_missing"
        /// The credentials file is unusable (readable by others, empty).
        case credentials
        /// A file could not be written (state directory full or read-only); the message names it and errno.
        case fileUnwritable = "file_unwritable"
        /// A chip or sensor could not be opened or read; the message names chip, lines and errno.
        case hardware
        /// A tare or calibration could not be made (empty scale for a reference, unstable readings).
        case calibrationFailed = "calibration_failed"
        /// The broker could not be reached or refused the device; the message names host and port.
        case broker
        /// A scenario file is unusable or a simulated run could not finish.
        case simulation
    }

    public var code: Code
    public var message: String
    /// Every problem found; empty for errors that are not about file contents.
    public var issues: [ConfigIssue]

    public init(_ code: Code, _ message: String, issues: [ConfigIssue] = []) {
        self.code = code
        self.message = message
        self.issues = issues
    }

    public var description: String {
        issues.isEmpty ? message : ([message] + issues.map(\.description)).joined(separator: "\n")
    }
}

/// One problem in a configuration or board file, located as precisely as the YAML allows.
public struct ConfigIssue: Sendable, Equatable, Hashable, CustomStringConvertible {
    public enum Severity: String, Sendable, Hashable {
        /// The file cannot be used.
        case error
        /// Usable, but probably not what the installer meant (e.g. a pin that doubles as I2C).
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
