import BinProtocol
import Foundation
import Logging
import Synchronization

/// What ingest did with one message.
public enum IngestOutcome: Sendable, Equatable {
    case accepted(IngestMetrics.MessageType)
    /// An event already booked (a redelivery or a replay); counted, not booked again.
    case duplicate
    case rejected(RejectReason)
    /// The database failed; the message was not committed and must not be acknowledged.
    case storageFailed(AggregatorError)
}

/// Something ingest received that may raise or clear an alert; handed to the alert engine, which
/// evaluates it off the ingest path. Everything but a state judged on receipt (``IngestProcessor/StateJudging``)
/// is handed over once its batch is committed.
public enum AlertObservation: Sendable, Equatable {
    case binState(StatePayload)
    case fault(device: String, bin: String?, at: WireTimestamp)
    /// `contaminated`: the deposit itself looked mis-sorted (only such a deposit can raise the bin's rate).
    case deposit(device: String, bin: String, day: LocalDate, at: WireTimestamp, contaminated: Bool)
    case status(device: String)
    /// Something booked that changes a transfer station's balance for `day`: a collection at one of its
    /// points, or a deposit, state or load of the station itself (`fromStation`, whose time `atMs` also
    /// tells how far the station's own day has got).
    case stationActivity(station: String, day: LocalDate, atMs: Int64, fromStation: Bool)
}

/// Turns one MQTT message into a committed database change: topic and payload validated against the
/// wire contract (``WireCodec``), the device checked against the registry, the change committed, the
/// counters updated. Never throws and never traps, whatever the payload.
public final class IngestProcessor: Sendable {
    public let registry: Registry
    public let calendar: LedgerCalendar
    public let store: any AggregatorStore
    public let metrics: IngestMetrics
    private let observe: @Sendable (AlertObservation) -> Void
    /// Told, after the commit, which device's sequence may have moved (an event booked, repeated, or
    /// accounted for): the receipt publisher's input.
    private let sequenceChanged: @Sendable (String) -> Void
    private let logger: Logger
    /// A flood of bad messages is counted in full but logged once a minute per reason.
    private let rejectionLog = Mutex(LogThrottle<RejectReason>())
    /// Sequence gaps likewise: aggregators sharing a subscription each book seqs the other has not yet, so
    /// in such a deployment gaps open (and close) all the time; the counter and the store keep every one.
    private let gapLog = Mutex(LogThrottle<Bool>())
    /// Bins refused to a device that has as many as a birth may declare (``DeviceBins``) likewise.
    private let binLimitLog = Mutex(LogThrottle<Bool>())
    /// Each device's admitted bins, and per bin the newest state time judged on receipt
    /// (``StateJudging/onReceipt``), which stands in for the stored state's time: a state older than one
    /// judged already is not judged.
    private let deviceBins = Mutex(DeviceBins())

    public init(
        registry: Registry, calendar: LedgerCalendar, store: any AggregatorStore, metrics: IngestMetrics,
        logger: Logger,
        observe: @escaping @Sendable (AlertObservation) -> Void = { _ in },
        sequenceChanged: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.registry = registry
        self.calendar = calendar
        self.store = store
        self.metrics = metrics
        self.logger = logger
        self.observe = observe
        self.sequenceChanged = sequenceChanged
    }

    /// When a bin's state is handed to the alert engine.
    public enum StateJudging: Sendable {
        /// Once its batch is committed, if it was not older than the stored state.
        case afterCommit
        /// As soon as it is validated, before its batch commits (the device-state session). A state's
        /// alerts depend on its fill and time (and the learned fill rates, held in memory), not on anything
        /// the commit writes, so the alert need not wait for the commit, nor for the row locks the commit may
        /// queue behind on PostgreSQL (with several instances, every instance books every state). The state is
        /// booked as before.
        case onReceipt
    }

    /// A message that passed validation, ready to be applied.
    enum Parsed {
        case event(EventPayload)
        case status(StatusPayload)
        case birth(BirthPayload)
        case state(StatePayload)
        case health(HealthPayload)
        case load(LoadPayload, station: String)
    }

    enum ParseResult {
        case parsed(Parsed)
        case rejected(RejectReason)
        /// An event refused for its content that still names its seq: the seq is accounted for, so the
        /// device's receipt can move past it (sending it again would be refused again).
        case rejectedEvent(RejectReason, device: String, seq: Int64)
    }

    /// Refusals of an event's content that are final. A newer schema is not: a later aggregator may book
    /// it, so the device keeps it. Nor is a payload that names another device.
    static let finalEventRejections: Set<RejectReason> = [.invalidField, .outOfRange]

