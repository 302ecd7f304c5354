import BinProtocol
import Dispatch
import Foundation
import Logging
import MQTT
import ServiceLifecycle
import Synchronization

extension BrokerSettings {
    /// The aggregator's MQTT session: fixed client id, persistent session (clean session off, no session
    /// expiry), QoS 1, and a retained `online: false` will on `sanitation/v1/aggregator/status`.
    public func mqttConfiguration(instance: String, timeZone: TimeZone) -> MQTTConfiguration {
        let will = AggregatorStatusPublisher.statusMessage(
            instance: instance, online: false, receipts: receipts, timeZone: timeZone)
        return MQTTConfiguration(
            host: host, port: port, clientID: clientID, username: username, password: password?.revealed,
            keepAliveSeconds: keepAliveSeconds, cleanSession: false,
            protocolVersion: protocolVersion == .v5 ? .v5 : .v311,
            tls: tls,
            will: will, reconnectDelayMin: .milliseconds(reconnectDelayMinMilliseconds),
            reconnectDelayMax: .milliseconds(reconnectDelayMaxMilliseconds), sessionExpirySeconds: nil,
            maxInflightMessages: 32,
            batchMaxMessages: batchMaxMessages, batchMaxDelay: .milliseconds(batchMaxDelayMilliseconds))
    }

    /// Filters ingest subscribes to: every device's status, birth, state and health, and events (through
    /// the shared subscription group when one is configured, so instances split them).
    public var ingestFilters: [String] {
        let events = sharedGroup.map { Topics.Filter.shared(group: $0, Topics.Filter.events) } ?? Topics.Filter.events
        // Loads are booked once by their key, so instances may split them like events.
        let loads = sharedGroup.map { Topics.Filter.shared(group: $0, Topics.Filter.load) } ?? Topics.Filter.load
        return [Topics.Filter.status, Topics.Filter.birth, Topics.Filter.state, Topics.Filter.health, events, loads]
    }
}

/// Receives ingest's messages in batches on libmosquitto's network thread and commits each batch before
/// returning, so the broker gets the PUBACKs of a batch only once all its messages are in the database:
/// a crash at any point loses nothing (the broker redelivers to the persistent session, and
/// `(device, seq)` dedupe absorbs the repeats).
///
/// A store that commits synchronously (SQLite) commits right here; an asynchronous one (PostgreSQL)
/// commits on the ``IngestCommitter``'s task while this thread waits, since it must not write anything
/// to the broker before the commit.
///
/// If the database fails, the handler retries the same batch (backing off to 5 s) and keeps the network
/// thread, and so the PUBACKs, waiting: the broker keeps queueing meanwhile. Returning is acknowledging,
/// so the handler never returns without a commit, not even at shutdown: a stop that comes while the
/// database is failing waits for it within the runtime's ``ShutdownLimits`` and then ends the process
/// with the batch unacknowledged, which the broker delivers again after the restart.
public final class IngestHandler: MQTTBatchHandler {
    private let processor: IngestProcessor
    private let committer: IngestCommitter
    private let logger: Logger
    private let stopping = Atomic<Bool>(false)
    /// Told about every message once it is committed (the console's live updates).
    private let committed: @Sendable (MQTTMessage, IngestMetrics.MessageType, Int64) -> Void

    public init(
        processor: IngestProcessor, committer: IngestCommitter, logger: Logger,
        committed: @escaping @Sendable (MQTTMessage, IngestMetrics.MessageType, Int64) -> Void = { _, _, _ in }
    ) {
        self.processor = processor
        self.committer = committer
        self.logger = logger
        self.committed = committed
    }

    /// Shutdown has begun: a batch still failing to commit is then reported as held back.
    public func stop() { stopping.store(true, ordering: .relaxed) }

