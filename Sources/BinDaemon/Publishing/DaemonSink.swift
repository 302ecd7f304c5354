import BinProtocol
import Logging
import MQTT

/// The sampling loop's outputs wired to the outbox (events) and the live publisher (state, health).
struct DaemonSink: SamplingSink {
    let recorder: EventRecorder
    let live: LivePublisher
    let logger: Logger

    func record(_ event: TimedEvent) throws(BinDaemonError) -> Int64 {
        let seq = try recorder.record(event)
        logger.info("event.recorded", metadata: Self.metadata(event, seq: seq))
        return seq
    }

    /// Room the outbox must have before drop reports are turned into events. While it is full (the link
    /// is down), a report event would itself push out the next-oldest event, whose report would push out
    /// another: so reports wait in the outbox's drop table, where contiguous drops merge into one seq
    /// range, and go out as one fault event once the publisher has made room.
    static let reportRoom = 64

    func recordDropReports(at time: WireTimestamp) -> [OutboxDropReport] {
        let outbox = recorder.outbox
        guard outbox.capacity - outbox.depth >= min(Self.reportRoom, outbox.capacity / 2) else { return [] }
        do {
            return try recorder.recordDropReports(at: time)
        } catch {
            logger.error("outbox.report_failed", metadata: ["outbox.error": "\(error)"])
            return []
        }
    }

    func recordDropCleared(at time: WireTimestamp) {
        let fault = Fault(bin: nil, sensor: .outbox, code: FaultCode.outboxDropped.rawValue, active: false, detail: "no drops for 10 minutes")
        do {
            _ = try record(TimedEvent(body: .fault(fault), at: time))
        } catch {
            logger.error("outbox.append_failed", metadata: ["outbox.error": "\(error)"])
        }
    }

    func publishState(_ state: StatePayload) { live.publishState(state) }

    func healthDue(at time: WireTimestamp, activeFaults: [String]) { live.publishHealth(at: time, activeFaults: activeFaults) }

    static func metadata(_ event: TimedEvent, seq: Int64) -> Logger.Metadata {
        var metadata: Logger.Metadata = ["event.seq": "\(seq)", "event.type": "\(event.body.type.rawValue)", "event.ts": "\(event.at)"]
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
