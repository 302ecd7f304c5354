import YAMLConfig

/// The one error type of the BinDaemon module. Configuration and board problems carry every issue found
/// (not only the first), each naming the file, the field and the offending value, so an installer can fix
/// a file in one pass. Messages never contain secrets.
public typealias BinDaemonError = CodedError<BinDaemonErrorCode>

/// What went wrong in the daemon, for `BinDaemonError.code`.
public enum BinDaemonErrorCode: String, Sendable, Hashable {
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
    /// The services did not end within the stop limits, even after cancellation.
    case shutdown
    /// The process could not get what it needs from the system (a thread); the message names the call
    /// and errno.
    case resources
}

extension CodedError where Code == BinDaemonErrorCode {
    /// A configuration, board or scenario file that could not be used, with every issue found in it;
    /// `invalid` is the code for a file that was read and parsed but is not valid.
    public init(_ error: ConfigError, invalid: Code) {
        let code: Code =
            switch error.code {
            case .unreadable: .fileUnreadable
            case .syntax: .syntax
            case .invalid: invalid
            }
        self.init(code, error.message, issues: error.issues, cause: error)
    }
}
