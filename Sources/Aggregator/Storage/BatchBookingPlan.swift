import BinProtocol

/// The booking of a batch of events worked out in memory, so PostgreSQL can write it with a few
/// multi-row statements instead of a round trip per event.
///
/// It applies, event by event and in order, the same rules as booking one event at a time
/// (``StoreRules/sequenceStep``, ``StoreRules/ledgerChange``): an event already stored or already booked
/// earlier in the batch is a duplicate, a seq too far beyond the device's highest is refused, a gap opened
/// by one event can be filled by a later one. What it produces is the net change: the new events, the
/// ledger increments summed per row, each device's highest seq, and the gap rows to delete and insert.
///
/// The caller reads the stored state (highest seqs, gaps, which of the batch's `(device, seq)` are
/// stored) with the devices' rows locked, so nothing changes between the reading and the writing.
struct BatchBookingPlan {
    struct EventKey: Hashable {
        var device: String
        var seq: Int64
    }

    struct LedgerKey: Hashable {
        var device: String
        var bin: String
        var day: Int64
        var stream: String
    }

    struct DayKey: Hashable {
        var day: Int64
        var stream: String
    }

    struct Gap: Equatable {
        var last: Int64
        var detectedMs: Int64
    }

    struct DeviceChange: Equatable {
        var highest: Int64
        var lastSeenMs: Int64
    }

    private var highest: [String: Int64]
    private var gaps: [String: [Int64: Gap]]
    private let storedGaps: [String: [Int64: Gap]]
    private var seen: Set<EventKey>

    /// New events, in batch order.
    private(set) var booked: [EventBooking] = []
    private(set) var ledger: [LedgerKey: LedgerFigures] = [:]
    private(set) var days: [DayKey: LedgerFigures] = [:]
    private(set) var devices: [String: DeviceChange] = [:]
    /// Seqs that booked fault events report as dropped by the device's outbox.
    private(set) var dropped: [(device: String, seqs: ClosedRange<Int64>, receivedAtMs: Int64)] = []

    /// - Parameters:
    ///   - highest: each device's highest booked seq (absent or nil: nothing booked yet).
    ///   - gaps: each device's open gaps, keyed by first seq.
    ///   - stored: which of the batch's `(device, seq)` are already booked.
    init(highest: [String: Int64], gaps: [String: [Int64: Gap]], stored: Set<EventKey>) {
        self.highest = highest
        self.gaps = gaps
        self.storedGaps = gaps
        self.seen = stored
    }

    mutating func book(_ booking: EventBooking) -> BookingOutcome {
        let event = booking.event
        let highest = highest[event.device]
        if let highest, event.seq - highest > WireLimits.maxSeqJump { return .tooFarAhead(highest: highest) }
        guard seen.insert(EventKey(device: event.device, seq: event.seq)).inserted else { return .duplicate }
        booked.append(booking)

        if let change = StoreRules.ledgerChange(event) {
            ledger[
                LedgerKey(
                    device: event.device, bin: change.bin, day: booking.day.dayNumber, stream: change.stream.rawValue),
                default: .zero] +=
                change.figures
            days[DayKey(day: booking.day.dayNumber, stream: change.stream.rawValue), default: .zero] += change.figures
        }
        if case .fault(let fault) = event.body, let seqs = fault.droppedSeqs {
            dropped.append((event.device, seqs, booking.receivedAtMs))
        }

        var deviceGaps = gaps[event.device] ?? [:]
        var containing: (first: Int64, gap: Gap)? = nil
        if let highest, event.seq < highest {
            containing = deviceGaps.first { $0.key <= event.seq && $0.value.last >= event.seq }.map {
                ($0.key, $0.value)
            }
        }
        let step = StoreRules.sequenceStep(
            seq: event.seq, highest: highest, containingGap: containing.map { $0.first...$0.gap.last })
        self.highest[event.device] = step.highest
        let lastSeen = max(devices[event.device]?.lastSeenMs ?? .min, booking.receivedAtMs)
        devices[event.device] = DeviceChange(highest: step.highest, lastSeenMs: lastSeen)
        if let gap = step.newGap {
            deviceGaps[gap.lowerBound] = Gap(last: gap.upperBound, detectedMs: booking.receivedAtMs)
        }
        if let filled = step.filledGap {
            let detected = containing?.gap.detectedMs ?? booking.receivedAtMs
            deviceGaps.removeValue(forKey: filled.lowerBound)
            for gap in step.remainingGaps {
                deviceGaps[gap.lowerBound] = Gap(last: gap.upperBound, detectedMs: detected)
            }
        }
        gaps[event.device] = deviceGaps
        return .booked(gap: step.newGap, filledGap: step.filledGap != nil)
    }

    /// Gap rows whose stored version differs from the planned one: delete these `(device, first)`...
    var gapsToDelete: [(device: String, first: Int64)] {
        storedGaps.flatMap { device, stored in
            stored.filter { gaps[device]?[$0.key] != $0.value }.map { (device, $0.key) }
        }
    }

    /// ...then insert these.
    var gapsToInsert: [(device: String, first: Int64, gap: Gap)] {
        gaps.flatMap { device, planned in
            planned.filter { storedGaps[device]?[$0.key] != $0.value }.map { (device, $0.key, $0.value) }
        }
    }
}
