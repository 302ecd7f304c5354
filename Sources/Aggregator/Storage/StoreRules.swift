import BinProtocol
import Foundation

/// Decisions both stores make the same way, kept apart from their SQL so there is one definition.
enum StoreRules {
    /// How one event's sequence number changes what is known about a device's sequence.
    struct SequenceStep: Equatable {
        var highest: Int64
        /// Newly revealed missing range (the event jumped ahead).
        var newGap: ClosedRange<Int64>?
        /// A known gap this event falls into, to be replaced by `remainingGaps`.
        var filledGap: ClosedRange<Int64>?
        var remainingGaps: [ClosedRange<Int64>]
    }

    /// `containingGap` is the known gap that contains `seq`, if any. The first event seen from a device
    /// reveals no gap: the aggregator may simply have started after the device.
    static func sequenceStep(seq: Int64, highest: Int64?, containingGap: ClosedRange<Int64>?) -> SequenceStep {
        guard let highest else { return SequenceStep(highest: seq, newGap: nil, filledGap: nil, remainingGaps: []) }
        if seq > highest {
            let gap = seq > highest + 1 ? (highest + 1)...(seq - 1) : nil
            return SequenceStep(highest: seq, newGap: gap, filledGap: nil, remainingGaps: [])
        }
        guard let containingGap else {
            return SequenceStep(highest: highest, newGap: nil, filledGap: nil, remainingGaps: [])
        }
        var remaining: [ClosedRange<Int64>] = []
        if containingGap.lowerBound < seq { remaining.append(containingGap.lowerBound...(seq - 1)) }
        if seq < containingGap.upperBound { remaining.append((seq + 1)...containingGap.upperBound) }
        return SequenceStep(highest: highest, newGap: nil, filledGap: containingGap, remainingGaps: remaining)
    }

