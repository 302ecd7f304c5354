import BinProtocol
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import MQTT

/// Writes events into the durable outbox as the wire contract's `events` payloads, each with the seq the
/// outbox allocates in the same transaction, so `(device, seq)` names an event forever.
public struct EventRecorder: Sendable {
    public let device: String
    public let outbox: Outbox

    public init(device: String, outbox: Outbox) {
        self.device = device
        self.outbox = outbox
    }

    var topic: String { Topics.events(device) }

    @discardableResult
    public func record(_ event: TimedEvent) throws(BinDaemonError) -> Int64 {
        do {
            return try outbox.append(topic: topic, qos: .atLeastOnce) { seq in
                try WireCodec.encode(EventPayload(device: device, ts: event.at, seq: seq, body: event.body))
            }
        } catch {
            throw BinDaemonError(.fileUnwritable, "\(error)", cause: error)
        }
    }

    /// One active `outbox.dropped` fault event per drop report, recorded in the transaction that takes the
    /// report, naming the seq range lost.
    public func recordDropReports(at time: WireTimestamp) throws(BinDaemonError) -> [OutboxDropReport] {
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
            throw BinDaemonError(.fileUnwritable, "\(error)", cause: error)
        }
    }

    /// Sets `historical: true` in an event payload sent late (the outbox publisher's transform), without
    /// decoding it: see `EventPayload.markingHistorical`.
    public static func markHistorical(_ payload: [UInt8]) -> [UInt8] {
        EventPayload.markingHistorical(payload)
    }
}
