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

/// Something ingest committed that may raise or clear an alert; handed to the alert engine, which
/// evaluates it off the ingest path.
public enum AlertObservation: Sendable, Equatable {
    case binState(StatePayload)
    case fault(device: String, bin: String?, at: WireTimestamp)
    case deposit(device: String, bin: String, day: LocalDate, at: WireTimestamp)
    case status(device: String)
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
    private let logger: Logger
    /// When each reason was last logged: a flood of bad messages is counted in full but logged once a minute.
    private let lastLogged = Mutex<[RejectReason: Int64]>([:])

    public init(
        registry: Registry, calendar: LedgerCalendar, store: any AggregatorStore, metrics: IngestMetrics, logger: Logger,
        observe: @escaping @Sendable (AlertObservation) -> Void = { _ in }
    ) {
        self.registry = registry
        self.calendar = calendar
        self.store = store
        self.metrics = metrics
        self.logger = logger
        self.observe = observe
    }

    public func process(topic: String, payload: [UInt8], receivedAtMs: Int64) async -> IngestOutcome {
        guard let (device, kind) = Topics.parse(topic) else {
            return reject(.badTopic, topic: topic, detail: "not a device topic")
        }
        guard registry.isKnown(device: device) else {
            return reject(.unknownDevice, topic: topic, detail: "device \(device) is not in the registry")
        }
        do {
            switch kind {
            case .events:
                let event = try WireCodec.decode(EventPayload.self, from: payload, topicDevice: device)
                return try await book(event, payload: payload, receivedAtMs: receivedAtMs)
            case .status:
                let status = try WireCodec.decode(StatusPayload.self, from: payload, topicDevice: device)
                try await store.recordStatus(status, receivedAtMs: receivedAtMs)
                observe(.status(device: device))
                return accepted(.status)
            case .birth:
                let birth = try WireCodec.decode(BirthPayload.self, from: payload, topicDevice: device)
                try await store.recordBirth(birth, receivedAtMs: receivedAtMs)
                return accepted(.birth)
            case .state(let bin):
                let state = try WireCodec.decode(StatePayload.self, from: payload, topicDevice: device)
                guard state.bin == bin else {
                    return reject(.invalidField, topic: topic, detail: "payload bin \(state.bin) differs from topic bin \(bin)")
                }
                if try await store.recordState(state, receivedAtMs: receivedAtMs) {
                    observe(.binState(state))
                }
                return accepted(.state)
            case .health:
                let health = try WireCodec.decode(HealthPayload.self, from: payload, topicDevice: device)
                try await store.recordHealth(health, receivedAtMs: receivedAtMs)
                return accepted(.health)
            case .command, .commandReply:
                return reject(.badTopic, topic: topic, detail: "command topics are not ingested")
            }
        } catch let error as WireError {
            return reject(error.reason, topic: topic, detail: error.message)
        } catch let error as AggregatorError {
            metrics.storageFailure()
            logger.error(
                "ingest.storage_failed", metadata: ["mqtt.topic": "\(topic)", "ingest.error": "\(error.message)"])
            return .storageFailed(error)
        } catch {
            metrics.storageFailure()
            return .storageFailed(AggregatorError(.storage, "unexpected error \(type(of: error))"))
        }
    }

    private func book(_ event: EventPayload, payload: [UInt8], receivedAtMs: Int64) async throws(AggregatorError) -> IngestOutcome {
        let day = calendar.localDate(of: event.ts)
        let booking = EventBooking(event: event, day: day, receivedAtMs: receivedAtMs, payload: String(decoding: payload, as: UTF8.self))
        switch try await store.book(booking) {
        case .duplicate:
            metrics.duplicate()
            return .duplicate
        case .booked(let gap, _):
            if let gap {
                metrics.sequenceGap()
                logger.warning(
                    "ingest.sequence_gap",
                    metadata: ["device": "\(event.device)", "seq.first": "\(gap.lowerBound)", "seq.last": "\(gap.upperBound)"])
            }
            switch event.body {
            case .deposit(let deposit):
                observe(.deposit(device: event.device, bin: deposit.bin, day: day, at: event.ts))
                return accepted(.deposit)
            case .collection:
                return accepted(.collection)
            case .fault(let fault):
                observe(.fault(device: event.device, bin: fault.bin, at: event.ts))
                return accepted(.fault)
            }
        }
    }

    private func accepted(_ type: IngestMetrics.MessageType) -> IngestOutcome {
        metrics.accepted(type)
        return .accepted(type)
    }

    private func reject(_ reason: RejectReason, topic: String, detail: String) -> IngestOutcome {
        metrics.rejected(reason)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let shouldLog = lastLogged.withLock { last in
            guard now - (last[reason] ?? .min / 2) >= 60_000 else { return false }
            last[reason] = now
            return true
        }
        guard shouldLog else { return .rejected(reason) }
        logger.notice(
            "ingest.rejected",
            metadata: ["mqtt.topic": "\(topic.prefix(128))", "ingest.reason": "\(reason.rawValue)", "ingest.detail": "\(detail.prefix(200))"])
        return .rejected(reason)
    }
}
