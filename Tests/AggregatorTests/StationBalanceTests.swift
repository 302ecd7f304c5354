import Aggregator
import BinProtocol
import Foundation
import Metrics
import Synchronization
import Testing

/// Transfer stations: which points deliver where, loads booked once, the balance arithmetic, and the
/// `stream_mixing` / `mass_missing` judgement of a day, on both stores.
@Suite("Transfer-station mass balance")
struct StationBalanceTests {
    /// Street s1 delivers to station ts1; community c2 overrides it to ts2; point pt-4 (in c2) overrides
    /// back to ts1. Station ts1 has its own device st-1; ts2 receives wet only and has no device.
    static let yaml = """
        time_zone: Asia/Shanghai
        instance: balance-test
        broker: {host: 127.0.0.1}
        storage: {sqlite: unused.sqlite}
        district: {id: d1}
        streets:
          - id: s1
            delivers_to: ts1
            communities:
              - {id: c1, kind: property, households: 10, points: [pt-1, pt-2]}
              - id: c2
                kind: open
                delivers_to: ts2
                points: [pt-3, {device: pt-4, delivers_to: ts1}]
          - id: s2
            communities:
              - {id: ts1, kind: transfer_station, points: [st-1]}
              - {id: ts2, kind: transfer_station, receives: [wet]}
        balance: {settle_s: 600, minimum_kg: 5}
        """

    static func configuration() throws -> AggregatorConfiguration {
        try AggregatorConfiguration.parse(yaml: yaml, source: "aggregator.yaml")
    }

    final class Clock: Sendable {
        let now = Mutex<Int64>(0)
        init(_ ms: Int64) { now.withLock { $0 = ms } }
        func advance(seconds: Int64) { now.withLock { $0 += seconds * 1000 } }
        var read: @Sendable () -> Int64 { { self.now.withLock { $0 } } }
    }

    // MARK: Registry

    @Test(
        "delivers_to: the point's wins over its community's, which wins over its street's; stations know their points")
    func deliveries() throws {
        let registry = Registry(try Self.configuration())
        #expect(registry.point(device: "pt-1")?.deliversTo == "ts1")
        #expect(registry.point(device: "pt-3")?.deliversTo == "ts2")
        #expect(registry.point(device: "pt-4")?.deliversTo == "ts1")
        #expect(registry.point(device: "st-1")?.deliversTo == nil)
        #expect(registry.station("ts1")?.deliveringDevices == ["pt-1", "pt-2", "pt-4"])
        #expect(registry.station("ts1")?.devices == ["st-1"])
        #expect(registry.station("ts1")?.receives == [.wet, .dry])
        #expect(registry.station("ts2")?.receives == [.wet])
        #expect(registry.station(ofDevice: "st-1") == "ts1")
        #expect(registry.station(ofDevice: "pt-1") == nil)
    }

