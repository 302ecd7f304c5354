import Synchronization
import Testing

@testable import Lifecycle

@Suite("Bounded waits", .timeLimit(.minutes(1)))
struct DeadlineTests {
    struct Refused: Error, Equatable {}

    @Test("the operation's result when it finishes in time")
    func result() async {
        let value = await withDeadline(.seconds(60)) { 42 }
        #expect(value == 42)
    }

    @Test("nil when the time is up; the operation is cancelled and has ended when the call returns")
    func timeUp() async {
        let ended = Mutex(false)
        let (never, _) = AsyncStream.makeStream(of: Int.self)
        let value = await withDeadline(.milliseconds(20)) { () -> Int? in
            defer { ended.withLock { $0 = true } }
            for await number in never { return number }
            return nil
        }
        #expect(value == nil)
        #expect(ended.withLock { $0 })
    }

    @Test("the operation's error is rethrown with its type")
    func errorsPassThrough() async {
        await #expect(throws: Refused.self) {
            _ = try await withDeadline(.seconds(60)) { () async throws(Refused) -> Int in throw Refused() }
        }
    }

    @Test("cancelling the caller ends the wait, and the operation sees the cancellation")
    func callerCancelled() async {
        let (never, _) = AsyncStream.makeStream(of: Int.self)
        let sawCancellation = Mutex(false)
        let waiting = Task {
            await withDeadline(.seconds(3600)) {
                for await _ in never {}
                sawCancellation.withLock { $0 = Task.isCancelled }
            }
        }
        waiting.cancel()
        _ = await waiting.value
        #expect(sawCancellation.withLock { $0 })
    }
}
