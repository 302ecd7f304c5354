/// Runs `operation` for at most `timeout`: its result, or `nil` once the time is up (the operation is then
/// cancelled and awaited, so it must honour cancellation). Cancelling the caller ends the wait at once
/// (`nil`, unless the operation finished first). Errors of the operation are rethrown; a non-throwing
/// operation makes a non-throwing call.
///
/// Every wait on something outside the process (a broker's acknowledgement, a connection, an outbox
/// draining) goes through here, so that no stop and no publish can wait forever.
public func withDeadline<T: Sendable, Failure: Error>(
    _ timeout: Duration, _ operation: @escaping @Sendable () async throws(Failure) -> T
) async throws(Failure) -> T? {
    let outcome = await withTaskGroup(of: Result<T, Failure>?.self) { group in
        group.addTask {
            do throws(Failure) {
                return .success(try await operation())
            } catch {
                return .failure(error)
            }
        }
        group.addTask {
            try? await Task.sleep(for: timeout)
            return nil
        }
        let first = await group.next() ?? nil
        group.cancelAll()
        return first
    }
    return try outcome?.get()
}
