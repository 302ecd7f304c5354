import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// Drains an `Outbox` through an `MQTTClient`, as a `Service`.
///
/// Records are handed to the client in seq order, up to `windowSize` of them not yet acknowledged. The
/// client puts at most its `maxInflightMessages` on the wire (so throughput is not one round trip per
/// event) and keeps the rest queued, sending the next one on its network thread the moment a PUBACK frees
/// a slot: the wire stays full while the publisher settles PUBACKs in bunches. They are deleted from the
/// outbox, in seq order and in batches of up to ``PublisherEngine/deleteBatch``, after their PUBACK, or,
/// with ``OutboxReceipts``, only once the receiver's end-to-end receipt covers them: then what the broker
/// acknowledged but no receipt covers is sent again after a reconnect, when a receipt shows a gap, or
/// after a quiet time ( ``ReceiptSettings``), and the receiver drops the duplicates.
/// While the client is disconnected nothing is sent; unacknowledged publishes of a lost connection are
/// resent by libmosquitto on the next one, and everything else continues from where it stopped.
///
/// Records sent late — recorded while offline, or left over from before a restart or reconnect — are
/// passed through `markHistorical` first (the daemon sets `historical: true` in the JSON; this layer does
/// not know payload schemas). "Late" means: already in the outbox when the current connection came up.
///
/// Records the broker refuses (MQTT 5 reason code) or libmosquitto cannot send are not retried forever:
/// they are logged, reported as `.rejected` drops, and deleted.
public struct OutboxPublisher: Service {
    public let outbox: Outbox
    public let client: MQTTClient
    /// Records handed to the client and not yet finished: several times the client's in-flight limit, so
    /// its queue covers the time the publisher takes to settle a bunch of PUBACKs and read the next
    /// records (a drain at 32 ran at about half the raw publisher's rate; at 256 it comes near it).
    public let windowSize: Int
    public let retain: Bool
    /// How long a graceful shutdown waits for outstanding PUBACKs (unacknowledged records stay in the
    /// outbox and are resent on the next start).
    public let shutdownGrace: Duration
    /// Receipts that decide deletion, if the receiver sends them.
    public let receipts: OutboxReceipts?
    private let markHistorical: @Sendable ([UInt8]) -> [UInt8]
    private let logger: Logger

    public init(
        outbox: Outbox, client: MQTTClient, receipts: OutboxReceipts? = nil, windowSize: Int = 256,
        retain: Bool = false,
        shutdownGrace: Duration = .seconds(2), logger: Logger,
        markHistorical: @escaping @Sendable ([UInt8]) -> [UInt8]
    ) {
        self.outbox = outbox
        self.client = client
        self.receipts = receipts
        self.windowSize = max(1, windowSize)
        self.retain = retain
        self.shutdownGrace = shutdownGrace
        self.markHistorical = markHistorical
        self.logger = logger
    }

    /// Waits until the outbox is empty (every record acknowledged or dropped); `false` on timeout.
    @discardableResult
    public func waitUntilDrained(timeout: Duration) async -> Bool {
        await outbox.waitUntilEmpty(timeout: timeout)
    }

