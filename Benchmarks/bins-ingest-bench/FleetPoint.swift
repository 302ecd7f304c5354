import Aggregator
import BinProtocol
import Foundation
import MQTT
import Simulation
import Synchronization

/// One simulated sorting point of the fleet: its own MQTT identity on the devices' TLS listener, its
/// bins' fill, its event sequence, and the send time of everything the aggregator has not yet receipted.
///
/// The receipt (`bins/v1/{device}/receipt`) is how the point learns that the aggregator committed its
/// events, so the time from handing an event to the client to the receipt that covers it is the
/// end-to-end commit latency as a device sees it (plus at most the receipt interval).
final class FleetPoint: MQTTMessageHandler, Sendable {
    struct Bin {
        var id: String
        var stream: WasteStream
        var fill: Double
        /// The fill of the last state sent: a bin crosses the threshold when a state says so.
        var reported: Double
    }

    struct Sent {
        var seq: Int64
        var at: ContinuousClock.Instant
        var burst: Bool
    }

    struct State {
        var random: SplitMix64
        var bins: [Bin]
        var nextSeq: Int64 = 1
        /// Sent and not yet covered by a receipt, in seq order.
        var unreceipted: [Sent] = []
        var unreceiptedStart = 0
        var through: Int64 = 0
        var latencies: [Duration] = []
        var burstLatencies: [Duration] = []
        /// `bin:{device}/{bin}` and when the state that took it across the bin_full threshold was sent.
        var crossings: [(subject: String, at: ContinuousClock.Instant)] = []
        var lastReceiptAt: ContinuousClock.Instant?
        var expected = LedgerFigures.zero
    }

    static let capacityL = 240.0
    /// Where a crew empties a bin in this model, and the bin_full raise threshold the fleet's aggregator uses.
    static let fullFill = 0.8

    let id: String
    let password: String
    let state: Mutex<State>

    init(id: String, password: String, binsPerPoint: Int, seed: UInt64) {
        self.id = id
        self.password = password
        var random = SplitMix64(seed: seed)
        let bins = (0..<binsPerPoint).map { index in
            let stream = WasteStream.allCases[index % WasteStream.allCases.count]
            let id =
                index < WasteStream.allCases.count
                ? stream.rawValue : "\(stream.rawValue)-\(index / WasteStream.allCases.count + 1)"
            let fill = Double.random(in: 0...0.75, using: &random)
            return Bin(id: id, stream: stream, fill: fill, reported: fill)
        }
        state = Mutex(State(random: random, bins: bins))
    }

    var binDescriptors: [BinDescriptor] {
        state.withLock { $0.bins.map { BinDescriptor(id: $0.id, stream: $0.stream, capacityL: Self.capacityL) } }
    }

    /// The retained messages a point publishes when it comes online: status, birth, and every bin's state.
    func onlineMessages(now: WireTimestamp) throws -> [MQTTMessage] {
        var messages = [
            MQTTMessage(
                topic: Topics.status(id),
                payload: try WireCodec.encode(StatusPayload(device: id, ts: now, online: true, session: 1)),
                retain: true),
            MQTTMessage(
                topic: Topics.birth(id),
                payload: try WireCodec.encode(
                    BirthPayload(
                        device: id, ts: now, session: 1, version: "fleet", configHash: "fleet", board: "fleet",
                        bins: binDescriptors)),
                retain: true),
        ]
        for bin in state.withLock({ $0.bins }) {
            messages.append(try stateMessage(bin, ts: now))
        }
        return messages
    }

    func stateMessage(_ bin: Bin, ts: WireTimestamp) throws -> MQTTMessage {
        let payload = StatePayload(
            device: id, ts: ts, bin: bin.id, stream: bin.stream, fill: bin.fill, massKg: nil, lidOpen: false,
            quality: .good,
            temperatureC: nil)
        return MQTTMessage(topic: Topics.state(id, bin: bin.id), payload: try WireCodec.encode(payload), retain: true)
    }

