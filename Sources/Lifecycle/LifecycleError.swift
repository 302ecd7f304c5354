/// The one error type of the Lifecycle module.
public struct LifecycleError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, Equatable {
        /// Services did not end within the stop limits, even after cancellation; the process should exit
        /// without them.
        case stopAbandoned = "stop_abandoned"
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