    public func run() async throws {
        let (events, sink) = AsyncStream.makeStream(of: PublisherEvent.self)
        let outbox = outbox
        let client = client
        let receipts = receipts
        let receiptInputs = receipts?.takeInputs()
        if receipts != nil && receiptInputs == nil {
            logger.error(
                "outbox.receipts.shared",
                metadata: ["outbox.detail": "one OutboxReceipts serves one publisher; receipts ignored"])
        }
        let announced: Bool
        do {
            announced = try outbox.receiverAnnouncesReceipts
        } catch {
            logger.error("outbox.read.failed", metadata: ["outbox.error": "\(error)"])
            announced = receipts?.settings.mode == .required
        }
        let tracker = ReceiptTracker(
            settings: receiptInputs == nil ? nil : receipts?.settings, receiverAnnounced: announced, now: .now)
        // Which records were already waiting when each connection was accepted: noted on the network
        // thread at CONNACK, before anything can be recorded "while connected".
        let boundaries = Mutex<(generation: UInt64, lastSeq: Int64)?>(nil)
        let hook = client.addAcceptanceHook { generation in
            let lastSeq = outbox.lastSeq
            boundaries.withLock { $0 = (generation, lastSeq) }
        }
        defer { client.removeAcceptanceHook(hook) }
        await withDiscardingTaskGroup { group in
            group.addTask {
                for await _ in client.stateChanges() { sink.yield(.connectionChanged) }
            }
            group.addTask {
                for await _ in outbox.changes() { sink.yield(.outboxChanged) }
            }
            if let receiptInputs {
                group.addTask {
                    for await input in receiptInputs { sink.yield(.receipts(input)) }
                }
            }
            if case .batched(let interval) = outbox.syncPolicy {
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: interval)
                        sink.yield(.tick)
                    }
                }
            }
            await withGracefulShutdownHandler {
                var engine = PublisherEngine(
                    outbox: outbox, client: client, windowSize: windowSize, retain: retain, tracker: tracker,
                    receipts: receipts, markHistorical: markHistorical, logger: logger, sink: sink
                ) { generation in
                    boundaries.withLock { noted in noted?.generation == generation ? noted?.lastSeq : nil }
                }
                var retryScheduled = false
                // The earliest receipt deadline a timer task is already sleeping towards.
                var timerDeadline: ContinuousClock.Instant?
                engine.pump()
                loop: for await event in events {
                    switch event {
                    case .connectionChanged, .outboxChanged:
                        break
                    case .acknowledged:
                        engine.takeAcknowledgements()
                    case .receipts(let input):
                        engine.receiptInput(input)
                    case .receiptTimer:
                        timerDeadline = nil
                    case .tick:
                        outbox.syncIfDue()
                    case .retry:
                        retryScheduled = false
                    case .shutdown:
                        engine.stopping = true
                        logger.debug(
                            "outbox.publisher.stopping", metadata: ["outbox.in_flight": "\(engine.window.inFlight)"])
                        group.addTask {
                            try? await Task.sleep(for: shutdownGrace)
                            sink.yield(.graceExpired)
                        }
                    case .graceExpired:
                        break loop
                    }
                    engine.checkReceipts()
                    engine.pump()
                    if engine.stopping && engine.window.inFlight == 0 { break loop }
                    if let deadline = engine.receiptDeadline, timerDeadline.map({ deadline < $0 }) ?? true {
                        timerDeadline = deadline
                        group.addTask {
                            try? await Task.sleep(until: deadline, clock: .continuous)
                            sink.yield(.receiptTimer)
                        }
                    }
                    if engine.needsRetry && !retryScheduled {
                        retryScheduled = true
                        group.addTask {
                            try? await Task.sleep(for: .seconds(1))
                            sink.yield(.retry)
                        }
                    }
                }
                if engine.window.inFlight > 0 {
                    logger.info(
                        "outbox.publisher.stopped_with_unacknowledged",
                        metadata: ["outbox.in_flight": "\(engine.window.inFlight)"])
                }
            } onGracefulShutdown: {
                sink.yield(.shutdown)
            }
            sink.finish()
            group.cancelAll()
        }
    }
}

enum PublisherEvent: Sendable {
    case connectionChanged
    case outboxChanged
    /// PUBACKs (or failures) are waiting in the engine's ``AcknowledgementInbox``.
    case acknowledged
    case receipts(OutboxReceipts.Input)
    case receiptTimer
    case tick
    case retry
    case shutdown
    case graceExpired
}

/// The publisher's loop state, touched only by the `run()` task.
struct PublisherEngine {
    let outbox: Outbox
    let client: MQTTClient
    let windowSize: Int
    let retain: Bool
    let markHistorical: @Sendable ([UInt8]) -> [UInt8]
    let logger: Logger
    private let inbox: AcknowledgementInbox
    /// The last seq recorded before connection `generation` was accepted, if it was noted.
    let boundary: @Sendable (_ generation: UInt64) -> Int64?
    var window = PublishWindow()
    var stopping = false
    /// An outbox operation failed (disk trouble); try again later.
    var needsRetry = false
    private var tracker: ReceiptTracker
    private let receipts: OutboxReceipts?
    /// Records with seq ≤ this were already waiting when the current connection came up, or are being
    /// sent again: they are late.
    private var historicalThrough: Int64 = 0
    private var generation: UInt64?
    /// Deletion that failed and must be retried.
    private var pendingDeleteThrough: Int64?
    /// Records are deleted through this seq.
    private var deletedThrough: Int64 = 0
    /// A resend waiting for the records in flight to finish: send again everything after this seq.
    private var pendingResendAfter: Int64?
    private let publishedCounter = Counter(label: "outbox_published_total")
    private let rejectedCounter = Counter(label: "outbox_rejected_total")
    private let resendCounter = Counter(label: "outbox_resends_total")
    private let depthGauge = Gauge(label: "outbox_depth")

    init(
        outbox: Outbox, client: MQTTClient, windowSize: Int, retain: Bool, tracker: ReceiptTracker,
        receipts: OutboxReceipts?,
        markHistorical: @escaping @Sendable ([UInt8]) -> [UInt8], logger: Logger,
        sink: AsyncStream<PublisherEvent>.Continuation, boundary: @escaping @Sendable (UInt64) -> Int64?
    ) {
        self.boundary = boundary
        self.outbox = outbox
        self.client = client
        self.windowSize = windowSize
        self.retain = retain
        self.tracker = tracker
        self.receipts = receipts
        self.markHistorical = markHistorical
        self.logger = logger
        inbox = AcknowledgementInbox(window: windowSize, sink: sink)
        publishStatus()
    }

