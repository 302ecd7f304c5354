import BinProtocol
import Testing

@testable import Aggregator

/// The booking rules of a batch, without a database: both stores write what this plan decides.
@Suite("Batch booking plan (no I/O)")
struct BatchBookingPlanTests {
    static func booking(_ device: String, _ seq: Int64, kg: Double = 1, bin: String = "wet", received: Int64 = 0)
        -> EventBooking
    {
        Fixtures.booking(
            Fixtures.deposit(device, seq: seq, at: Fixtures.time(seq), bin: bin, kg: kg), receivedAtMs: received)
    }

    @Test("repeats inside the batch and of stored events are duplicates; a seq too far ahead changes nothing")
    func duplicatesAndRefusals() {
        var plan = BatchBookingPlan(
            highest: ["pt-1": 10], gaps: [:], stored: [BatchBookingPlan.EventKey(device: "pt-1", seq: 10)])
        #expect(plan.book(Self.booking("pt-1", 10)) == .duplicate)
        #expect(plan.book(Self.booking("pt-1", 11)) == .booked(gap: nil, filledGap: false))
        #expect(plan.book(Self.booking("pt-1", 11)) == .duplicate)
        #expect(plan.book(Self.booking("pt-1", 11 + WireLimits.maxSeqJump + 1)) == .tooFarAhead(highest: 11))
        #expect(plan.booked.map(\.event.seq) == [11])
        #expect(plan.devices["pt-1"]?.highest == 11)
    }

    @Test("a gap opened in the batch is narrowed and closed later in it; the stored rows change only where they differ")
    func gapsInsideTheBatch() {
        var plan = BatchBookingPlan(
            highest: ["pt-1": 3, "pt-2": 20],
            gaps: ["pt-2": [5: BatchBookingPlan.Gap(last: 9, detectedMs: 7)]], stored: [])
        #expect(plan.book(Self.booking("pt-1", 8, received: 100)) == .booked(gap: 4...7, filledGap: false))
        #expect(plan.book(Self.booking("pt-1", 5)) == .booked(gap: nil, filledGap: true))
        #expect(plan.book(Self.booking("pt-2", 5)) == .booked(gap: nil, filledGap: true))
        #expect(plan.book(Self.booking("pt-2", 21)) == .booked(gap: nil, filledGap: false))
        // pt-1: 4...7 opened, then split around 5 (both parts keep the time the gap was seen).
        let inserted = plan.gapsToInsert.map { "\($0.device) \($0.first)...\($0.gap.last) @\($0.gap.detectedMs)" }
            .sorted()
        #expect(inserted == ["pt-1 4...4 @100", "pt-1 6...7 @100", "pt-2 6...9 @7"])
        #expect(plan.gapsToDelete.map { "\($0.device) \($0.first)" } == ["pt-2 5"])
    }

    @Test(
        "ledger increments are summed per row and per district day; each device is written once with its last-seen time"
    )
    func sums() {
        var plan = BatchBookingPlan(highest: [:], gaps: [:], stored: [])
        _ = plan.book(Self.booking("pt-1", 1, kg: 0.5, received: 30))
        _ = plan.book(Self.booking("pt-1", 2, kg: 0.25, received: 10))
        _ = plan.book(Self.booking("pt-2", 1, kg: 2, received: 20))
        _ = plan.book(Self.booking("pt-1", 3, kg: 1, bin: "dry", received: 5))
        #expect(plan.ledger.count == 3)
        #expect(plan.ledger.values.map(\.deposits).reduce(0, +) == 4)
        let wet = plan.ledger.first { $0.key.device == "pt-1" && $0.key.bin == "wet" }?.value
        #expect(wet?.depositedKg == 0.75 && wet?.deposits == 2)
        #expect(
            plan.days.count == 1,
            "all four on one day and stream (the fixture's dry bin is booked to its declared stream)")
        #expect(plan.days.values.first?.depositedKg == 3.75)
        #expect(plan.devices["pt-1"] == BatchBookingPlan.DeviceChange(highest: 3, lastSeenMs: 30))
        #expect(plan.devices["pt-2"] == BatchBookingPlan.DeviceChange(highest: 1, lastSeenMs: 20))
    }
}