    /// The next thing that happens at the point: a deposit into a random bin (an event and the bin's new
    /// state), or, when that bin has reached `fullFill`, its collection. Masses and volumes are
    /// multiples of 1/8, so the ledger's sums are exact.
    func nextStep(ts: WireTimestamp, now: ContinuousClock.Instant, burst: Bool) throws -> (
        event: MQTTMessage, state: MQTTMessage?
    ) {
        try state.withLock { state in
            let index = Int.random(in: 0..<state.bins.count, using: &state.random)
            var bin = state.bins[index]
            let body: EventBody
            if bin.fill >= Self.fullFill {
                body = .collection(
                    Collection(
                        bin: bin.id, stream: bin.stream, massKg: (bin.fill * 60 * 8).rounded() / 8, fillBefore: bin.fill
                    ))
                bin.fill = 0.05
            } else {
                let mass = Double(Int.random(in: 2...24, using: &state.random)) / 8
                let density = bin.stream == .wet ? 0.5 : 0.125
                let volume = mass / density
                body = .deposit(
                    Deposit(
                        bin: bin.id, stream: bin.stream, massKg: mass, volumeL: volume, densityKgL: density,
                        observed: bin.stream == .wet ? .wet : bin.stream == .dry ? .dry : .unknown, confidence: 0.9,
                        contaminated: false, quality: .good))
                bin.fill = min(1, bin.fill + volume / Self.capacityL)
            }
            // A backlog replays events only: the bins' current state is sent once the point is live.
            if !burst {
                if bin.reported < Self.fullFill && bin.fill >= Self.fullFill {
                    state.crossings.append((subject: "bin:\(id)/\(bin.id)", at: now))
                }
                bin.reported = bin.fill
            }
            state.bins[index] = bin
            let seq = state.nextSeq
            state.nextSeq += 1
            state.expected += LedgerFigures(event: body) ?? .zero
            state.unreceipted.append(Sent(seq: seq, at: now, burst: burst))
            let event = MQTTMessage(
                topic: Topics.events(id),
                payload: try WireCodec.encode(EventPayload(device: id, ts: ts, seq: seq, body: body)))
            return (event, burst ? nil : try stateMessage(bin, ts: ts))
        }
    }

    var lastSeq: Int64 { state.withLock { $0.nextSeq - 1 } }
    var through: Int64 { state.withLock { $0.through } }

    /// A receipt: every event up to `through` is committed; its latency is taken now.
    func handle(_ message: MQTTMessage) {
        guard let receipt = try? WireCodec.decode(ReceiptPayload.self, from: message.payload) else { return }
        let now = ContinuousClock.now
        state.withLock { state in
            guard receipt.through > state.through else { return }
            state.through = receipt.through
            state.lastReceiptAt = now
            while state.unreceiptedStart < state.unreceipted.count,
                state.unreceipted[state.unreceiptedStart].seq <= receipt.through
            {
                let sent = state.unreceipted[state.unreceiptedStart]
                if sent.burst {
                    state.burstLatencies.append(sent.at.duration(to: now))
                } else {
                    state.latencies.append(sent.at.duration(to: now))
                }
                state.unreceiptedStart += 1
            }
            if state.unreceiptedStart > 1024 {
                state.unreceipted.removeFirst(state.unreceiptedStart)
                state.unreceiptedStart = 0
            }
        }
    }
}

/// Receives the aggregator's alerts (`sanitation/v1/alerts`) and notes when each bin_full raise arrived,
/// and where its time went: `raised_at` is the crossing state's `ts` (the generator's wall clock when it
/// sent it) and `ts` is when the aggregator's engine decided, so the two halves are "ingest and the
/// engine" and "delivery".
final class AlertMonitor: MQTTMessageHandler, Sendable {
    let raised = Mutex<[String: [ContinuousClock.Instant]]>([:])
    let stages = Mutex<(decided: [Duration], delivered: [Duration])>(([], []))

    func handle(_ message: MQTTMessage) {
        guard let alert = try? WireCodec.decode(AlertPayload.self, from: message.payload),
            alert.kind == .binFull, alert.state == .raised
        else { return }
        let now = ContinuousClock.now
        let wallMs = WireTimestamp.now().millisecondsSinceEpoch
        raised.withLock { $0[alert.subject, default: []].append(now) }
        stages.withLock {
            $0.decided.append(.milliseconds(alert.ts.millisecondsSinceEpoch - alert.raisedAt.millisecondsSinceEpoch))
            $0.delivered.append(.milliseconds(wallMs - alert.ts.millisecondsSinceEpoch))
        }
    }
}
