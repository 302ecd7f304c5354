/// The shape of each program's one error type (`BinDaemonError`, `AggregatorError`): a code a caller can
/// act on, one line naming the object (file and field, chip and line, host and port), every issue found in
/// a file, and the error underneath, kept whole rather than flattened into the message, so that an outbox
/// that is busy still reads as busy to whoever catches the wrapper. Messages never carry secrets.
public struct CodedError<Code: RawRepresentable & Hashable & Sendable>: Error, Sendable, Equatable, ConfigIssueReport
where Code.RawValue == String {
    public var code: Code
    public var message: String
    /// Every problem found in a file; empty for errors that are not about file contents.
    public var issues: [ConfigIssue]
    /// The error this one was made from (a `GPIOError`, `MQTTError`, `Errno`, a database's error), if any.
    public var cause: (any Error)?

    public init(_ code: Code, _ message: String, issues: [ConfigIssue] = [], cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.issues = issues
        self.cause = cause
    }

    /// Equal when code, message and issues are; the causes are compared by what they say.
    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.code == rhs.code && lhs.message == rhs.message && lhs.issues == rhs.issues
            && lhs.cause.map { String(describing: $0) } == rhs.cause.map { String(describing: $0) }
    }
}
