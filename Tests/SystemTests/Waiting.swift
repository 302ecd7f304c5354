import BinsTestSupport
import Foundation

/// Why a system test gave up, in words that say what was expected and what was seen.
struct SystemTestError: Error, CustomStringConvertible {
    var description: String

    init(_ description: String) {
        self.description = description
    }
}

/// Polls `probe` until it reports `done`, for at most `timeout` (BinsTestSupport's `waitUntil`). For
/// conditions another process brings about (rows in the aggregator's database, an alert in its API, a
/// broker's queue) there is no event to wait on, so the wait is bounded polling, never a fixed sleep.
///
/// The probe returns what it saw; on timeout the error names what was awaited and that last sight. A
/// `SystemTestError` thrown by the probe ends the wait at once (the condition can no longer come true, e.g.
/// the process that should bring it about has exited); other errors (a refused connection while a process
/// restarts) are treated as "not yet" and shown as what was seen.
func waitFor(
    _ what: String, timeout: Duration, every interval: Duration = .milliseconds(200),
    _ probe: () async throws -> (done: Bool, seen: String)
) async throws {
    var seen = "nothing yet"
    try await waitUntil(timeout: timeout, interval: interval, "\(what) (last seen: \(seen))") {
        do {
            let result = try await probe()
            seen = result.seen
            return result.done
        } catch let error as SystemTestError {
            throw SystemTestError("while waiting for \(what): \(error)")
        } catch {
            seen = "error: \(error)"
            return false
        }
    }
}