    /// The receipt of one device (``ReceiptPayload``): `through` is the highest seq such that every seq from
    /// the first one booked up to it is booked or accounted for (reported dropped by the device, or refused
    /// as invalid); `highest` is the highest seq seen. `gaps` are the device's known missing ranges (all
    /// below `highest`); `accounted` the ranges that will never be booked. `nil` before anything was seen.
    ///
    /// The first event seen from a device starts its sequence (the aggregator may have started after the
    /// device), so seqs below it are neither booked nor waited for.
    static func receiptMark(highest: Int64?, gaps: [ClosedRange<Int64>], accounted: [ClosedRange<Int64>])
        -> ReceiptMark?
    {
        let accounted = accounted.sorted { $0.lowerBound < $1.lowerBound }
        guard highest != nil || !accounted.isEmpty else { return nil }
        let booked = highest ?? (accounted[0].lowerBound - 1)
        let top = max(booked, accounted.map(\.upperBound).max() ?? booked)
        // The lowest seq of a gap that no accounted range covers.
        var firstMissing: Int64?
        for gap in gaps.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            var next = gap.lowerBound
            for range in accounted where range.upperBound >= next && range.lowerBound <= next {
                next = range.upperBound + 1
            }
            if next <= gap.upperBound {
                firstMissing = next
                break
            }
        }
        if let firstMissing { return ReceiptMark(through: firstMissing - 1, highest: top) }
        // No hole up to the highest booked: accounted ranges directly above it extend the mark.
        var through = booked
        for range in accounted where range.lowerBound <= through + 1 {
            through = max(through, range.upperBound)
        }
        return ReceiptMark(through: max(through, 0), highest: top)
    }

    /// Whether a status message replaces the stored one, and the status time to keep. A newer session
    /// always wins and an older one never does. Within one session an `online: false` (the will, or a
    /// clean stop) always applies, whatever its `ts` (a will is composed when the session connects), and
    /// the kept time does not go back; an `online: true` applies only when strictly newer than the kept
    /// time, so a redelivered copy of the pre-will status does not bring a dead device back.
    static func statusUpdate(_ status: StatusPayload, storedSession: Int64?, storedTsMs: Int64?) -> Int64? {
        let ts = status.ts.millisecondsSinceEpoch
        guard let storedSession, let storedTsMs else { return ts }
        if status.session != storedSession { return status.session > storedSession ? ts : nil }
        if !status.online { return max(ts, storedTsMs) }
        return ts > storedTsMs ? ts : nil
    }

    /// A load whose key is booked already (`stored`, nil when the row could not be read back): the same
    /// load sent again is a duplicate, another load under the key a conflict.
    static func repeatedLoad(_ load: StationLoad, stored: StationLoad?) -> LoadBookingOutcome {
        guard let stored, !stored.isSameLoad(as: load) else { return .duplicate }
        return .conflict(stored)
    }

    static func encodeBins(_ bins: [BinDescriptor]) -> String {
        (try? WireCodec.encodeString(bins)) ?? "[]"
    }

    static func decodeBins(_ text: String?) -> [BinDescriptor] {
        guard let text, let bins = try? JSONDecoder().decode([BinDescriptor].self, from: Data(text.utf8)) else {
            return []
        }
        return bins
    }

    static func encodeState(_ state: StatePayload) -> String {
        (try? WireCodec.encodeString(state)) ?? "{}"
    }

    static func decodeState(_ text: String) -> StatePayload? {
        try? WireCodec.decode(StatePayload.self, from: Array(text.utf8))
    }

    static func decodeEvent(_ text: String) -> EventPayload? {
        try? WireCodec.decode(EventPayload.self, from: Array(text.utf8))
    }

    /// Figures written to a ledger row for one event: the bin and stream it books under.
    static func ledgerChange(_ event: EventPayload) -> (bin: String, stream: WasteStream, figures: LedgerFigures)? {
        switch event.body {
        case .deposit(let deposit): return (deposit.bin, deposit.stream, LedgerFigures(event: event.body)!)
        case .collection(let collection): return (collection.bin, collection.stream, LedgerFigures(event: event.body)!)
        case .fault: return nil
        }
    }

    /// Whether daily totals over `requested` devices are better read from the district's per-day totals
    /// (`ledger_days`) less the few devices with ledger rows that were not asked for, than summed over
    /// every requested bin's rows. Returns those devices to subtract, or `nil` to sum the rows: a street
    /// is summed, the district (everything the registry lists, perhaps less a point that was removed) is
    /// read from the per-day totals. A year for 2,000 bins is 2,900 per-day rows instead of 730,000.
    static func devicesToSubtract(requested: [String], booked: [String]) -> [String]? {
        let wanted = Set(requested)
        let outside = booked.filter { !wanted.contains($0) }
        return outside.count * 4 <= wanted.count ? outside : nil
    }

    /// The district's per-day totals less the same days' totals of `subtracted` devices. A day and stream
    /// left with neither deposits nor collections had rows only from those devices, and goes (every
    /// ledger row counts at least one of them).
    static func subtracting(_ subtracted: [LedgerDayTotal], from totals: [LedgerDayTotal]) -> [LedgerDayTotal] {
        guard !subtracted.isEmpty else { return totals }
        struct Key: Hashable {
            let day: Int64
            let stream: WasteStream
        }
        var less: [Key: LedgerFigures] = [:]
        for total in subtracted {
            less[Key(day: total.day.dayNumber, stream: total.stream), default: .zero] += total.figures
        }
        return totals.compactMap { total in
            guard let minus = less[Key(day: total.day.dayNumber, stream: total.stream)] else { return total }
            let figures = total.figures - minus
            guard figures.deposits > 0 || figures.collections > 0 else { return nil }
            return LedgerDayTotal(day: total.day, stream: total.stream, figures: figures)
        }
    }

    /// Retries with exponential backoff: 1 s, 2 s, 4 s ... capped at `capMs` (10 minutes by default).
    static func backoffMs(attempts: Int, capMs: Int64 = 600_000) -> Int64 {
        let exponent = min(max(attempts - 1, 0), 10)
        return min(1000 << Int64(exponent), capMs)
    }
}
