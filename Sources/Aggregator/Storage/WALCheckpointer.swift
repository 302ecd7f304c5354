import Dispatch
import Foundation
import GRDB
import Logging
import Synchronization

/// Copies committed pages from the write-ahead log into the database file on a thread of its own, so the
/// thread that commits (ingest's commit queue, whose batches' PUBACKs wait for each commit) does not. SQLite
/// otherwise checkpoints inside the commit that takes the log past `wal_autocheckpoint` pages: a copy of
/// every page written since the last one, and an fsync of the database file, about a tenth of the ingest
/// thread's time during a backlog (docs/aggregator.md).
///
/// Checkpoints are PASSIVE: they never wait for the writer or for readers, and copy what they can. The
/// writer keeps SQLite's own automatic checkpoint at ``writerFallbackPages``, far above what this thread
/// lets the log reach, as a bound should this thread fall behind or fail. Checkpointing does not change
/// what is durable: a commit is durable once it is in the log.
final class WALCheckpointer: Sendable {
    /// The writer's own automatic checkpoint (pages of the log; SQLite's default is 1000).
    static let writerFallbackPages = 8192

    private let path: String
    private let logger: Logger
    private let wake = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private let stopping = Atomic<Bool>(false)
    private let connection: DatabaseQueue
    private let failureLog = Mutex(LogThrottle<Bool>())

    /// Opens the checkpointer's own connection to the database at `path` (in WAL mode already) and starts
    /// its thread.
    init(path: String, logger: Logger) throws {
        self.path = path
        self.logger = logger
        var configuration = Configuration()
        configuration.label = "bins-aggregator.checkpoint"
        configuration.busyMode = .immediateError
        connection = try DatabaseQueue(path: path, configuration: configuration)
        let thread = Thread { [self] in run() }
        thread.name = "wal-checkpoint"
        thread.start()
    }

    /// A write transaction committed: the log has pages to copy.
    func committed() {
        wake.signal()
    }

    /// Stops the thread after the checkpoint in progress, if any, and closes its connection; returns once
    /// it has.
    func stop() {
        guard !stopping.exchange(true, ordering: .relaxed) else { return }
        wake.signal()
        finished.wait()
        try? connection.close()
    }

    private func run() {
        defer { finished.signal() }
        while !stopping.load(ordering: .relaxed) {
            // Commits signal once each; a checkpoint serves all that came before it.
            _ = wake.wait(timeout: .now() + .seconds(1))
            while wake.wait(timeout: .now()) == .success {}
            guard !stopping.load(ordering: .relaxed) else { return }
            checkpoint()
        }
    }

    private func checkpoint() {
        do {
            _ = try connection.writeWithoutTransaction { db in try db.checkpoint(.passive) }
        } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY {
            return  // another checkpoint (the writer's fallback) is running: it does the copying
        } catch {
            let nowMs = Int64(Date().timeIntervalSince1970 * 1000)
            guard let unlogged = failureLog.withLock({ $0.admit(true, nowMs: nowMs) }) else { return }
            let message = (error as? DatabaseError)?.message ?? "\(error)"
            logger.warning(
                "storage.checkpoint_failed",
                metadata: [
                    "storage.path": "\(path)", "storage.error": "\(message)",
                    "storage.failures_unlogged": "\(unlogged)",
                ])
        }
    }
}
