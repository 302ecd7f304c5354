import Dispatch
import Logging
import MQTT
import ServiceLifecycle
import Synchronization

/// Commits ingest batches for a store whose client is asynchronous (PostgreSQL) on behalf of the ingest
/// handler's commit queue, which hands a batch over and waits for the outcome before acknowledging it.
///
/// One long-lived task in the service group does the committing (not a task per batch), in arrival
/// order. It is listed before the MQTT client, so it stops after it: the commit queue never waits on
/// a committer that has gone. A batch handed over after it stopped fails, and the handler keeps it
/// unacknowledged.
///
/// The wait keeps commits in arrival order and off the network thread, which meanwhile reads and
/// validates the next burst.
public final class IngestCommitter: Service, Sendable {
    struct Job: Sendable {
        let batch: IngestProcessor.PreparedBatch
        let outcome: CommitOutcome
    }

    private let processor: IngestProcessor
    private let jobs: AsyncStream<Job>
    private let continuation: AsyncStream<Job>.Continuation

    public init(processor: IngestProcessor) {
        self.processor = processor
        (jobs, continuation) = AsyncStream.makeStream(of: Job.self)
    }

    /// Commits what is handed over until graceful shutdown; batches handed over before it are still
    /// committed, later ones fail at once.
    public func run() async {
        await withGracefulShutdownHandler {
            for await job in jobs {
                job.outcome.resolve(await processor.commit(job.batch))
            }
        } onGracefulShutdown: { [continuation] in
            continuation.finish()
        }
    }

    /// Commits `batch` and returns its outcome; blocks the calling thread (the handler's commit queue,
    /// never one of Swift's cooperative pool) meanwhile.
    func commitWaiting(_ batch: IngestProcessor.PreparedBatch) -> Result<[IngestOutcome], AggregatorError> {
        let outcome = CommitOutcome()
        guard case .enqueued = continuation.yield(Job(batch: batch, outcome: outcome)) else {
            return .failure(AggregatorError(.shutdown, "ingest committer has stopped"))
        }
        return outcome.wait()
    }
}

/// The outcome of one handed-over batch, waited for by a plain thread.
final class CommitOutcome: Sendable {
    private let result = Mutex<Result<[IngestOutcome], AggregatorError>?>(nil)
    private let ready = DispatchSemaphore(value: 0)

    func resolve(_ value: Result<[IngestOutcome], AggregatorError>) {
        result.withLock { $0 = value }
        ready.signal()
    }

    func wait() -> Result<[IngestOutcome], AggregatorError> {
        ready.wait()
        return result.withLock { $0 } ?? .failure(AggregatorError(.storage, "no outcome"))
    }
}
