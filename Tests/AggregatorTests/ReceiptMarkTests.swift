import Aggregator
import BinProtocol
import Foundation
import Testing

/// End-to-end receipts as the stores compute them: how far a device's events are booked or accounted
/// for, on SQLite and PostgreSQL alike (docs/mqtt.md, "End-to-end receipts").
@Suite("Receipt marks")
struct ReceiptMarkTests {
    static func book(_ store: any AggregatorStore, _ device: String, _ seq: Int64) async throws -> BookingOutcome {
        try await store.book(Fixtures.booking(Fixtures.deposit(device, seq: seq, at: Fixtures.time(seq % 1000), kg: 1)))
    }

    @Test("the mark stops below the first missing seq and moves on when the gap fills", arguments: StoreKind.allCases)
    func gapsHoldTheMark(kind: StoreKind) async throws {
        try await Fixtures.withStore(kind) { store in
            #expect(try await store.receiptMarks(devices: ["pt-1"]).isEmpty, "nothing seen, no receipt")
            for seq: Int64 in [1, 2, 3] { _ = try await Self.book(store, "pt-1", seq) }
            #expect(try await store.receiptMarks(devices: ["pt-1"]) == ["pt-1": ReceiptMark(through: 3, highest: 3)])
            _ = try await Self.book(store, "pt-1", 6)
            #expect(try await store.receiptMarks(devices: ["pt-1"])["pt-1"] == ReceiptMark(through: 3, highest: 6))
            _ = try await Self.book(store, "pt-1", 5)
            #expect(try await store.receiptMarks(devices: ["pt-1"])["pt-1"] == ReceiptMark(through: 3, highest: 6))
            _ = try await Self.book(store, "pt-1", 4)
            #expect(
                try await store.receiptMarks(devices: ["pt-1", "pt-2"]) == ["pt-1": ReceiptMark(through: 6, highest: 6)]
            )
        }
    }

    @Test("seqs the device reports dropped, and refused events, count as handled", arguments: StoreKind.allCases)
    func accountedSeqs(kind: StoreKind) async throws {
        try await Fixtures.withStore(kind) { store in
            for seq: Int64 in [1, 2] { _ = try await Self.book(store, "pt-1", seq) }
            // The outbox dropped 3...40 while the link was down, and said so in event 41.
            let report = EventPayload(
                device: "pt-1", ts: Fixtures.time(41), seq: 41,
                body: .fault(
                    Fault(
                        bin: nil, sensor: .outbox, code: "outbox.dropped", active: true, detail: "dropped",
                        droppedSeqs: 3...40)))
            #expect(try await store.book(Fixtures.booking(report)) == .booked(gap: 3...40, filledGap: false))
            #expect(try await store.receiptMarks(devices: ["pt-1"])["pt-1"] == ReceiptMark(through: 41, highest: 41))
            // 42 arrives and is refused; 43 is booked: the mark passes the refused one.
            try await store.account(
                device: "pt-1", seqs: 42...42, reason: .rejected, receivedAtMs: Fixtures.time(42).millisecondsSinceEpoch
            )
            #expect(try await store.receiptMarks(devices: ["pt-1"])["pt-1"] == ReceiptMark(through: 42, highest: 42))
            _ = try await Self.book(store, "pt-1", 44)
            #expect(try await store.receiptMarks(devices: ["pt-1"])["pt-1"] == ReceiptMark(through: 42, highest: 44))
            // Accounting twice is harmless.
            try await store.account(device: "pt-1", seqs: 43...43, reason: .rejected, receivedAtMs: 0)
            try await store.account(device: "pt-1", seqs: 43...43, reason: .rejected, receivedAtMs: 0)
            #expect(try await store.receiptMarks(devices: ["pt-1"])["pt-1"] == ReceiptMark(through: 44, highest: 44))
        }
    }

    @Test(
        "a seq far beyond the highest booked is refused and does not move the high mark", arguments: StoreKind.allCases)
    func seqWindow(kind: StoreKind) async throws {
        try await Fixtures.withStore(kind) { store in
            _ = try await Self.book(store, "pt-1", 100)
            #expect(try await Self.book(store, "pt-1", 100 + WireLimits.maxSeqJump + 1) == .tooFarAhead(highest: 100))
            #expect(try await Self.book(store, "pt-1", WireLimits.maxSeq) == .tooFarAhead(highest: 100))
            #expect(try await store.devices().first?.highestSeq == 100)
            #expect(try await store.bookedEventCount() == 1)
            // Gap detection still works for that device.
            #expect(try await Self.book(store, "pt-1", 103) == .booked(gap: 101...102, filledGap: false))
            #expect(
                try await Self.book(store, "pt-1", 100 + WireLimits.maxSeqJump)
                    == .booked(gap: 104...(99 + WireLimits.maxSeqJump), filledGap: false))
        }
    }
}