    /// Sends as many records as the window allows, if connected.
    mutating func pump() {
        needsRetry = false
        if let through = pendingDeleteThrough { delete(through: through) }
        depthGauge.record(outbox.depth)
        guard !stopping else { return }
        let (state, currentGeneration) = client.connectionSnapshot
        guard state == .connected else { return }
        if generation != currentGeneration {
            generation = currentGeneration
            historicalThrough = max(historicalThrough, boundary(currentGeneration) ?? outbox.lastSeq)
            tracker.connected(now: .now)
        }
        if let after = pendingResendAfter, window.inFlight == 0 {
            pendingResendAfter = nil
            historicalThrough = max(historicalThrough, window.cursor)
            window = PublishWindow(cursor: after)
        }
        // Everything this pass hands over reaches the wire with one wake-up of the network thread.
        var queued = false
        defer { if queued { client.wakeNetworkThread() } }
        while window.inFlight < windowSize {
            let records: [OutboxRecord]
            do {
                records = try outbox.pending(after: window.cursor, limit: windowSize - window.inFlight)
            } catch {
                logger.error("outbox.read.failed", metadata: ["outbox.error": "\(error)"])
                needsRetry = true
                return
            }
            if records.isEmpty { return }
            for record in records {
                queued = true
                guard send(record) else { return }
            }
        }
    }

    /// Hands one record to the client; `false` if the connection is gone (resend it later).
    private mutating func send(_ record: OutboxRecord) -> Bool {
        let late = record.seq <= historicalThrough
        let message = MQTTMessage(
            topic: record.topic, payload: late ? markHistorical(record.payload) : record.payload, qos: record.qos,
            retain: retain)
        let inbox = inbox
        let seq = record.seq
        let acknowledged = record.qos != .atMostOnce
        if acknowledged { inbox.handingOver() }
        do throws(MQTTError) {
            try client.enqueue(message, wake: false) { result in inbox.add(seq: seq, result: result) }
            window.sent(seq)
            if !acknowledged { completed(seq) }
            return true
        } catch let error where error.code == .notConnected {
            if acknowledged { inbox.withdraw() }
            return false
        } catch {
            if acknowledged { inbox.withdraw() }
            window.sent(seq)
            reject(seq, error)
            return true
        }
    }

    /// Settles every acknowledgement that arrived since the last call.
    mutating func takeAcknowledgements() {
        for (seq, result) in inbox.take() { acknowledged(seq: seq, result: result) }
    }

    private mutating func acknowledged(seq: Int64, result: Result<Void, MQTTError>) {
        switch result {
        case .success:
            publishedCounter.increment()
            completed(seq)
        case .failure(let error) where error.code == .publishRefused:
            reject(seq, error)
        case .failure(let error):
            // Stopped or cancelled: not delivered; the record stays and is sent again on the next start.
            logger.debug("outbox.publish.unfinished", metadata: ["outbox.seq": "\(seq)", "outbox.error": "\(error)"])
        }
    }

    private mutating func reject(_ seq: Int64, _ error: MQTTError) {
        rejectedCounter.increment()
        logger.error("outbox.publish.rejected", metadata: ["outbox.seq": "\(seq)", "outbox.error": "\(error)"])
        do {
            try outbox.recordRejected(seq: seq)
        } catch {
            logger.error("outbox.report.failed", metadata: ["outbox.seq": "\(seq)", "outbox.error": "\(error)"])
        }
        completed(seq)
    }

    private mutating func completed(_ seq: Int64) {
        guard let through = window.finished(seq) else { return }
        tracker.acknowledged(through: through, now: .now)
        deleteWhatIsDone()
    }

    // MARK: Receipts

    /// When the receipt rules next need a `checkReceipts()`.
    var receiptDeadline: ContinuousClock.Instant? { tracker.nextDeadline() }

    mutating func receiptInput(_ input: OutboxReceipts.Input) {
        let now = ContinuousClock.now
        switch input {
        case .receipt(let through, let highest):
            let wasAnnounced = tracker.receiverAnnounced
            switch tracker.receipt(through: through, highest: highest, lastRecorded: outbox.lastSeq, now: now) {
            case .ignoredAhead:
                logger.warning(
                    "outbox.receipt.ahead",
                    metadata: ["outbox.receipt_through": "\(through)", "outbox.last_seq": "\(outbox.lastSeq)"])
            case .advanced, .unchanged:
                break
            }
            if !wasAnnounced && tracker.receiverAnnounced { rememberAnnouncement() }
        case .receiver(let presence):
            let wasAnnounced = tracker.receiverAnnounced
            tracker.receiver(presence, now: now)
            if !wasAnnounced && tracker.receiverAnnounced { rememberAnnouncement() }
        }
        deleteWhatIsDone()
    }

