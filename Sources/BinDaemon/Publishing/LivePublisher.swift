import BinProtocol
import Lifecycle
import Logging
import MQTT
import ServiceLifecycle
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Everything the device publishes outside the outbox, as a service: the retained `status` (online, with
/// the session the will also carries) and `birth` on every connection, the latest retained `state` of each
/// bin (coalesced: a bin that changed ten times while the link was down is published once, with its newest
/// state), `health` at QoS 0, and the replies to commands on `cmd`. On graceful shutdown it lets the outbox
/// drain for a bounded time, then publishes `online: false` before the client disconnects.
public final class LivePublisher: Service, Sendable {
    public struct Identity: Sendable {
        public var device: String
        public var session: Int64
        public var version: String
        public var configHash: String
        public var board: String
        public var bins: [BinDescriptor]

        public init(
            device: String, session: Int64, version: String, configHash: String, board: String, bins: [BinDescriptor]
        ) {
            self.device = device
            self.session = session
            self.version = version
            self.configHash = configHash
            self.board = board
            self.bins = bins
        }
    }

    private struct Pending: Sendable {
        var identity: Identity
        var status = false
        var birth = false
        var states: [String: StatePayload] = [:]
        var dirtyStates: Set<String> = []
        var health: HealthPayload?
        var replies: [CommandReplyPayload] = []
    }

    private enum Signal: Sendable {
        case work
        case connection(MQTTConnectionState)
        case command(MQTTMessage)
        case shutdown
    }

    let client: MQTTClient
    let outbox: Outbox
    let receipts: OutboxReceipts?
    let control: SamplingControl
    let counters: DaemonCounters
    let now: @Sendable () -> WireTimestamp
    let flushTimeout: Duration
    let onConnected: @Sendable () -> Void
    let logger: Logger
    private let pending: Mutex<Pending>
    /// Connections seen, and the connection whose `online: true` was acknowledged.
    private let announcements = Mutex<(connections: Int, announced: Int)>((0, 0))
    private let signals: AsyncStream<Signal>
    private let sink: AsyncStream<Signal>.Continuation
    /// When this session started, on the same clock as the payloads' `ts` (virtual in a simulation).
    private let startedAt: WireTimestamp

    public init(
        identity: Identity, client: MQTTClient, outbox: Outbox, receipts: OutboxReceipts? = nil,
        control: SamplingControl,
        counters: DaemonCounters, now: @escaping @Sendable () -> WireTimestamp, flushTimeout: Duration = .seconds(10),
        onConnected: @escaping @Sendable () -> Void = {}, logger: Logger
    ) {
        self.client = client
        self.outbox = outbox
        self.receipts = receipts
        self.control = control
        self.counters = counters
        self.now = now
        self.flushTimeout = flushTimeout
        self.onConnected = onConnected
        self.logger = logger
        pending = Mutex(Pending(identity: identity))
        startedAt = now()
        (signals, sink) = AsyncStream.makeStream(of: Signal.self)
    }

    /// The `online: false` message the broker publishes as the client's will, and the one a clean stop sends.
    public static func will(for identity: Identity, at time: WireTimestamp) -> MQTTMessage {
        let payload = StatusPayload(device: identity.device, ts: time, online: false, session: identity.session)
        return MQTTMessage(
            topic: Topics.status(identity.device), payload: (try? WireCodec.encode(payload)) ?? [], qos: .atLeastOnce,
            retain: true)
    }

    // MARK: Inputs (any thread)

    public func publishState(_ state: StatePayload) {
        pending.withLock { pending in
            pending.states[state.bin] = state
            pending.dirtyStates.insert(state.bin)
        }
        sink.yield(.work)
    }

    public func publishHealth(at time: WireTimestamp, activeFaults: [String]) {
        let identity = pending.withLock { $0.identity }
        let health = HealthPayload(
            device: identity.device, ts: time, session: identity.session,
            uptimeS: max(0, startedAt.seconds(to: time)).rounded(),
            samplesTotal: counters.samples.load(ordering: .relaxed),
            sampleErrorsTotal: counters.sampleErrors.load(ordering: .relaxed),
            hx711RetriesTotal: counters.hx711Retries.load(ordering: .relaxed),
            publishFailuresTotal: counters.publishFailures.load(ordering: .relaxed),
            reconnectsTotal: counters.reconnects.load(ordering: .relaxed), outboxDepth: Int64(outbox.depth),
            droppedTotal: counters.dropped.load(ordering: .relaxed), activeFaults: activeFaults,
            receipts: receiptStatus)
        pending.withLock { $0.health = health }
        sink.yield(.work)
    }

    /// How events leave the outbox, for the health message (`off` shows as PUBACK with no receipt).
    private var receiptStatus: ReceiptStatus {
        guard let status = receipts?.status else {
            return ReceiptStatus(mode: .puback, through: 0, unreceipted: 0, resendsTotal: 0)
        }
        let mode: ReceiptStatus.Mode =
            switch status.mode {
            case .receipts: .receipts
            case .puback: .puback
            case .fallback: .fallback
            }
        return ReceiptStatus(
            mode: mode, through: status.through, unreceipted: status.unreceipted, resendsTotal: Int64(status.resends))
    }

    /// Publishes status, birth and every bin's state again (the `rebirth` command, a changed config).
    public func rebirth(identity: Identity? = nil) {
        pending.withLock { pending in
            if let identity { pending.identity = identity }
            pending.status = true
            pending.birth = true
            pending.dirtyStates = Set(pending.states.keys)
        }
        sink.yield(.work)
    }

    // MARK: Service

    public func run() async throws {
        let device = pending.withLock { $0.identity.device }
        let client = client
        let sink = sink
        let commands = try await client.subscribe(Topics.command(device), qos: .atLeastOnce)
        let handler = CommandHandler(control: control, now: now, logger: logger) { [self] in rebirth() }
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                group.addTask {
                    for await state in client.stateChanges() { sink.yield(.connection(state)) }
                }
                group.addTask {
                    for await message in commands { sink.yield(.command(message)) }
                }
                // One worker publishes, in order; this loop never waits for a PUBACK, so connection changes,
                // commands and the shutdown are seen at once even while a publish waits for a reconnect.
                let (work, kick) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
                group.addTask { [self] in
                    for await _ in work { await publishPending() }
                }
                loop: for await signal in signals {
                    switch signal {
                    case .work:
                        kick.yield()
                    case .connection(.connected):
                        let count = announcements.withLock { state -> Int in
                            state.connections += 1
                            return state.connections
                        }
                        if count > 1 { counters.reconnects.add(1, ordering: .relaxed) }
                        logger.info("mqtt.connected", metadata: ["mqtt.broker": "\(client.configuration.endpoint)"])
                        rebirth()
                        onConnected()
                    case .connection:
                        break
                    case .command(let message):
                        group.addTask { [self] in
                            let device = pending.withLock { $0.identity.device }
                            if let reply = await handler.handle(message, device: device) {
                                pending.withLock { $0.replies.append(reply) }
                                sink.yield(.work)
                            }
                        }
                    case .shutdown:
                        break loop
                    }
                }
                kick.finish()
                await finalWords()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            sink.yield(.shutdown)
        }
    }

    /// True once `online: true` has gone out on the current connection (the simulation holds virtual time
    /// until then after an outage, so the status timeline matches the link's).
    public var hasAnnouncedCurrentConnection: Bool {
        announcements.withLock { $0.connections > 0 && $0.announced == $0.connections } && client.state == .connected
    }

    /// Publishes whatever is pending, if connected; what fails stays pending for the next connection.
    private func publishPending() async {
        guard client.state == .connected else { return }
        let work = pending.withLock { pending -> Pending in
            let taken = pending
            pending.status = false
            pending.birth = false
            pending.dirtyStates = []
            pending.health = nil
            pending.replies = []
            return taken
        }
        let identity = work.identity
        var failedStatus = false
        var failedBirth = false
        var failedStates: Set<String> = []
        var failedReplies: [CommandReplyPayload] = []
        if work.status {
            let connection = announcements.withLock { $0.connections }
            let status = StatusPayload(device: identity.device, ts: now(), online: true, session: identity.session)
            failedStatus = !(await send(status, topic: Topics.status(identity.device), retain: true))
            if !failedStatus { announcements.withLock { $0.announced = max($0.announced, connection) } }
        }
        if work.birth {
            let birth = BirthPayload(
                device: identity.device, ts: now(), session: identity.session, version: identity.version,
                configHash: identity.configHash, board: identity.board, bins: identity.bins)
            failedBirth = !(await send(birth, topic: Topics.birth(identity.device), retain: true))
        }
        for bin in work.dirtyStates.sorted() {
            guard let state = work.states[bin] else { continue }
            if !(await send(state, topic: Topics.state(identity.device, bin: bin), retain: true)) {
                failedStates.insert(bin)
            }
        }
        for reply in work.replies where !(await send(reply, topic: Topics.commandReply(identity.device), retain: false))
        {
            failedReplies.append(reply)
        }
        if let health = work.health {
            _ = await send(health, topic: Topics.health(identity.device), retain: false, qos: .atMostOnce)
        }
        if failedStatus || failedBirth || !failedStates.isEmpty || !failedReplies.isEmpty {
            pending.withLock { pending in
                pending.status = pending.status || failedStatus
                pending.birth = pending.birth || failedBirth
                pending.dirtyStates.formUnion(failedStates)
                pending.replies = failedReplies + pending.replies
            }
        }
    }

    /// How long to wait for a PUBACK before counting the publish as failed (its content is then published
    /// again with the next connection; libmosquitto may still deliver the first copy, which is harmless for
    /// retained state and replies).
    static let acknowledgementTimeout: Duration = .seconds(10)

    private func send(_ payload: some Encodable, topic: String, retain: Bool, qos: MQTTQoS = .atLeastOnce) async -> Bool
    {
        let bytes: [UInt8]
        do {
            bytes = try WireCodec.encode(payload)
        } catch {
            logger.error("mqtt.encode_failed", metadata: ["mqtt.topic": "\(topic)", "mqtt.error": "\(error)"])
            return true  // would never succeed; do not retry
        }
        do {
            try await client.publish(
                MQTTMessage(topic: topic, payload: bytes, qos: qos, retain: retain),
                timeout: Self.acknowledgementTimeout)
            return true
        } catch {
            counters.publishFailures.add(1, ordering: .relaxed)
            logger.debug("mqtt.publish_failed", metadata: ["mqtt.topic": "\(topic)", "mqtt.error": "\(error)"])
            return false
        }
    }

    /// Shutdown: let the outbox drain for a while, then say `online: false` (a clean stop, so the broker does
    /// not publish the will; the retained status must still say offline).
    private func finalWords() async {
        let identity = pending.withLock { $0.identity }
        guard client.state == .connected else {
            logger.notice("shutdown.offline_status_skipped", metadata: ["mqtt.state": "\(client.state)"])
            return
        }
        if outbox.depth > 0 {
            let drained = await outbox.waitUntilEmpty(timeout: flushTimeout)
            logger.info(
                "shutdown.outbox_flush", metadata: ["outbox.drained": "\(drained)", "outbox.depth": "\(outbox.depth)"])
        }
        _ = await withDeadline(.seconds(3)) { [self] in await publishPending() }
        var published = false
        do {
            try await client.publish(Self.will(for: identity, at: now()), timeout: .seconds(3))
            published = true
        } catch {
            logger.warning("shutdown.offline_status_failed", metadata: ["mqtt.error": "\(error)"])
        }
        logger.info("shutdown.offline_status", metadata: ["mqtt.published": "\(published)"])
    }
}