    /// The `seq` of a refused event payload, if it names one in range (and no other device than its topic).
    static func probeSeq(_ payload: [UInt8], topicDevice: String) -> Int64? {
        struct Probe: Decodable {
            var seq: Int64
            var device: String?
        }
        guard let probe = try? JSONDecoder().decode(Probe.self, from: Data(payload)),
            (1...WireLimits.maxSeq).contains(probe.seq), probe.device == nil || probe.device == topicDevice
        else { return nil }
        return probe.seq
    }

    /// Validates topic and payload: the registry knows the device, the payload satisfies the wire contract
    /// and names the topic's device (and bin, for state). Rejections are counted here.
    func parse(topic: String, payload: [UInt8]) -> ParseResult {
        guard let (device, kind) = Topics.parse(topic) else {
            return .rejected(reject(.badTopic, topic: topic, detail: "not a device topic"))
        }
        guard registry.isKnown(device: device) else {
            return .rejected(reject(.unknownDevice, topic: topic, detail: "device \(device) is not in the registry"))
        }
        do throws(WireError) {
            switch kind {
            case .events:
                return .parsed(.event(try WireCodec.decode(EventPayload.self, from: payload, topicDevice: device)))
            case .status:
                return .parsed(.status(try WireCodec.decode(StatusPayload.self, from: payload, topicDevice: device)))
            case .birth:
                return .parsed(.birth(try WireCodec.decode(BirthPayload.self, from: payload, topicDevice: device)))
            case .health:
                return .parsed(.health(try WireCodec.decode(HealthPayload.self, from: payload, topicDevice: device)))
            case .load:
                // A device books loads only for the station it belongs to: a sorting point cannot claim
                // that a station received something.
                guard let station = registry.station(ofDevice: device) else {
                    return .rejected(
                        reject(
                            .notPermitted, topic: topic, detail: "device \(device) is not a transfer station's device"))
                }
                return .parsed(
                    .load(try WireCodec.decode(LoadPayload.self, from: payload, topicDevice: device), station: station))
            case .state(let bin):
                let state = try WireCodec.decode(StatePayload.self, from: payload, topicDevice: device)
                guard state.bin == bin else {
                    return .rejected(
                        reject(
                            .invalidField, topic: topic,
                            detail: "payload bin \(state.bin) differs from topic bin \(bin)"))
                }
                guard admit(device: device, bin: bin) else {
                    return .rejected(
                        reject(
                            .outOfRange, topic: topic,
                            detail: "device \(device) has \(WireLimits.maxBins) bins already, the most a birth declares"
                        ))
                }
                return .parsed(.state(state))
            case .command, .commandReply, .receipt:
                return .rejected(reject(.badTopic, topic: topic, detail: "command and receipt topics are not ingested"))
            }
        } catch {
            let reason = reject(error.reason, topic: topic, detail: error.message)
            if kind == .events, Self.finalEventRejections.contains(reason),
                let seq = Self.probeSeq(payload, topicDevice: device)
            {
                return .rejectedEvent(reason, device: device, seq: seq)
            }
            return .rejected(reason)
        }
    }

    /// A batch of messages validated and turned into store items, ready to commit. Rejections are final
    /// and counted once, here, however often the commit is retried.
    public struct PreparedBatch: Sendable {
        enum Entry: Sendable {
            /// Settled without the database.
            case settled(IngestOutcome)
            /// Applied as `items[index]`; `topic` for the logs; `judged` when the alert engine has seen the
            /// state already, on receipt.
            case item(Int, Parsed, topic: String, judged: Bool)
            /// A refused event whose seq is accounted as `items[index]`.
            case accounted(Int, RejectReason, device: String)
        }
        var entries: [Entry] = []
        public internal(set) var items: [IngestItem] = []

        /// Messages in the batch.
        public var count: Int { entries.count }
    }

    /// Validates each message (topic, payload, registry) and builds the store items of those that pass.
    public func prepare(
        _ messages: [(topic: String, payload: [UInt8])], receivedAtMs: Int64,
        stateJudging: StateJudging = .afterCommit
    ) -> PreparedBatch {
        var batch = PreparedBatch()
        for (topic, payload) in messages {
            switch parse(topic: topic, payload: payload) {
            case .rejected(let reason):
                batch.entries.append(.settled(.rejected(reason)))
            case .rejectedEvent(let reason, let device, let seq):
                batch.entries.append(.accounted(batch.items.count, reason, device: device))
                batch.items.append(
                    .account(device: device, seqs: seq...seq, reason: .rejected, receivedAtMs: receivedAtMs))
            case .parsed(let parsed):
                var judged = false
                if stateJudging == .onReceipt, case .state(let state) = parsed {
                    judgeOnReceipt(state)
                    judged = true
                }
                batch.entries.append(.item(batch.items.count, parsed, topic: topic, judged: judged))
                batch.items.append(item(parsed, payload: payload, receivedAtMs: receivedAtMs))
            }
        }
        return batch
    }

