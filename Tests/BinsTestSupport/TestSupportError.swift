/// Why a piece of the test harness could not do its job; the message names the process, file or port.
public struct TestSupportError: Error, CustomStringConvertible, Sendable {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}