    @Test("a delivers_to that names no station, and receives on an ordinary community, are errors naming the field")
    func badStations() throws {
        let bad = Self.yaml
            .replacingOccurrences(of: "delivers_to: ts2", with: "delivers_to: c1")
            .replacingOccurrences(
                of: "{id: c1, kind: property, households: 10,",
                with: "{id: c1, kind: property, households: 10, receives: [wet],"
            )
            .replacingOccurrences(of: "delivers_to: ts1\n", with: "delivers_to: ts9\n")
        let error = #expect(throws: AggregatorError.self) {
            try AggregatorConfiguration.parse(yaml: bad, source: "aggregator.yaml")
        }
        let message = error?.issues.map(\.description).joined(separator: "\n") ?? ""
        #expect(message.contains("\"c1\" is not a community of kind transfer_station"))
        #expect(message.contains("\"ts9\" is not a community id"))
        #expect(message.contains("receives is only for a community of kind transfer_station"))
        #expect(message.contains("streets[0].delivers_to"))
    }

    // MARK: Arithmetic

    static let day1 = Fixtures.date("2026-06-01")

    static func row(
        _ device: String, _ stream: WasteStream, deposited: Double = 0, collected: Double = 0, day: LocalDate = day1
    ) -> LedgerRow {
        var figures = LedgerFigures.zero
        figures.depositedKg = deposited
        figures.collectedKg = collected
        return LedgerRow(device: device, bin: stream.rawValue, day: day, stream: stream, figures: figures)
    }

    static func load(_ id: String, _ stream: WasteStream, kg: Double, station: String = "ts1", day: LocalDate = day1)
        -> StationLoad
    {
        StationLoad(
            id: id, station: station, stream: stream, massKg: kg,
            atMs: Fixtures.calendar.startOfDay(day) + 11 * 3_600_000, day: day,
            bookedBy: "http:test", receivedAtMs: 0)
    }

    @Test(
        "collected is the delivering points' collections, received the station's deposits plus its loads, per received stream"
    )
    func arithmetic() throws {
        let station = try #require(Registry(try Self.configuration()).station("ts1"))
        let ledger = [
            Self.row("pt-1", .wet, deposited: 99, collected: 100), Self.row("pt-2", .wet, collected: 50),
            Self.row("pt-4", .dry, collected: 80), Self.row("pt-1", .recyclable, collected: 30),  // not received by ts1
            Self.row("pt-3", .wet, collected: 500),  // delivers to ts2
            // the station's haul-away is not intake
            Self.row("st-1", .wet, deposited: 120), Self.row("st-1", .dry, deposited: 40, collected: 900),
        ]
        let days = MassBalance.days(
            station: station, from: Self.day1, to: Self.day1, ledger: ledger,
            loads: [Self.load("l1", .dry, kg: 38), Self.load("l2", .wet, kg: 70, station: "ts2")])
        let day = try #require(days.first)
        #expect(days.count == 1)
        #expect(day.streams.map(\.stream) == [.wet, .dry])
        #expect(day.streams[0].collectedKg == 150)
        #expect(day.streams[0].receivedKg == 120)
        #expect(day.streams[1].collectedKg == 80)
        #expect(day.streams[1].receivedKg == 78)
        #expect(day.collectedKg == 230)
        #expect(day.receivedKg == 198)
        #expect(day.differenceKg == -32)
        #expect(abs((day.ratio ?? 0) - 198.0 / 230) < 1e-12)
        #expect(abs(day.missing - 32.0 / 230) < 1e-12)
        // wet is 20 % short, dry 2.5 % short: nothing gained elsewhere, so no mixing.
        #expect(day.mixing == 0)
    }

    @Test(
        "mixing needs one stream short and another over; an honest day with moisture loss is neither mixed nor missing")
    func judgement() throws {
        let settings = try Self.configuration().alerts
        let honest = StationBalanceDay(
            station: "ts1", day: Self.day1,
            streams: [
                StreamBalance(stream: .wet, collectedKg: 400, receivedKg: 388),
                StreamBalance(stream: .dry, collectedKg: 300, receivedKg: 297),
            ])
        #expect(honest.mixing == 0)
        #expect(honest.missing < 0.05)
        #expect(honest.flags(settings, minimumKg: 1).isEmpty)
        // 100 kg of wet went into the dry container: wet -25 %, dry +33 %.
        let mixed = StationBalanceDay(
            station: "ts1", day: Self.day1,
            streams: [
                StreamBalance(stream: .wet, collectedKg: 400, receivedKg: 300),
                StreamBalance(stream: .dry, collectedKg: 300, receivedKg: 400),
            ])
        #expect(abs(mixed.mixing - 0.25) < 1e-12)
        #expect(mixed.missing == 0)
        #expect(mixed.flags(settings, minimumKg: 1) == [.streamMixing])
        #expect(mixed.flags(settings, minimumKg: 1000).isEmpty)
        // A whole round that never arrived: missing, not mixing.
        let lost = StationBalanceDay(
            station: "ts1", day: Self.day1,
            streams: [
                StreamBalance(stream: .wet, collectedKg: 400, receivedKg: 200),
                StreamBalance(stream: .dry, collectedKg: 300, receivedKg: 300),
            ])
        #expect(lost.flags(settings, minimumKg: 1) == [.massMissing])
        // Dry received on a day nothing dry was collected counts against the day's total.
        let stray = StationBalanceDay(
            station: "ts1", day: Self.day1,
            streams: [
                StreamBalance(stream: .wet, collectedKg: 400, receivedKg: 300),
                StreamBalance(stream: .dry, collectedKg: 0, receivedKg: 100),
            ])
        #expect(abs(stray.mixing - 0.25) < 1e-12)
    }

    // MARK: Loads

    @Test(
        "a load is booked once under its key; the same load again is a duplicate, another load under the key a conflict",
        arguments: StoreKind.allCases)
    func loads(kind: StoreKind) async throws {
        try await Fixtures.withStore(kind) { store async throws in
            let load = Self.load("wb-0001", .wet, kg: 812.5)
            #expect(try await store.bookLoad(load) == .booked)
            var again = load
            again.receivedAtMs = 99
            again.bookedBy = "mqtt:st-1"
            #expect(try await store.bookLoad(again) == .duplicate)
            var other = load
            other.massKg = 900
            #expect(try await store.bookLoad(other) == .conflict(load))
            #expect(
                try await store.bookLoad(Self.load("wb-0002", .dry, kg: 300, day: Self.day1.adding(days: 1))) == .booked
            )
            #expect(try await store.bookLoad(Self.load("wb-0003", .wet, kg: 10, station: "ts2")) == .booked)
            #expect(try await store.loads(stations: ["ts1"], from: Self.day1, to: Self.day1) == [load])
            #expect(
                try await store.loads(stations: nil, from: Self.day1, to: Self.day1.adding(days: 1)).map(\.id).sorted()
                    == ["wb-0001", "wb-0002", "wb-0003"])
            #expect(try await store.loads(stations: [], from: Self.day1, to: Self.day1).isEmpty)
        }
    }

    @Test(
        "over MQTT only the station's own device books loads for it; the load is booked once and noted as station activity",
        arguments: StoreKind.allCases)
    func mqttLoads(kind: StoreKind) async throws {
        let configuration = try Self.configuration()
        try await Fixtures.withStore(kind) { store async throws in
            let observed = Mutex<[AlertObservation]>([])
            let processor = IngestProcessor(
                registry: Registry(configuration), calendar: Fixtures.calendar, store: store,
                metrics: IngestMetrics(factory: NOOPMetricsHandler.instance), logger: Fixtures.logger,
                observe: { observation in observed.withLock { $0.append(observation) } })
            let payload = LoadPayload(
                device: "st-1", ts: Fixtures.time(180), id: "round-7-wet", stream: .wet, massKg: 640,
                vehicle: "沪A·12345", round: "7")
            #expect(
                await processor.process(topic: Topics.load("st-1"), payload: Fixtures.json(payload), receivedAtMs: 1)
                    == .accepted(.load))
            #expect(
                await processor.process(topic: Topics.load("st-1"), payload: Fixtures.json(payload), receivedAtMs: 2)
                    == .accepted(.load))
            let stored = try await store.loads(stations: nil, from: Self.day1, to: Self.day1)
            #expect(stored.count == 1)
            #expect(stored.first?.bookedBy == "mqtt:st-1")
            #expect(stored.first?.station == "ts1")
            #expect(stored.first?.vehicle == "沪A·12345")
            #expect(
                observed.withLock { $0 } == [
                    .stationActivity(
                        station: "ts1", day: Self.day1, atMs: Fixtures.time(180).millisecondsSinceEpoch,
                        fromStation: true)
                ])
            // A sorting point cannot say that a station received something.
            var forged = payload
            forged.device = "pt-1"
            forged.id = "forged"
            #expect(
                await processor.process(topic: Topics.load("pt-1"), payload: Fixtures.json(forged), receivedAtMs: 3)
                    == .rejected(.notPermitted))
            // Nor can the station's device book under another device's name.
            #expect(
                await processor.process(topic: Topics.load("st-1"), payload: Fixtures.json(forged), receivedAtMs: 4)
                    == .rejected(.deviceMismatch))
            var heavy = payload
            heavy.id = "heavy"
            heavy.massKg = 1e9
            #expect(
                await processor.process(topic: Topics.load("st-1"), payload: Fixtures.json(heavy), receivedAtMs: 5)
                    == .rejected(.outOfRange))
            #expect(try await store.loads(stations: nil, from: Self.day1, to: Self.day1).count == 1)
            // A collection at a delivering point is activity of its station's day too.
            let collection = Fixtures.collection(
                "pt-4", seq: 1, at: Fixtures.time(120), bin: "dry", stream: .dry, kg: 80)
            #expect(
                await processor.process(
                    topic: Topics.events("pt-4"), payload: Fixtures.json(collection), receivedAtMs: 6)
                    == .accepted(.collection))
            #expect(
                observed.withLock { $0 }.last
                    == .stationActivity(
                        station: "ts1", day: Self.day1, atMs: Fixtures.time(120).millisecondsSinceEpoch,
                        fromStation: false))
        }
    }

    // MARK: Alerts

    /// Open balance alerts (the tick also judges the test devices' liveness, which is not the matter here).
    @Test(
        "a station's intake is not the district's: district and street figures, targets, community rows and the street review leave the station's devices out; its balance keeps them",
        arguments: StoreKind.allCases)
    func intakeNotCountedTwice(kind: StoreKind) async throws {
        let configuration = try Self.configuration()
        let registry = Registry(configuration)
        #expect(registry.sortingDevices == ["pt-1", "pt-2", "pt-3", "pt-4"])
        #expect(registry.devices(level: .district, id: nil) == registry.sortingDevices)
        #expect(registry.street("s2")?.devices == [] && registry.street("s2")?.communities == [])
        #expect(registry.devices(level: .community, id: "ts1") == ["st-1"], "the station's own view keeps its device")
        try await Fixtures.withStore(kind) { store async throws in
            let events = [
                Fixtures.deposit("pt-1", seq: 1, at: Fixtures.time(60), bin: "wet", stream: .wet, kg: 10),
                Fixtures.deposit("pt-2", seq: 1, at: Fixtures.time(70), bin: "dry", stream: .dry, kg: 6),
                Fixtures.collection("pt-1", seq: 2, at: Fixtures.time(120), bin: "wet", stream: .wet, kg: 10),
                // What the round brought, weighed into the station's containers.
                Fixtures.deposit("st-1", seq: 1, at: Fixtures.time(200), bin: "wet", stream: .wet, kg: 9.5),
                Fixtures.deposit("st-1", seq: 2, at: Fixtures.time(210), bin: "dry", stream: .dry, kg: 5),
            ]
            for event in events {
                #expect(try await store.book(Fixtures.booking(event)) == .booked(gap: nil, filledGap: false))
            }

            let daily = try await TargetEvaluator.districtDaily(
                store: store, registry: registry, from: Self.day1, to: Self.day1)
            #expect(daily[Self.day1]?.total.depositedKg == 16)

            let builder = ReportBuilder(configuration: configuration, registry: registry, store: store)
            let now = Fixtures.calendar.startOfDay(Self.day1.adding(days: 1))
            guard case .daily(let report) = try await builder.build(.daily, date: Self.day1, nowMs: now) else {
                Issue.record("not a daily report")
                return
            }
            #expect(report.district.total.depositedKg == 16)
            #expect(report.district.total.collectedKg == 10)
            #expect(report.communities.map(\.id) == ["c1", "c2"])
            let received = report.stations.first { $0.station == "ts1" }?.days.first?.receivedKg
            #expect(received == 14.5, "the balance still reads the station's intake")
            guard case .review(let review) = try await builder.build(.quarterly, date: Self.day1, nowMs: now) else {
                Issue.record("not a review")
                return
            }
            #expect(review.streets.map(\.id) == ["s1"], "a street of stations alone is not ranked")
            #expect(review.district.total.depositedKg == 16)
        }
    }

    static func balanceAlerts(_ store: any AggregatorStore) async throws -> [AlertRecord] {
        try await store.openAlerts().filter { $0.kind == .streamMixing || $0.kind == .massMissing }
    }

    /// Books collections at ts1's points and deliveries at the station's device for three days; on day 2 a
    /// third of the wet is tipped into the dry container.
    static func bookDays(_ store: any AggregatorStore, engine: AlertEngine) async throws {
        var seq: [String: Int64] = [:]
        func book(_ event: (Int64) -> EventPayload, _ device: String) async throws {
            seq[device, default: 0] += 1
            let booking = Fixtures.booking(event(seq[device]!))
            #expect(try await store.book(booking) == .booked(gap: nil, filledGap: false))
            if let station = Registry(try Self.configuration()).station(ofDevice: device) {
                await engine.observe(
                    .stationActivity(
                        station: station, day: booking.day, atMs: booking.event.ts.millisecondsSinceEpoch,
                        fromStation: true))
            } else {
                await engine.observe(
                    .stationActivity(
                        station: "ts1", day: booking.day, atMs: booking.event.ts.millisecondsSinceEpoch,
                        fromStation: false))
            }
        }
        for day in 1...3 {
            let wetCollected = 300.0 + Double(day) * 10
            let dryCollected = 200.0
            try await book(
                {
                    Fixtures.collection(
                        "pt-1", seq: $0, at: Fixtures.time(120, day: day), bin: "wet", stream: .wet, kg: wetCollected)
                }, "pt-1")
            try await book(
                {
                    Fixtures.collection(
                        "pt-2", seq: $0, at: Fixtures.time(130, day: day), bin: "dry", stream: .dry, kg: dryCollected)
                }, "pt-2")
            let tipped = day == 2 ? wetCollected / 3 : 0
            // 3 % of the wet is lost to moisture on the way.
            try await book(
                {
                    Fixtures.deposit(
                        "st-1", seq: $0, at: Fixtures.time(200, day: day), bin: "wet", stream: .wet,
                        kg: wetCollected * 0.97 - tipped)
                }, "st-1")
            try await book(
                {
                    Fixtures.deposit(
                        "st-1", seq: $0, at: Fixtures.time(210, day: day), bin: "dry", stream: .dry,
                        kg: dryCollected + tipped)
                }, "st-1")
        }
    }

    @Test(
        "the mixed day raises stream_mixing for that station and day only, once the station reports the next day",
        arguments: StoreKind.allCases)
    func mixingAlert(kind: StoreKind) async throws {
        let configuration = try Self.configuration()
        // Wall time: 2026-06-04 09:00 local, after all three days.
        let clock = Clock(Fixtures.calendar.startOfDay(Fixtures.date("2026-06-04")) + 9 * 3_600_000)
        try await Fixtures.withStore(kind) { store async throws in
            let engine = AlertEngine(
                configuration: configuration, registry: Registry(configuration), store: store,
                metricsFactory: NOOPMetricsHandler.instance,
                logger: Fixtures.logger, clock: clock.read)
            try await Self.bookDays(store, engine: engine)
            await engine.tick()
            // Days 1 and 2 are judged (the station has reported later days); day 3 waits: the station has
            // not reported day 4 and nothing has settled for ten minutes yet.
            let open = try await Self.balanceAlerts(store)
            #expect(open.map(\.kind) == [.streamMixing])
            #expect(open.map(\.subject) == ["station:ts1/2026-06-02"])
            #expect(open.first?.raisedAtMs == Fixtures.calendar.startOfDay(Fixtures.date("2026-06-03")) - 1)
            #expect(open.first?.message.contains("wet 320.0 → 203.7 kg") == true)
            #expect(await engine.condition(kind: .streamMixing, subject: "station:ts1/2026-06-03") == nil)
            // Ten minutes later day 3 is judged: honest, nothing more raised.
            clock.advance(seconds: 600)
            await engine.tick()
            #expect(await engine.condition(kind: .streamMixing, subject: "station:ts1/2026-06-03")?.phase == .normal)
            #expect(await engine.condition(kind: .massMissing, subject: "station:ts1/2026-06-01")?.phase == .normal)
            #expect(try await Self.balanceAlerts(store).map(\.subject) == ["station:ts1/2026-06-02"])
            #expect(
                try await store.alerts(state: nil, limit: 10).filter { $0.subject.hasPrefix("station:") }.count == 1)
        }
    }

    @Test(
        "a day whose load never arrived raises mass_missing, and a late load that completes it clears it",
        arguments: StoreKind.allCases)
    func missingThenCorrected(kind: StoreKind) async throws {
        let configuration = try Self.configuration()
        let clock = Clock(Fixtures.calendar.startOfDay(Fixtures.date("2026-06-02")) + 9 * 3_600_000)
        try await Fixtures.withStore(kind) { store async throws in
            let engine = AlertEngine(
                configuration: configuration, registry: Registry(configuration), store: store,
                metricsFactory: NOOPMetricsHandler.instance,
                logger: Fixtures.logger, clock: clock.read)
            let wet = Fixtures.booking(
                Fixtures.collection("pt-1", seq: 1, at: Fixtures.time(120), bin: "wet", stream: .wet, kg: 300))
            _ = try await store.book(wet)
            await engine.observe(
                .stationActivity(
                    station: "ts1", day: Self.day1, atMs: wet.event.ts.millisecondsSinceEpoch, fromStation: false))
            _ = try await store.bookLoad(Self.load("dry-1", .wet, kg: 100))
            await engine.tick()
            #expect(try await Self.balanceAlerts(store).isEmpty)  // booked just now: not settled
            clock.advance(seconds: 600)
            await engine.tick()
            let open = try await Self.balanceAlerts(store)
            #expect(open.map(\.kind) == [.massMissing])
            #expect(open.first?.subject == "station:ts1/2026-06-01")
            #expect(abs((open.first?.value ?? 0) - 2.0 / 3) < 1e-9)
            // The weighbridge books the rest late; the day is judged again and clears.
            _ = try await store.bookLoad(Self.load("wet-2", .wet, kg: 195))
            await engine.observe(.stationActivity(station: "ts1", day: Self.day1, atMs: 0, fromStation: false))
            clock.advance(seconds: 600)
            await engine.tick()
            #expect(try await Self.balanceAlerts(store).isEmpty)
            #expect(
                try await store.alerts(state: .cleared, limit: 10).map(\.kind).filter { $0 != .deviceOffline } == [
                    .massMissing
                ])
        }
    }
}
