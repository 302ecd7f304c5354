import Aggregator
import BinProtocol
import Foundation
import Testing

/// One suite, run against SQLite and against PostgreSQL: what the store promises (exactly-once booking,
/// sequence gaps, ordering rules, one open alert per subject, durable deliveries) must hold on both.
@Suite("Storage")
struct StorageTests {
    @Test("booking sums deposits and collections per bin, day and stream", arguments: StoreKind.allCases)
    func ledgerTotals(kind: StoreKind) async throws {
        try await Fixtures.withStore(kind) { store in
            let events = [
                Fixtures.deposit("pt-1", seq: 1, at: Fixtures.time(0), kg: 1.25, litres: 2),
                Fixtures.deposit("pt-1", seq: 2, at: Fixtures.time(10), kg: 0.5, observed: .unknown),
                Fixtures.deposit(
                    "pt-1", seq: 3, at: Fixtures.time(20), bin: "dry", stream: .dry, kg: 0.75, observed: .wet,
                    contaminated: true),
                Fixtures.collection("pt-1", seq: 4, at: Fixtures.time(30), kg: 1.75, fillBefore: 0.4),
                Fixtures.deposit("pt-2", seq: 1, at: Fixtures.time(0, day: 2), kg: 2),
            ]
            for event in events {
                #expect(try await store.book(Fixtures.booking(event)) == .booked(gap: nil, filledGap: false))
            }
            let rows = try await store.ledger(
                devices: nil, from: Fixtures.date("2026-06-01"), to: Fixtures.date("2026-06-02"))
            #expect(rows.count == 3)
            let wet = try #require(rows.first { $0.device == "pt-1" && $0.stream == .wet })
            #expect(wet.day == Fixtures.date("2026-06-01"))
            #expect(
                wet.figures
                    == LedgerFigures(
                        depositedKg: 1.75, collectedKg: 1.75, deposits: 2, collections: 1, contaminatedKg: 0,
                        unknownKg: 0.5,
                        depositedL: 2))
            let dry = try #require(rows.first { $0.device == "pt-1" && $0.stream == .dry })
            #expect(dry.figures.contaminatedKg == 0.75)
            let second = try await store.ledger(
                devices: ["pt-2"], from: Fixtures.date("2026-06-01"), to: Fixtures.date("2026-06-30"))
            #expect(second.map(\.figures.depositedKg) == [2])
            #expect(second.first?.day == Fixtures.date("2026-06-02"))
            #expect(
                try await store.ledger(devices: [], from: Fixtures.date("2026-06-01"), to: Fixtures.date("2026-06-30"))
                    .isEmpty)
            #expect(try await store.bookedEventCount() == 5)
        }
    }

    @Test(
        "repeats are found whether a device's seqs in the batch lie close together or far apart",
        arguments: StoreKind.allCases)
    func repeatsCloseAndScattered(kind: StoreKind) async throws {
        try await Fixtures.withStore(kind) { store in
            func event(_ seq: Int64) -> IngestItem {
                .event(
                    Fixtures.booking(
                        Fixtures.deposit("pt-1", seq: seq, at: Fixtures.time(seq), kg: 1), receivedAtMs: seq))
            }
            _ = try await store.commit((1...10).map(event))
            let close = try await store.commit([event(9), event(11), event(10)])
            #expect(close == [.event(.duplicate), .event(.booked(gap: nil, filledGap: false)), .event(.duplicate)])
            let scattered = try await store.commit([event(3), event(5000), event(7)])
            #expect(
                scattered == [
                    .event(.duplicate), .event(.booked(gap: 12...4999, filledGap: false)), .event(.duplicate),
                ])
            #expect(try await store.bookedEventCount() == 12)
        }
    }

    @Test(
        "a batch books exactly as one event at a time: repeats, gaps opened and filled, devices over several batches",
        arguments: StoreKind.allCases)
    func batchArithmetic(kind: StoreKind) async throws {
        try await Fixtures.withStore(kind) { store in
            func event(_ device: String, _ seq: Int64, kg: Double) -> IngestItem {
                .event(
                    Fixtures.booking(
                        Fixtures.deposit(device, seq: seq, at: Fixtures.time(seq), kg: kg), receivedAtMs: 1000 + seq))
            }
            let status = StatusPayload(device: "pt-1", ts: Fixtures.time(0), online: true, session: 1)
            let first = try await store.commit([
                event("pt-1", 1, kg: 1), event("pt-1", 4, kg: 0.5), event("pt-2", 1, kg: 2), event("pt-1", 1, kg: 1),
                event("pt-1", 2, kg: 0.25), event("pt-1", 4 + WireLimits.maxSeqJump + 1, kg: 8),
                .status(status, receivedAtMs: 1),
            ])
            #expect(
                first == [
                    .event(.booked(gap: nil, filledGap: false)), .event(.booked(gap: 2...3, filledGap: false)),
                    .event(.booked(gap: nil, filledGap: false)), .event(.duplicate),
                    .event(.booked(gap: nil, filledGap: true)),
                    .event(.tooFarAhead(highest: 4)), .applied(true),
                ])
            #expect(try await store.sequenceGaps(device: "pt-1").map { $0.first...$0.last } == [3...3])
            #expect(
                try await store.sequenceGaps(device: "pt-1").first?.detectedAtMs == 1004,
                "the rest of a gap keeps when it was seen")

            let second = try await store.commit([
                event("pt-1", 3, kg: 0.125), event("pt-1", 2, kg: 0.25), event("pt-2", 3, kg: 1),
                .account(device: "pt-2", seqs: 2...2, reason: .rejected, receivedAtMs: 2),
            ])
            #expect(
                second == [
                    .event(.booked(gap: nil, filledGap: true)), .event(.duplicate),
                    .event(.booked(gap: 2...2, filledGap: false)),
                    .applied(true),
                ])
            #expect(try await store.sequenceGaps(device: "pt-1").isEmpty)
            #expect(try await store.sequenceGaps(device: "pt-2").map { $0.first...$0.last } == [2...2])
            #expect(
                try await store.receiptMarks(devices: ["pt-1", "pt-2"]) == [
                    "pt-1": ReceiptMark(through: 4, highest: 4), "pt-2": ReceiptMark(through: 3, highest: 3),
                ])
            #expect(try await store.bookedEventCount() == 6)
            let rows = try await store.ledger(
                devices: nil, from: Fixtures.date("2026-06-01"), to: Fixtures.date("2026-06-01"))
            let byDevice = Dictionary(grouping: rows, by: \.device).mapValues {
                $0.reduce(LedgerFigures.zero) { $0 + $1.figures }
            }
            #expect(byDevice["pt-1"]?.depositedKg == 1.875 && byDevice["pt-1"]?.deposits == 4)
            #expect(byDevice["pt-2"]?.depositedKg == 3 && byDevice["pt-2"]?.deposits == 2)
            let totals = try await store.dailyTotals(
                devices: nil, from: Fixtures.date("2026-06-01"), to: Fixtures.date("2026-06-01"))
            #expect(totals.map(\.figures.deposits) == [6])
            #expect(totals.map(\.figures.depositedKg) == [4.875])
            #expect(try await store.devices().first { $0.device == "pt-1" }?.online == true)
            // Reading chosen devices: only those asked for and heard from, in id order.
            #expect(try await store.devices().map(\.device) == ["pt-1", "pt-2"])
            #expect(try await store.devices(ids: ["pt-2"]).map(\.device) == ["pt-2"])
            #expect(try await store.devices(ids: ["pt-2", "pt-1", "pt-9"]).map(\.device) == ["pt-1", "pt-2"])
            #expect(try await store.devices(ids: []).isEmpty)
        }
    }

    @Test(
        "states in one batch follow the rule of one at a time: older than the bin's current is not kept, equal or newer is",
        arguments: StoreKind.allCases)
    func batchStates(kind: StoreKind) async throws {
        try await Fixtures.withStore(kind) { store in
            func state(_ device: String, _ bin: String, minute: Int64, fill: Double, receivedAtMs: Int64) -> IngestItem
            {
                .state(
                    StatePayload(
                        device: device, ts: Fixtures.time(minute), bin: bin, stream: .wet, fill: fill, massKg: nil,
                        lidOpen: false,
                        quality: .good, temperatureC: nil), receivedAtMs: receivedAtMs)
            }
            #expect(
                try await store.commit([state("pt-1", "wet", minute: 10, fill: 0.1, receivedAtMs: 5_000)]) == [
                    .applied(true)
                ])
            let outcomes = try await store.commit([
                state("pt-1", "wet", minute: 9, fill: 0.2, receivedAtMs: 6_000),  // older than stored
                // a crossing the alert engine must see
                state("pt-1", "wet", minute: 12, fill: 0.85, receivedAtMs: 6_001),
                state("pt-1", "dry", minute: 1, fill: 0.3, receivedAtMs: 6_002),  // a new bin
                state("pt-1", "wet", minute: 11, fill: 0.4, receivedAtMs: 6_003),  // older than the one kept above
                state("pt-1", "wet", minute: 13, fill: 0.05, receivedAtMs: 6_004),  // the collection
                state("pt-2", "wet", minute: 13, fill: 0.5, receivedAtMs: 4_000),
            ])
            #expect(
                outcomes == [
                    .applied(false), .applied(true), .applied(true), .applied(false), .applied(true), .applied(true),
                ])
            let stored = Dictionary(
                uniqueKeysWithValues: try await store.binStates().map { ("\($0.device)/\($0.state.bin)", $0) })
            #expect(stored["pt-1/wet"]?.state.fill == 0.05 && stored["pt-1/wet"]?.receivedAtMs == 6_004)
            #expect(stored["pt-1/dry"]?.state.fill == 0.3)
            #expect(stored["pt-2/wet"]?.state.fill == 0.5)
            // Each device was heard from when its newest message arrived.
            let seen = Dictionary(uniqueKeysWithValues: try await store.devices().map { ($0.device, $0.lastSeenMs) })
            #expect(seen["pt-1"] == 6_004 && seen["pt-2"] == 4_000)
        }
    }

    @Test(
        "a device's recent events come newest first; daily totals are the ledger summed per day and stream",
        arguments: StoreKind.allCases)
    func consoleQueries(kind: StoreKind) async throws {
        try await Fixtures.withStore(kind) { store in
            for seq in Int64(1)...60 {
                _ = try await store.book(
                    Fixtures.booking(
                        Fixtures.deposit("pt-1", seq: seq, at: Fixtures.time(seq, day: seq <= 30 ? 1 : 2), kg: 0.5)))
            }
            _ = try await store.book(
                Fixtures.booking(
                    Fixtures.deposit("pt-2", seq: 1, at: Fixtures.time(0), bin: "dry", stream: .dry, kg: 2)))
            _ = try await store.book(
                Fixtures.booking(Fixtures.fault("pt-1", seq: 61, at: Fixtures.time(70, day: 2), active: true)))
            let recent = try await store.recentEvents(device: "pt-1", limit: 50)
            #expect(recent.map(\.event.seq) == Array((12...61).reversed()))
            #expect(recent.first?.event.type == .fault && recent.first?.day == Fixtures.date("2026-06-02"))
            #expect(try await store.recentEvents(device: "pt-9", limit: 50).isEmpty)

            let totals = try await store.dailyTotals(
                devices: nil, from: Fixtures.date("2026-06-01"), to: Fixtures.date("2026-06-02"))
            #expect(
                totals.map { "\($0.day) \($0.stream.rawValue)" } == [
                    "2026-06-01 dry", "2026-06-01 wet", "2026-06-02 wet",
                ])
            #expect(totals.map(\.figures.deposits) == [1, 30, 30])
            #expect(totals.map(\.figures.depositedKg) == [2, 15, 15])
            // The same sums as adding up the rows of the bins.
            let rows = try await store.ledger(
                devices: nil, from: Fixtures.date("2026-06-01"), to: Fixtures.date("2026-06-02"))
            #expect(
                totals.reduce(LedgerFigures.zero) { $0 + $1.figures }
                    == rows.reduce(LedgerFigures.zero) { $0 + $1.figures })
            let one = try await store.dailyTotals(
                devices: ["pt-2"], from: Fixtures.date("2026-06-01"), to: Fixtures.date("2026-06-30"))
            #expect(one.map(\.figures.depositedKg) == [2])
            #expect(
                try await store.dailyTotals(
                    devices: [], from: Fixtures.date("2026-06-01"), to: Fixtures.date("2026-06-30")
                ).isEmpty)
        }
    }

    @Test(
        "the district's per-day totals, kept at booking, equal the rows summed; devices not asked for are left out; the migration fills them",
        arguments: StoreKind.allCases)
    func districtDays(kind: StoreKind) async throws {
        try await Fixtures.withStoreAndSQL(kind) { store, execute in
            var seqs: [String: Int64] = [:]
            func book(_ event: (String, Int64) -> EventPayload, _ device: String) async throws {
                let seq = seqs[device, default: 0] + 1
                seqs[device] = seq
                #expect(
                    try await store.book(Fixtures.booking(event(device, seq))) == .booked(gap: nil, filledGap: false))
            }
            let devices = ["pt-1", "pt-2", "pt-3", "pt-4", "pt-5"]
            for (index, device) in devices.dropLast().enumerated() {
                for day in 1...2 {
                    try await book(
                        {
                            Fixtures.deposit(
                                $0, seq: $1, at: Fixtures.time(1, day: day), kg: 0.5 * Double(index + 1), litres: 2)
                        }, device)
                    try await book(
                        {
                            Fixtures.deposit(
                                $0, seq: $1, at: Fixtures.time(2, day: day), bin: "dry", stream: .dry, kg: 0.25,
                                observed: .unknown)
                        },
                        device)
                    try await book(
                        { Fixtures.collection($0, seq: $1, at: Fixtures.time(3, day: day), kg: 1.5) }, device)
                }
            }
            // pt-5 shares June 1 with the others and is alone on June 3.
            try await book({ Fixtures.deposit($0, seq: $1, at: Fixtures.time(5), kg: 4) }, "pt-5")
            try await book(
                {
                    Fixtures.deposit(
                        $0, seq: $1, at: Fixtures.time(5, day: 3), bin: "dry", stream: .dry, kg: 8, contaminated: true)
                }, "pt-5")
            // A redelivery changes nothing.
            #expect(
                try await store.book(Fixtures.booking(Fixtures.deposit("pt-5", seq: 1, at: Fixtures.time(5), kg: 4)))
                    == .duplicate)

            let from = Fixtures.date("2026-06-01")
            let to = Fixtures.date("2026-06-30")
            func summedRows(_ devices: [String]?) async throws -> [String: LedgerFigures] {
                var sums: [String: LedgerFigures] = [:]
                for row in try await store.ledger(devices: devices, from: from, to: to) {
                    sums["\(row.day) \(row.stream.rawValue)", default: .zero] += row.figures
                }
                return sums
            }
            func totals(_ devices: [String]?) async throws -> [String: LedgerFigures] {
                let totals = try await store.dailyTotals(devices: devices, from: from, to: to)
                #expect(
                    Set(totals.map { "\($0.day) \($0.stream.rawValue)" }).count == totals.count,
                    "one total per day and stream")
                return Dictionary(totals.map { ("\($0.day) \($0.stream.rawValue)", $0.figures) }, uniquingKeysWith: +)
            }
            let everything = try await summedRows(nil)
            #expect(everything.count == 5)
            #expect(everything["2026-06-01 wet"]?.deposits == 5 && everything["2026-06-01 wet"]?.depositedKg == 9)
            #expect(try await totals(nil) == everything)
            #expect(try await totals(devices) == everything)
            // The district less one device (read from the per-day totals, that device's rows taken away):
            // June 3 had only pt-5's deposit and is gone.
            let lessOne = try await totals(Array(devices.dropLast()))
            #expect(lessOne == (try await summedRows(Array(devices.dropLast()))))
            #expect(lessOne["2026-06-03 dry"] == nil && lessOne["2026-06-01 wet"]?.depositedKg == 5)
            // A street (few devices, summed from their rows).
            #expect(try await totals(["pt-2", "pt-3"]) == (try await summedRows(["pt-2", "pt-3"])))
            #expect(try await totals(["pt-9"]).isEmpty)

            // A database booked before the per-day totals existed: the migration fills them from the ledger.
            switch kind {
            case .sqlite:
                try await execute(
                    "DROP TABLE ledger_days; DELETE FROM grdb_migrations WHERE identifier = '4-ledger-days'")
            case .postgres: try await execute("DROP TABLE ledger_days; DELETE FROM schema_migrations WHERE version = 4")
            }
            try await store.migrate()
            #expect(try await totals(nil) == everything)
            try await book({ Fixtures.deposit($0, seq: $1, at: Fixtures.time(9), kg: 1) }, "pt-1")
            #expect(try await totals(nil)["2026-06-01 wet"]?.depositedKg == 10)
        }
    }

    @Test("a redelivered or replayed event is not booked twice", arguments: StoreKind.allCases)
    func duplicates(kind: StoreKind) async throws {
        try await Fixtures.withStore(kind) { store in
            let event = Fixtures.deposit("pt-1", seq: 7, at: Fixtures.time(0), kg: 3)
            #expect(try await store.book(Fixtures.booking(event)) == .booked(gap: nil, filledGap: false))
            #expect(try await store.book(Fixtures.booking(event)) == .duplicate)
            // A replay with different content under the same (device, seq) is still the same event.
            var altered = event
            altered.historical = true
            #expect(try await store.book(Fixtures.booking(altered)) == .duplicate)
            let rows = try await store.ledger(
                devices: nil, from: Fixtures.date("2026-06-01"), to: Fixtures.date("2026-06-01"))
            #expect(rows.map(\.figures.depositedKg) == [3])
            #expect(rows.map(\.figures.deposits) == [1])
        }
    }

    @Test("events are booked on the local day they happened, in the registry's zone", arguments: StoreKind.allCases)
    func localDays(kind: StoreKind) async throws {
        try await Fixtures.withStore(kind) { store in
            // 23:30 UTC on May 31 is 07:30 on June 1 in Shanghai, whatever offset the device stamped.
            let utc = WireTimestamp(rfc3339: "2026-05-31T23:30:00.000Z")!
            _ = try await store.book(Fixtures.booking(Fixtures.deposit("pt-1", seq: 1, at: utc, kg: 1)))
            // A historical event sent days late lands on its own day.
            let late = Fixtures.deposit("pt-1", seq: 2, at: Fixtures.time(0, day: 3), kg: 2, historical: true)
            _ = try await store.book(
                Fixtures.booking(late, receivedAtMs: Fixtures.time(0, day: 6).millisecondsSinceEpoch))
            let rows = try await store.ledger(
                devices: nil, from: Fixtures.date("2026-05-01"), to: Fixtures.date("2026-06-30"))
            #expect(rows.map(\.day) == [Fixtures.date("2026-06-01"), Fixtures.date("2026-06-03")])
        }
    }

    @Test("sequence gaps are recorded and shrink as late events fill them", arguments: StoreKind.allCases)
    func sequenceGaps(kind: StoreKind) async throws {
        try await Fixtures.withStore(kind) { store async throws in
            let book: (Int64) async throws -> BookingOutcome = { seq in
                try await store.book(
                    Fixtures.booking(Fixtures.deposit("pt-1", seq: seq, at: Fixtures.time(seq), kg: 1)))
            }
            #expect(try await book(10) == .booked(gap: nil, filledGap: false))
            #expect(try await book(11) == .booked(gap: nil, filledGap: false))
            #expect(try await book(15) == .booked(gap: 12...14, filledGap: false))
            #expect(try await store.sequenceGaps(device: "pt-1").map { $0.first...$0.last } == [12...14])
            #expect(try await book(13) == .booked(gap: nil, filledGap: true))
            #expect(try await store.sequenceGaps(device: nil).map { $0.first...$0.last } == [12...12, 14...14])
            #expect(try await book(12) == .booked(gap: nil, filledGap: true))
            #expect(try await book(14) == .booked(gap: nil, filledGap: true))
            #expect(try await store.sequenceGaps(device: "pt-1").isEmpty)
            // Older than anything seen and not in a gap: booked, no gap bookkeeping.
            #expect(try await book(3) == .booked(gap: nil, filledGap: false))
            #expect(try await store.devices().first?.highestSeq == 15)
        }
    }

    @Test("status: newer sessions win, the will wins within its session", arguments: StoreKind.allCases)
    func statusOrdering(kind: StoreKind) async throws {
        try await Fixtures.withStore(kind) { store in
            let online = StatusPayload(device: "pt-1", ts: Fixtures.time(1), online: true, session: 4)
            let will = StatusPayload(device: "pt-1", ts: Fixtures.time(0), online: false, session: 4)
            #expect(try await store.recordStatus(online, receivedAtMs: 1000))
            #expect(try await store.recordStatus(will, receivedAtMs: 2000))
            #expect(try await store.devices().first?.online == false)
            // A redelivered copy of the status from before the will does not revive the device ...
            #expect(try await store.recordStatus(online, receivedAtMs: 2500) == false)
            // ... but a reconnect in the same session does.
            let reconnect = StatusPayload(device: "pt-1", ts: Fixtures.time(5), online: true, session: 4)
            #expect(try await store.recordStatus(reconnect, receivedAtMs: 3000))
            // An older session never overrides a newer one.
            #expect(
                try await store.recordStatus(
                    StatusPayload(device: "pt-1", ts: Fixtures.time(9), online: false, session: 3), receivedAtMs: 4000)
                    == false)
            let device = try #require(try await store.devices().first)
            #expect(device.online == true)
            #expect(device.session == 4)
            #expect(device.lastSeenMs == 4000)
            #expect(device.statusReceivedMs == 3000)
        }
    }

    @Test("birth, state and health update the device picture", arguments: StoreKind.allCases)
    func deviceMessages(kind: StoreKind) async throws {
        try await Fixtures.withStore(kind) { store in
            let bins = [
                BinDescriptor(id: "wet", stream: .wet, capacityL: 240),
                BinDescriptor(id: "dry", stream: .dry, capacityL: 240),
            ]
            let birth = BirthPayload(
                device: "pt-1", ts: Fixtures.time(0), session: 2, version: "1.0", configHash: "abc", board: "rpi4",
                bins: bins)
            #expect(try await store.recordBirth(birth, receivedAtMs: 10))
            var older = birth
            older.session = 1
            older.bins = []
            #expect(try await store.recordBirth(older, receivedAtMs: 20) == false)
            let state = StatePayload(
                device: "pt-1", ts: Fixtures.time(5), bin: "wet", stream: .wet, fill: 0.5, massKg: 20, lidOpen: false,
                quality: .good,
                temperatureC: 21)
            #expect(try await store.recordState(state, receivedAtMs: 30))
            var stale = state
            stale.ts = Fixtures.time(1)
            stale.fill = 0.1
            #expect(try await store.recordState(stale, receivedAtMs: 40) == false)
            let health = HealthPayload(
                device: "pt-1", ts: Fixtures.time(6), session: 2, uptimeS: 60, samplesTotal: 5, sampleErrorsTotal: 0,
                hx711RetriesTotal: 0, publishFailuresTotal: 0, reconnectsTotal: 1, outboxDepth: 3, droppedTotal: 0,
                activeFaults: [])
            try await store.recordHealth(health, receivedAtMs: 50)
            let device = try #require(try await store.devices().first)
            #expect(device.bins == bins)
            #expect(device.version == "1.0")
            #expect(device.outboxDepth == 3)
            #expect(device.lastSeenMs == 50)
            let states = try await store.binStates()
            #expect(states.map(\.state.fill) == [0.5])
        }
    }

    @Test("fault state follows the newest fault event per bin and code", arguments: StoreKind.allCases)
    func faults(kind: StoreKind) async throws {
        try await Fixtures.withStore(kind) { store in
            _ = try await store.book(
                Fixtures.booking(Fixtures.fault("pt-1", seq: 1, at: Fixtures.time(0), active: true)))
            _ = try await store.book(
                Fixtures.booking(
                    Fixtures.fault("pt-1", seq: 2, at: Fixtures.time(0), bin: nil, code: "outbox.dropped", active: true)
                ))
            #expect(try await store.faults(activeOnly: true).count == 2)
            // The clear arrives first, the older raise later (a historical event): the clear stands.
            _ = try await store.book(
                Fixtures.booking(Fixtures.fault("pt-1", seq: 4, at: Fixtures.time(10), active: false)))
            _ = try await store.book(
                Fixtures.booking(Fixtures.fault("pt-1", seq: 3, at: Fixtures.time(5), active: true)))
            let active = try await store.faults(activeOnly: true)
            #expect(active.map(\.code) == ["outbox.dropped"])
            #expect(active.first?.bin == "")
            #expect(try await store.faults(activeOnly: false).count == 2)
            let booked = try await store.events(
                from: Fixtures.date("2026-06-01"), to: Fixtures.date("2026-06-01"), types: [.fault])
            #expect(booked.map(\.event.seq) == [1, 2, 3, 4])
            #expect(
                try await store.events(
                    from: Fixtures.date("2026-06-01"), to: Fixtures.date("2026-06-01"), types: [.deposit]
                ).isEmpty)
        }
    }

    @Test(
        "at most one open alert per kind and subject; lifecycle steps are compare-and-set",
        arguments: StoreKind.allCases)
    func alertUniqueness(kind: StoreKind) async throws {
        try await Fixtures.withStore(kind) { store in
            let alert = AlertRecord(
                id: "a-1", kind: .binFull, severity: .warning, subject: "bin:pt-1/wet", value: 0.85, threshold: 0.8,
                message: "full", raisedAtMs: 1000)
            let delivery = DeliveryRequest(target: Delivery.mqttTarget, body: "{\"state\":\"raised\"}")
            #expect(try await store.raiseAlert(alert, deliveries: [delivery]))
            var twin = alert
            twin.id = "a-2"
            #expect(try await store.raiseAlert(twin, deliveries: [delivery]) == false)
            #expect(try await store.alert(id: "a-2") == nil)
            #expect(try await store.pendingDeliveries().count == 1)

            var acknowledged = alert
            try acknowledged.acknowledge(by: "ops", atMs: 2000)
            #expect(try await store.transitionAlert(acknowledged, from: .raised, deliveries: [delivery]))
            #expect(try await store.transitionAlert(acknowledged, from: .raised, deliveries: [delivery]) == false)
            var cleared = acknowledged
            try cleared.clear(atMs: 3000, value: 0.1)
            #expect(try await store.transitionAlert(cleared, from: .acknowledged, deliveries: []))
            #expect(try await store.alert(id: "a-1") == cleared)
            #expect(try await store.openAlerts().isEmpty)
            // Once cleared, the subject may raise again.
            #expect(try await store.raiseAlert(twin, deliveries: []))
            #expect(try await store.openAlerts().map(\.id) == ["a-2"])
            #expect(try await store.alerts(state: .cleared, limit: 10).map(\.id) == ["a-1"])
            #expect(try await store.alerts(openBetween: 2500, and: 2600).map(\.id).sorted() == ["a-1", "a-2"])
            #expect(try await store.alerts(openBetween: 3001, and: 4000).map(\.id) == ["a-2"])
            #expect(try await store.pendingDeliveries().count == 2)
        }
    }

    @Test("deliveries are claimed once, retried later and kept until completed", arguments: StoreKind.allCases)
    func deliveries(kind: StoreKind) async throws {
        try await Fixtures.withStore(kind) { store in
            let alert = AlertRecord(
                id: "a-1", kind: .sensorFault, severity: .warning, subject: "bin:pt-1/wet", value: 1, threshold: 1,
                message: "fault",
                raisedAtMs: 1000)
            let requests = [
                DeliveryRequest(target: Delivery.mqttTarget, body: "one"),
                DeliveryRequest(target: Delivery.webhookTarget("ops"), body: "two"),
            ]
            #expect(try await store.raiseAlert(alert, deliveries: requests))
            let now = Int64(Date().timeIntervalSince1970 * 1000) + 1000
            let claimed = try await store.claimDeliveries(nowMs: now, limit: 10, leaseMs: 30_000)
            #expect(claimed.map(\.target) == ["mqtt", "webhook:ops"])
            #expect(try await store.claimDeliveries(nowMs: now, limit: 10, leaseMs: 30_000).isEmpty)
            try await store.completeDelivery(id: claimed[0].id)
            try await store.retryDelivery(id: claimed[1].id, attempts: 1, nextAttemptMs: now + 5000, error: "HTTP 503")
            #expect(try await store.claimDeliveries(nowMs: now + 1000, limit: 10, leaseMs: 30_000).isEmpty)
            let retried = try await store.claimDeliveries(nowMs: now + 5000, limit: 10, leaseMs: 30_000)
            #expect(retried.map(\.body) == ["two"])
            #expect(retried.first?.attempts == 1)
            #expect(retried.first?.lastError == "HTTP 503")
            // The lease runs out without completion (a crash): the delivery comes back.
            #expect(
                try await store.claimDeliveries(nowMs: now + 40_000, limit: 10, leaseMs: 30_000).map(\.body) == ["two"])
        }
    }

    @Test("two instances booking the same events concurrently book each once", arguments: StoreKind.allCases)
    func concurrentInstances(kind: StoreKind) async throws {
        try await Fixtures.withStores(kind, instances: 2) { stores in
            let events = (1...60).map { seq in
                Fixtures.deposit("pt-\(seq % 3)", seq: Int64(seq), at: Fixtures.time(Int64(seq)), kg: Double(seq) / 4)
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for store in stores {
                    for chunk in [events, events.reversed()] {
                        group.addTask {
                            for event in chunk { _ = try await store.book(Fixtures.booking(event)) }
                        }
                    }
                }
                try await group.waitForAll()
            }
            let rows = try await stores[0].ledger(
                devices: nil, from: Fixtures.date("2026-06-01"), to: Fixtures.date("2026-06-02"))
            let total = rows.reduce(0) { $0 + $1.figures.depositedKg }
            #expect(total == events.reduce(0) { $0 + Double($1.seq) / 4 })
            #expect(rows.reduce(0) { $0 + $1.figures.deposits } == 60)
            #expect(try await stores[1].bookedEventCount() == 60)
        }
    }

    @Test("two instances raising the same alert concurrently raise it once", arguments: StoreKind.allCases)
    func concurrentRaise(kind: StoreKind) async throws {
        try await Fixtures.withStores(kind, instances: 2) { stores in
            let raised = try await withThrowingTaskGroup(of: Bool.self) { group in
                for index in 0..<8 {
                    let store = stores[index % 2]
                    group.addTask {
                        let alert = AlertRecord(
                            id: "a-\(index)", kind: .deviceOffline, severity: .critical, subject: "device:pt-1",
                            value: 1000,
                            threshold: 900, message: "offline", raisedAtMs: 1000)
                        return try await store.raiseAlert(
                            alert, deliveries: [DeliveryRequest(target: "mqtt", body: "x")])
                    }
                }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(raised == 1)
            #expect(try await stores[0].openAlerts().count == 1)
            #expect(try await stores[1].pendingDeliveries().count == 1)
        }
    }

    @Test("migrating again is a no-op", arguments: StoreKind.allCases)
    func migrateTwice(kind: StoreKind) async throws {
        try await Fixtures.withStores(kind, instances: 2) { stores in
            _ = try await stores[0].book(
                Fixtures.booking(Fixtures.deposit("pt-1", seq: 1, at: Fixtures.time(0), kg: 1)))
            try await withThrowingTaskGroup(of: Void.self) { group in
                for store in stores { group.addTask { try await store.migrate() } }
                try await group.waitForAll()
            }
            #expect(try await stores[1].bookedEventCount() == 1)
        }
    }
}
