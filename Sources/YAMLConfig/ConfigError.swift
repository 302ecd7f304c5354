/// A configuration, board or scenario file that cannot be used. `message` is one line naming the file;
/// `issues` holds every problem found in it (not only the first), each with its line, column and field
/// path, so that the author can fix the file in one pass. Modules above wrap it in their own error type.
public struct ConfigError: Error, Sendable, Hashable, ConfigIssueReport {
    public enum Code: String, Sendable, Hashable {
        /// The file cannot be read (missing, permissions, too large, not UTF-8); errno when there is one.
        case unreadable
        /// Not YAML, or an empty file; the issue carries the place libyaml reports.
        case syntax
        /// Well-formed, but not valid: see `issues` (unknown keys, missing fields, wrong types, ranges).
        case invalid
    }

    public var code: Code
    public var file: String
    /// One line, e.g. `binsd.yaml: 2 error(s) in the configuration` or
    /// `/etc/binsd/binsd.yaml: open failed: No such file or directory (errno 2)`.
    public var message: String
    /// Every problem found, errors and warnings, in the order they were found.
    public var issues: [ConfigIssue]
    /// The errno of a failed read.
    public var errno: Int32?

    public init(_ code: Code, file: String, message: String, issues: [ConfigIssue] = [], errno: Int32? = nil) {
        self.code = code
        self.file = file
        self.message = message
        self.issues = issues
        self.errno = errno
    }
}