    /// Runs the time-driven rules: resends and the fallback to PUBACK.
    mutating func checkReceipts() {
        let before = tracker.mode
        if case .resend(let after) = tracker.tick(now: .now) {
            resendCounter.increment()
            logger.notice(
                "outbox.resend",
                metadata: [
                    "outbox.after_seq": "\(after)", "outbox.unreceipted": "\(tracker.unreceipted)",
                    "outbox.resends": "\(tracker.resends)",
                ])
            pendingResendAfter = min(pendingResendAfter ?? after, after)
        }
        if tracker.mode != before {
            logger.warning(
                "outbox.receipts.mode",
                metadata: ["outbox.mode": "\(tracker.mode.rawValue)", "outbox.was": "\(before.rawValue)"])
        }
        deleteWhatIsDone()
    }

    private mutating func rememberAnnouncement() {
        do {
            try outbox.markReceiverAnnouncesReceipts()
            logger.info("outbox.receipts.announced")
        } catch {
            logger.error("outbox.write.failed", metadata: ["outbox.error": "\(error)"])
        }
    }

    /// Finished records deleted in one statement at most this many at a time while others are in flight:
    /// a drain then costs one delete per batch, not per PUBACK, and a crash sends at most this many again
    /// (the receiver drops them as duplicates).
    static let deleteBatch: Int64 = 256

    /// Deletes what the current mode lets go of, in batches (everything at once when nothing is in flight
    /// or the publisher is stopping), and refreshes the status health reports show.
    private mutating func deleteWhatIsDone() {
        let through = tracker.deletableThrough
        if through > deletedThrough
            && (through - deletedThrough >= Self.deleteBatch || window.inFlight == 0 || stopping)
        {
            deletedThrough = through
            delete(through: through)
        }
        publishStatus()
    }

    private func publishStatus() {
        receipts?.update(
            OutboxReceipts.Status(
                mode: tracker.mode, through: tracker.receiptedThrough, unreceipted: tracker.unreceipted,
                resends: tracker.resends))
    }

    private mutating func delete(through seq: Int64) {
        do {
            try outbox.remove(through: max(seq, pendingDeleteThrough ?? seq))
            pendingDeleteThrough = nil
        } catch {
            logger.error("outbox.delete.failed", metadata: ["outbox.seq": "\(seq)", "outbox.error": "\(error)"])
            pendingDeleteThrough = max(seq, pendingDeleteThrough ?? seq)
            needsRetry = true
        }
    }
}

/// Where the network thread leaves PUBACKs for the publisher task.
///
/// A drain brings tens of thousands of PUBACKs a second. Waking the task for each one made each record
/// cost a task switch, an outbox read of one record and a status update, on the same two cores as the
/// broker. The network thread leaves them here and wakes the task only when a quarter of the window has
/// piled up, when nothing handed over is outstanding any more (the last PUBACK of a quiet period is
/// settled at once), or on a failure; the task then settles the pile and refills the window with one
/// read. The rest of the window stays queued in libmosquitto meanwhile, so the wire never waits for it.
final class AcknowledgementInbox: Sendable {
    private struct State {
        var waiting: [(seq: Int64, result: Result<Void, MQTTError>)] = []
        /// Handed to the client, outcome not yet left here.
        var outstanding = 0
    }
    private let state = Mutex(State())
    private let wakeAfter: Int
    private let sink: AsyncStream<PublisherEvent>.Continuation

    init(window: Int, sink: AsyncStream<PublisherEvent>.Continuation) {
        wakeAfter = max(1, window / 4)
        self.sink = sink
    }

    /// A record is about to be handed to the client; its outcome will be left here.
    func handingOver() {
        state.withLock { $0.outstanding += 1 }
    }

    /// The client refused the record just announced: no outcome will come for it.
    func withdraw() {
        let wake = state.withLock { state in
            state.outstanding -= 1
            return state.outstanding == 0 && !state.waiting.isEmpty
        }
        if wake { sink.yield(.acknowledged) }
    }

    /// Leaves one outcome (network thread), waking the task when it is due.
    func add(seq: Int64, result: Result<Void, MQTTError>) {
        let wake = state.withLock { state in
            state.waiting.append((seq, result))
            state.outstanding -= 1
            if case .failure = result { return true }
            return state.outstanding == 0 || state.waiting.count == wakeAfter
        }
        if wake { sink.yield(.acknowledged) }
    }

    /// Everything left since the last call, in arrival order.
    func take() -> [(seq: Int64, result: Result<Void, MQTTError>)] {
        state.withLock { state in
            defer { state.waiting.removeAll(keepingCapacity: true) }
            return state.waiting
        }
    }
}
