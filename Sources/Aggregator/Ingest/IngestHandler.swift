import Dispatch
import Foundation
import Logging
import MQTT
import Synchronization

/// Receives ingest's messages in batches from libmosquitto's network thread, validates them there, and
/// commits each batch on a queue of its own, in arrival order, acknowledging it to the client only once
/// committed: the broker gets the PUBACKs of a batch only once all its messages are in the database, and
/// a crash at any point loses nothing (the broker redelivers to the persistent session, and
/// `(device, seq)` dedupe absorbs the repeats). Meanwhile the network thread reads and validates the
/// next burst (the client's `batchPipelineDepth`), so reading and committing overlap.
///
/// A store that commits synchronously (SQLite) commits on the queue's thread; an asynchronous one
/// (PostgreSQL) on the ``IngestCommitter``'s task while the queue's thread waits.
///
/// If the database fails, the handler retries the same batch (backing off to 5 s) and leaves it
/// unacknowledged, which holds the client's writes, and so every PUBACK: the broker keeps queueing
/// meanwhile. The handler never acknowledges without a commit, not even at shutdown: a stop that comes
/// while the database is failing waits for it within the runtime's ``ShutdownLimits`` and then ends the
/// process with the batch unacknowledged, which the broker delivers again after the restart.
public final class IngestHandler: MQTTBatchHandler {
    private let processor: IngestProcessor
    private let committer: IngestCommitter
    private let stateJudging: IngestProcessor.StateJudging
    private let logger: Logger
    private let stopping = Atomic<Bool>(false)
    /// Commits one batch after another, in the order the network thread handed them over.
    private let commits = DispatchQueue(label: "bins-aggregator.ingest-commit")
    /// Told about the accepted messages of each batch once it is committed (the console's live updates).
    private let committed:
        @Sendable ([(topic: String, payload: [UInt8], type: IngestMetrics.MessageType)], Int64) -> Void

    public init(
        processor: IngestProcessor, committer: IngestCommitter,
        stateJudging: IngestProcessor.StateJudging = .afterCommit, logger: Logger,
        committed:
            @escaping @Sendable ([(topic: String, payload: [UInt8], type: IngestMetrics.MessageType)], Int64) -> Void =
            { _, _ in }
    ) {
        self.processor = processor
        self.committer = committer
        self.stateJudging = stateJudging
        self.logger = logger
        self.committed = committed
    }

    /// Shutdown has begun: a batch still failing to commit is then reported as held back.
    public func stop() { stopping.store(true, ordering: .relaxed) }

    public func handle(_ batch: [MQTTMessage], acknowledgement: MQTTBatchAcknowledgement) {
        let receivedAtMs = Int64(Date().timeIntervalSince1970 * 1000)
        let prepared = processor.prepare(
            batch.map { ($0.topic, $0.payload) }, receivedAtMs: receivedAtMs, stateJudging: stateJudging)
        commits.async { [self] in
            commitRetrying(prepared, of: batch, receivedAtMs: receivedAtMs)
            acknowledgement.acknowledge()
        }
    }

    /// Returns once the batch is committed: returning is acknowledging.
    private func commitRetrying(_ prepared: IngestProcessor.PreparedBatch, of batch: [MQTTMessage], receivedAtMs: Int64)
    {
        var delay = 0.05
        var reportedHeld = false
        while true {
            let result = processor.commitBlocking(prepared) ?? committer.commitWaiting(prepared)
            if case .success(let outcomes) = result {
                let accepted = zip(batch, outcomes).compactMap { message, outcome in
                    if case .accepted(let type) = outcome { (message.topic, message.payload, type) } else { nil }
                }
                committed(accepted, receivedAtMs)
                return
            }
            if !reportedHeld && stopping.load(ordering: .relaxed) {
                reportedHeld = true
                logger.error(
                    "ingest.not_committed_at_shutdown",
                    metadata: [
                        "ingest.batch": "\(batch.count)",
                        "ingest.outcome": "held unacknowledged; the broker delivers it again",
                    ])
            }
            Thread.sleep(forTimeInterval: delay)
            delay = min(delay * 2, 5)
        }
    }
}