    /// Commits the batch in one transaction; on success returns one outcome per message, in order, after
    /// counting them and telling the alert engine and the receipt publisher. On failure nothing is
    /// committed and nothing counted but the failure: the caller retries the same batch.
    public func commit(_ batch: PreparedBatch) async -> Result<[IngestOutcome], AggregatorError> {
        guard !batch.items.isEmpty else { return .success(finish(batch, outcomes: [])) }
        do throws(AggregatorError) {
            return .success(finish(batch, outcomes: try await store.commit(batch.items)))
        } catch {
            return .failure(storageFailed(error, batch: batch))
        }
    }

    /// `commit(_:)` on the caller's own thread, for a store that can (SQLite); `nil` for one that cannot.
    public func commitBlocking(_ batch: PreparedBatch) -> Result<[IngestOutcome], AggregatorError>? {
        guard let synchronous = store as? any SynchronousCommit else { return nil }
        guard !batch.items.isEmpty else { return .success(finish(batch, outcomes: [])) }
        do throws(AggregatorError) {
            return .success(finish(batch, outcomes: try synchronous.commitBlocking(batch.items)))
        } catch {
            return .failure(storageFailed(error, batch: batch))
        }
    }

    /// One message as a batch of one (tests and tools; MQTT ingest commits whole bursts).
    public func process(topic: String, payload: [UInt8], receivedAtMs: Int64) async -> IngestOutcome {
        switch await commit(prepare([(topic, payload)], receivedAtMs: receivedAtMs)) {
        case .success(let outcomes): outcomes[0]
        case .failure(let error): .storageFailed(error)
        }
    }

    private func item(_ parsed: Parsed, payload: [UInt8], receivedAtMs: Int64) -> IngestItem {
        switch parsed {
        case .event(let event):
            .event(
                EventBooking(
                    event: event, day: calendar.localDate(of: event.ts), receivedAtMs: receivedAtMs,
                    payload: String(decoding: payload, as: UTF8.self)))
        case .status(let status): .status(status, receivedAtMs: receivedAtMs)
        case .birth(let birth): .birth(birth, receivedAtMs: receivedAtMs)
        case .state(let state): .state(state, receivedAtMs: receivedAtMs)
        case .health(let health): .health(health, receivedAtMs: receivedAtMs)
        case .load(let load, let station):
            .load(
                StationLoad(
                    id: load.id, station: station, stream: load.stream, massKg: load.massKg, vehicle: load.vehicle,
                    round: load.round,
                    atMs: load.ts.millisecondsSinceEpoch, day: calendar.localDate(of: load.ts),
                    bookedBy: "mqtt:\(load.device)",
                    receivedAtMs: receivedAtMs),
                device: load.device)
        }
    }

    /// What each message came to, once its batch is committed.
    private func finish(_ batch: PreparedBatch, outcomes: [IngestItemOutcome]) -> [IngestOutcome] {
        batch.entries.map { entry in
            switch entry {
            case .settled(let outcome):
                return outcome
            case .accounted(_, let reason, let device):
                sequenceChanged(device)
                return .rejected(reason)
            case .item(let index, let parsed, _, let judged):
                let outcome = index < outcomes.count ? outcomes[index] : .applied(false)
                switch (parsed, outcome) {
                case (.event(let event), .event(let booking)):
                    return booked(event, day: calendar.localDate(of: event.ts), outcome: booking)
                case (.status(let status), _):
                    observe(.status(device: status.device))
                    return accepted(.status)
                case (.birth, _):
                    return accepted(.birth)
                case (.state(let state), .applied(let applied)):
                    if applied {
                        if !judged { observe(.binState(state)) }
                        if let station = registry.station(ofDevice: state.device) {
                            observe(
                                .stationActivity(
                                    station: station, day: calendar.localDate(of: state.ts),
                                    atMs: state.ts.millisecondsSinceEpoch,
                                    fromStation: true))
                        }
                    }
                    return accepted(.state)
                case (.load(let load, let station), .applied(let applied)):
                    if applied {
                        observe(
                            .stationActivity(
                                station: station, day: calendar.localDate(of: load.ts),
                                atMs: load.ts.millisecondsSinceEpoch, fromStation: true))
                    }
                    return accepted(.load)
                case (.health, _):
                    return accepted(.health)
                case (.event, .applied), (.state, .event), (.load, .event):
                    return .storageFailed(AggregatorError(.storage, "the store answered a message of another kind"))
                }
            }
        }
    }