    public func handle(_ batch: [MQTTMessage]) {
        let receivedAtMs = Int64(Date().timeIntervalSince1970 * 1000)
        let prepared = processor.prepare(batch.map { ($0.topic, $0.payload) }, receivedAtMs: receivedAtMs)
        var delay = 0.05
        var reportedHeld = false
        while true {
            let result = processor.commitBlocking(prepared) ?? committer.commitWaiting(prepared)
            if case .success(let outcomes) = result {
                for (message, outcome) in zip(batch, outcomes) {
                    if case .accepted(let type) = outcome { committed(message, type, receivedAtMs) }
                }
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

/// Commits ingest batches for a store whose client is asynchronous (PostgreSQL) on behalf of the MQTT
/// network thread, which hands a batch over and waits for the outcome before writing its PUBACKs.
///
/// One long-lived task in the service group does the committing (not a task per batch), in arrival
/// order. It is listed before the MQTT client, so it stops after it: the network thread never waits on
/// a committer that has gone. A batch handed over after it stopped fails, and the handler keeps it
/// unacknowledged.
///
/// The wait itself is unavoidable: libmosquitto writes a burst's PUBACKs on the same thread that read
/// it, and they must not be written before the commit.
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

    /// Commits `batch` and returns its outcome; blocks the calling thread (the network thread, never one
    /// of Swift's cooperative pool) meanwhile.
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

/// Keeps `sanitation/v1/aggregator/status` true: a retained `online: true` after every (re)connection,
/// an `online: false` on a clean stop, and the client's will for everything else.
///
/// The `online: false` is waited for at most `offlineStatusTimeout`. A QoS 1 publish waits for its PUBACK
/// across reconnects, and the client only stops after this service has returned (it is listed first, so
/// it stops last): without a bound, a broker that went away at the moment of the stop would keep the
/// whole shutdown, and the reconnect loop with it, waiting forever.
public final class AggregatorStatusPublisher: Service, Sendable {
    private let client: MQTTClient
    private let instance: String
    private let timeZone: TimeZone
    private let announcesReceipts: Bool
    private let offlineStatusTimeout: Duration
    private let logger: Logger

    public init(
        client: MQTTClient, instance: String, timeZone: TimeZone, announcesReceipts: Bool = true,
        offlineStatusTimeout: Duration = .seconds(5), logger: Logger
    ) {
        self.client = client
        self.instance = instance
        self.timeZone = timeZone
        self.announcesReceipts = announcesReceipts
        self.offlineStatusTimeout = offlineStatusTimeout
        self.logger = logger
    }

    /// The status, announcing receipts when this aggregator publishes them (devices then keep their events
    /// until a receipt covers them, even while this aggregator is away).
    static func statusMessage(instance: String, online: Bool, receipts: Bool, timeZone: TimeZone) -> MQTTMessage {
        let payload = AggregatorStatusPayload(
            ts: .now(in: timeZone), instance: instance, online: online, receipts: receipts ? true : nil)
        return MQTTMessage(
            topic: Topics.aggregatorStatus, payload: (try? WireCodec.encode(payload)) ?? [], qos: .atLeastOnce,
            retain: true)
    }

    public func run() async throws {
        let changes = client.stateChanges()
        await cancelWhenGracefulShutdown {
            for await state in changes where state == .connected {
                do {
                    try await self.client.publish(
                        Self.statusMessage(
                            instance: self.instance, online: true, receipts: self.announcesReceipts,
                            timeZone: self.timeZone))
                } catch {
                    // A graceful stop cancels the wait for the PUBACK: not a failure.
                    if Task.isCancelled { break }
                    self.logger.warning("aggregator.status_publish_failed", metadata: ["mqtt.error": "\(error)"])
                }
            }
        }
        await publishOffline()
    }

    /// Last words before the client disconnects (it is listed before this service, so it stops after).
    private func publishOffline() async {
        do {
            try await client.publish(
                Self.statusMessage(instance: instance, online: false, receipts: announcesReceipts, timeZone: timeZone),
                timeout: offlineStatusTimeout)
            logger.info("aggregator.status_offline_published")
        } catch {
            logger.notice("aggregator.status_offline_not_published", metadata: ["mqtt.error": "\(error)"])
        }
    }
}

/// Publishes alert lifecycle messages on `sanitation/v1/alerts` at QoS 1, not retained.
public struct MQTTAlertPublisher: AlertPublisher {
    let client: MQTTClient

    public init(client: MQTTClient) {
        self.client = client
    }

    public func publishAlert(_ body: [UInt8]) async throws {
        do {
            try await client.publish(MQTTMessage(topic: Topics.alerts, payload: body, qos: .atLeastOnce, retain: false))
        } catch {
            throw AggregatorError(.broker, "publish on \(Topics.alerts) failed: \(error)", cause: error)
        }
    }
}
