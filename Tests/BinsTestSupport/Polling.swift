import Foundation

/// Waits until `condition` holds, checking every `interval`, for at most `timeout`. For conditions that
/// have no event to wait on (a port accepting connections, a file gaining a line, a process exiting, a row
/// appearing in another process's database).
public func waitUntil(
    timeout: Duration, interval: Duration = .milliseconds(20), _ what: @autoclosure () -> String = "condition",
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now.advanced(by: timeout)
    while true {
        if try await condition() { return }
        if ContinuousClock.now >= deadline {
            throw TestSupportError("\(what()) did not happen within \(timeout)")
        }
        try await Task.sleep(for: interval)
    }
}

/// Runs `work`, which blocks (a child process waited for), on a thread of its own and awaits its result,
/// so the caller does not hold one of the cooperative pool's few threads meanwhile.
public func onOwnThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try work() }) }.start()
    }
}