    /// Hands a state to the alert engine unless a newer one of its bin was judged already.
    private func judgeOnReceipt(_ state: StatePayload) {
        let atMs = state.ts.millisecondsSinceEpoch
        let judgement = deviceBins.withLock { $0.judge(device: state.device, bin: state.bin, atMs: atMs) }
        if judgement == .newest { observe(.binState(state)) }
    }

    /// Whether `bin` is one of the device's admitted bins (``DeviceBins``); a bin refused is logged, at most
    /// once a minute.
    private func admit(device: String, bin: String) -> Bool {
        guard !deviceBins.withLock({ $0.admit(device: device, bin: bin) }) else { return true }
        if let unlogged = binLimitLog.withLock({ $0.admit(true, nowMs: Self.nowMs()) }) {
            logger.warning(
                "ingest.bin_limit",
                metadata: [
                    "device": "\(device)", "bin.id": "\(bin.prefix(64))", "ingest.bins_max": "\(WireLimits.maxBins)",
                    "ingest.refusals_unlogged": "\(unlogged)",
                ])
        }
        return false
    }

    private func booked(_ event: EventPayload, day: LocalDate, outcome: BookingOutcome) -> IngestOutcome {
        switch outcome {
        case .duplicate:
            metrics.duplicate()
            sequenceChanged(event.device)
            return .duplicate
        case .tooFarAhead(let highest):
            let reason = reject(
                .outOfRange, topic: Topics.events(event.device),
                detail: "seq \(event.seq) is more than \(WireLimits.maxSeqJump) beyond the highest booked, \(highest)")
            return .rejected(reason)
        case .booked(let gap, _):
            sequenceChanged(event.device)
            observeStationActivity(event, day: day)
            if let gap {
                metrics.sequenceGap()
                if let unlogged = gapLog.withLock({ $0.admit(true, nowMs: Self.nowMs()) }) {
                    logger.warning(
                        "ingest.sequence_gap",
                        metadata: [
                            "device": "\(event.device)", "seq.first": "\(gap.lowerBound)",
                            "seq.last": "\(gap.upperBound)", "ingest.gaps_unlogged": "\(unlogged)",
                        ])
                }
            }
            switch event.body {
            case .deposit(let deposit):
                // Booked whatever its bin; the alert engine keeps state per bin, so it sees admitted ones only.
                if admit(device: event.device, bin: deposit.bin) {
                    observe(
                        .deposit(
                            device: event.device, bin: deposit.bin, day: day, at: event.ts,
                            contaminated: deposit.contaminated))
                }
                return accepted(.deposit)
            case .collection:
                return accepted(.collection)
            case .fault(let fault):
                if fault.bin.map({ admit(device: event.device, bin: $0) }) ?? true {
                    observe(.fault(device: event.device, bin: fault.bin, at: event.ts))
                }
                return accepted(.fault)
            }
        }
    }

    /// A collection at a point that delivers to a station, or any event of a station's own device, changes
    /// that station's balance.
    private func observeStationActivity(_ event: EventPayload, day: LocalDate) {
        let atMs = event.ts.millisecondsSinceEpoch
        if let station = registry.station(ofDevice: event.device) {
            observe(.stationActivity(station: station, day: day, atMs: atMs, fromStation: true))
        } else if case .collection = event.body, let station = registry.point(device: event.device)?.deliversTo {
            observe(.stationActivity(station: station, day: day, atMs: atMs, fromStation: false))
        }
    }

    private func storageFailed(_ error: AggregatorError, batch: PreparedBatch) -> AggregatorError {
        metrics.storageFailure()
        let topic: String? = batch.entries.lazy.compactMap { entry -> String? in
            if case .item(_, _, let topic, _) = entry { topic } else { nil }
        }.first
        logger.error(
            "ingest.storage_failed",
            metadata: [
                "ingest.batch": "\(batch.count)", "mqtt.topic": "\(topic?.prefix(128) ?? "-")",
                "ingest.error": "\(error.message)",
            ])
        return error
    }

    private func accepted(_ type: IngestMetrics.MessageType) -> IngestOutcome {
        metrics.accepted(type)
        return .accepted(type)
    }

    private func reject(_ reason: RejectReason, topic: String, detail: String) -> RejectReason {
        metrics.rejected(reason)
        guard let unlogged = rejectionLog.withLock({ $0.admit(reason, nowMs: Self.nowMs()) }) else { return reason }
        logger.notice(
            "ingest.rejected",
            metadata: [
                "mqtt.topic": "\(topic.prefix(128))", "ingest.reason": "\(reason.rawValue)",
                "ingest.detail": "\(detail.prefix(200))", "ingest.rejections_unlogged": "\(unlogged)",
            ])
        return reason
    }

    private static func nowMs() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
}
