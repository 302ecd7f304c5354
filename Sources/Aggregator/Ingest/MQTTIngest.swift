import BinProtocol
import Foundation
import Logging
import MQTT
import ServiceLifecycle
import Synchronization

extension BrokerSettings {
    /// The aggregator's MQTT session: fixed client id, persistent session (clean session off, no session
    /// expiry), QoS 1, and a retained `online: false` will on `sanitation/v1/aggregator/status`.
    public func mqttConfiguration(instance: String, timeZone: TimeZone) -> MQTTConfiguration {
        let will = AggregatorStatusPublisher.statusMessage(instance: instance, online: false, receipts: receipts, timeZone: timeZone)
        return MQTTConfiguration(
            host: host, port: port, clientID: clientID, username: username, password: password?.value,
            keepAliveSeconds: keepAliveSeconds, cleanSession: false,
            protocolVersion: protocolVersion == .v5 ? .v5 : .v311,
            tls: tls.map {
                MQTTTLSConfiguration(caFile: $0.caFile, certificateFile: $0.certificateFile, keyFile: $0.keyFile, verifyHostname: $0.verifyHostname)
            },
            will: will, reconnectDelayMin: .milliseconds(reconnectDelayMinMilliseconds),
            reconnectDelayMax: .milliseconds(reconnectDelayMaxMilliseconds), sessionExpirySeconds: nil, maxInflightMessages: 32)
    }

    /// Filters ingest subscribes to: every device's status, birth, state and health, and events (through
    /// the shared subscription group when one is configured, so instances split them).
    public var ingestFilters: [String] {
        let events = sharedGroup.map { Topics.Filter.shared(group: $0, Topics.Filter.events) } ?? Topics.Filter.events
        return [Topics.Filter.status, Topics.Filter.birth, Topics.Filter.state, Topics.Filter.health, events]
    }
}

/// Receives ingest's messages on libmosquitto's network thread and commits each before returning, so the
/// broker gets its PUBACK only for messages that are in the database: a crash at any point loses
/// nothing (the broker redelivers to the persistent session, and `(device, seq)` dedupe absorbs the
/// repeat).
///
/// If the database fails, the handler retries (backing off to 5 s) and keeps the network thread, and so
/// the PUBACK, waiting: the broker keeps queueing meanwhile. Returning is acknowledging (libmosquitto has
/// queued the PUBACK before calling the handler), so the handler never returns without a commit, not even
/// at shutdown: a stop that comes while the database is failing waits for it within the runtime's
/// ``ShutdownLimits`` and then ends the process with the message unacknowledged, which the broker
/// delivers again after the restart.
public final class IngestHandler: MQTTMessageHandler {
    private let processor: IngestProcessor
    private let logger: Logger
    private let stopping = Atomic<Bool>(false)
    /// Told about every message once it is committed (the console's live updates).
    private let committed: @Sendable (MQTTMessage, IngestMetrics.MessageType, Int64) -> Void

    public init(
        processor: IngestProcessor, logger: Logger,
        committed: @escaping @Sendable (MQTTMessage, IngestMetrics.MessageType, Int64) -> Void = { _, _, _ in }
    ) {
        self.processor = processor
        self.logger = logger
        self.committed = committed
    }

    /// Shutdown has begun: a message still failing to commit is then reported as held back.
    public func stop() { stopping.store(true, ordering: .relaxed) }

    public func handle(_ message: MQTTMessage) {
        let receivedAtMs = Int64(Date().timeIntervalSince1970 * 1000)
        var delay = 0.05
        var reportedHeld = false
        while true {
            let outcome = processor.processBlocking(topic: message.topic, payload: message.payload, receivedAtMs: receivedAtMs)
            if case .accepted(let type) = outcome { committed(message, type, receivedAtMs) }
            guard case .storageFailed = outcome else { return }
            if !reportedHeld && stopping.load(ordering: .relaxed) {
                reportedHeld = true
                logger.error(
                    "ingest.not_committed_at_shutdown",
                    metadata: ["mqtt.topic": "\(message.topic.prefix(128))", "ingest.outcome": "held unacknowledged; the broker delivers it again"])
            }
            Thread.sleep(forTimeInterval: delay)
            delay = min(delay * 2, 5)
        }
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
        let payload = AggregatorStatusPayload(ts: .now(in: timeZone), instance: instance, online: online, receipts: receipts ? true : nil)
        return MQTTMessage(topic: Topics.aggregatorStatus, payload: (try? WireCodec.encode(payload)) ?? [], qos: .atLeastOnce, retain: true)
    }

    public func run() async throws {
        let changes = client.stateChanges()
        await cancelWhenGracefulShutdown {
            for await state in changes where state == .connected {
                do {
                    try await self.client.publish(
                        Self.statusMessage(instance: self.instance, online: true, receipts: self.announcesReceipts, timeZone: self.timeZone))
                } catch {
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
            throw AggregatorError(.broker, "publish on \(Topics.alerts) failed: \(error)")
        }
    }
}
