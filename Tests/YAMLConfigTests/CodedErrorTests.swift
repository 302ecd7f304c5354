import Testing
import YAMLConfig

@Suite("The programs' error shape: code, message, issues and the cause kept whole")
struct CodedErrorTests {
    enum Code: String, Sendable, Hashable { case unwritable, busy }
    struct Underlying: Error, Equatable { var code: String }

    @Test("the cause is kept with its own type and code, and does not change the message")
    func causeKept() {
        let error = CodedError<Code>(.unwritable, "outbox.db: the outbox is busy", cause: Underlying(code: "busy"))
        #expect((error.cause as? Underlying)?.code == "busy")
        #expect(error.description == "outbox.db: the outbox is busy")
        #expect(error != CodedError<Code>(.unwritable, "outbox.db: the outbox is busy"))
        #expect(
            error == CodedError<Code>(.unwritable, "outbox.db: the outbox is busy", cause: Underlying(code: "busy")))
    }

    @Test("a Secret never prints, debug-prints or encodes what it holds")
    func secretRedacted() {
        let secret = Secret("hunter2-very-long")
        #expect("\(secret)" == "<redacted>")
        #expect(String(reflecting: secret) == "<redacted>")
        #expect(!"\(CodedError<Code>(.busy, "password \(secret) refused"))".contains("hunter2"))
        #expect(secret.revealed == "hunter2-very-long")
    }
}
