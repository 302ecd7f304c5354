/// Runs `operation` for at most `timeout`: its result, or `nil` once the time is up (the operation is then
/// cancelled and awaited, so it must honour cancellation). Cancelling the caller ends the wait at once.
func withDeadline<T: Sendable>(_ timeout: Duration, _ operation: @escaping @Sendable () async -> T) async -> T? {
    await withTaskGroup(of: T?.self) { group in
        group.addTask { await operation() }
        group.addTask {
            try? await Task.sleep(for: timeout)
            return nil
        }
        let first = await group.next() ?? nil
        group.cancelAll()
        return first
    }
}
