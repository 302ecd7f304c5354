import BinProtocol
import Logging
import MQTT

/// The sampling loop's outputs, in one place: events go into the durable outbox as the wire contract's
/// `events` payloads, each with the seq the outbox allocates in the same transaction (so `(device, seq)`
/// names an event forever), and are logged; state and health go to the live publisher.
public struct EventRecorder: SamplingSink {
    public let device: String
    public let outbox: Outbox
    let live: LivePublisher
    let logger: Logger

    init(device: String, outbox: Outbox, live: LivePublisher, logger: Logger) {
        self.device = device
        self.outbox = outbox
        self.live = live
        self.logger = logger
    }

    var topic: String { Topics.events(device) }

    @discardableResult
    public func record(_ event: TimedEvent) throws(BinDaemonError) -> Int64 {
        let seq: Int64
        do {
            seq = try outbox.append(topic: topic, qos: .atLeastOnce) { seq in
                try WireCodec.encode(EventPayload(device: device, ts: event.at, seq: seq, body: event.body))
            }
        } catch {
            throw BinDaemonError(.fileUnwritable, "\(error)", cause: error)
        }
        logger.info("event.recorded", metadata: Self.metadata(event, seq: seq))
        return seq
    }

    /// Room the outbox must have before drop reports are turned into events. While it is full (the link
    /// is down), a report event would itself push out the next-oldest event, whose report would push out
    /// another: so reports wait in the outbox's drop table, where contiguous drops merge into one seq
    /// range, and go out as one fault event once the publisher has made room.
    static let reportRoom = 64

    /// One active `outbox.dropped` fault event per drop report, recorded in the transaction that takes the
    /// report, naming the seq range lost; nothing while the outbox has no room for them.
    public func recordDropReports(at time: WireTimestamp) -> [OutboxDropReport] {
        guard outbox.capacity - outbox.depth >= min(Self.reportRoom, outbox.capacity / 2) else { return [] }
        do {
            return try outbox.recordDropReports(topic: topic, qos: .atLeastOnce) { seq, report in
                let detail =
                    report.reason == .capacity
                    ? "outbox full: dropped \(report.count) oldest event(s), seq \(report.firstSeq)-\(report.lastSeq)"
                    : "broker refused \(report.count) event(s), seq \(report.firstSeq)-\(report.lastSeq)"
                let fault = Fault(
                    bin: nil, sensor: .outbox, code: FaultCode.outboxDropped.rawValue, active: true, detail: detail,
                    droppedSeqs: report.firstSeq...report.lastSeq)
                return try WireCodec.encode(EventPayload(device: device, ts: time, seq: seq, body: .fault(fault)))
            }
        } catch {
            logger.error("outbox.report_failed", metadata: ["outbox.error": "\(error)"])
            return []
        }
    }

    public func recordDropCleared(at time: WireTimestamp) {
        let fault = Fault(
            bin: nil, sensor: .outbox, code: FaultCode.outboxDropped.rawValue, active: false,
            detail: "no drops for 10 minutes")
        do {
            _ = try record(TimedEvent(body: .fault(fault), at: time))
        } catch {
            logger.error("outbox.append_failed", metadata: ["outbox.error": "\(error)"])
        }
    }

    public func publishState(_ state: StatePayload) { live.publishState(state) }

    public func healthDue(at time: WireTimestamp, activeFaults: [String]) {
        live.publishHealth(at: time, activeFaults: activeFaults)
    }

    /// Sets `historical: true` in an event payload sent late (the outbox publisher's transform), without
    /// decoding it: see `EventPayload.markingHistorical`.
    public static func markHistorical(_ payload: [UInt8]) -> [UInt8] {
        EventPayload.markingHistorical(payload)
    }

    static func metadata(_ event: TimedEvent, seq: Int64) -> Logger.Metadata {
        var metadata: Logger.Metadata = [
            "event.seq": "\(seq)", "event.type": "\(event.body.type.rawValue)", "event.ts": "\(event.at)",
        ]
        switch event.body {
        case .deposit(let deposit):
            metadata["bin.id"] = "\(deposit.bin)"
            metadata["deposit.mass_kg"] = "\(deposit.massKg)"
            metadata["deposit.volume_l"] = "\(deposit.volumeL.map { "\($0)" } ?? "null")"
            metadata["deposit.observed"] = "\(deposit.observed.rawValue)"
            metadata["deposit.confidence"] = "\(deposit.confidence)"
        case .collection(let collection):
            metadata["bin.id"] = "\(collection.bin)"
            metadata["collection.mass_kg"] = "\(collection.massKg)"
        case .fault(let fault):
            metadata["bin.id"] = "\(fault.bin ?? "-")"
            metadata["fault.code"] = "\(fault.code)"
            metadata["fault.active"] = "\(fault.active)"
        }
        return metadata
    }
}
