import Aggregator
import BinProtocol
import Foundation
import Metrics
import Synchronization
import Testing

/// Forecasts learned from a real store's deposits, the day's collection plan built from them, and
/// `bin_full_soon`, on both stores.
@Suite("Forecasts and the collection plan")
struct PlanBuilderTests {
    /// Three points on one street and a depot at the station. pt-a's wet bin fills fast (a canteen),
    /// pt-b's slowly; pt-c's dry bin overflows; pt-b's dry bin is new (no history of its own).
    static let yaml = """
        time_zone: Asia/Shanghai
        instance: plan-test
        broker: {host: 127.0.0.1}
        storage: {sqlite: unused.sqlite}
        district: {id: d1}
        streets:
          - id: s1
            name: First Street
            delivers_to: ts1
            communities:
              - id: c1
                kind: property
                households: 100
                points:
                  - {device: pt-a, name: Canteen, lat: 31.2300, lon: 121.4800}
                  - {device: pt-b, name: Gate, lat: 31.2310, lon: 121.4830}
                  - {device: pt-c, name: Corner, lat: 31.2280, lon: 121.4850}
          - id: s2
            communities:
              - {id: ts1, kind: transfer_station, points: [{device: st-1, lat: 31.2250, lon: 121.4700}]}
        forecast: {history_days: 14, full_soon_horizon_h: 6}
        plan: {depot: ts1, round_hour: 7}
        alerts:
          bin_full_soon: {raise: 1, clear: 0.8}
        """

    static func configuration() throws -> AggregatorConfiguration {
        try AggregatorConfiguration.parse(yaml: yaml, source: "aggregator.yaml")
    }

    /// 2026-06-01 .. 2026-06-07 of history: pt-a/wet 12 L an hour from 08:00 to 20:00, pt-b/wet 1 L an
    /// hour, pt-b/dry (stream dry, c1's other dry bin is pt-c/dry) nothing; pt-c/dry 4 L an hour.
    static func seed(_ store: any AggregatorStore) async throws {
        for device in ["pt-a", "pt-b", "pt-c"] {
            let bins =
                device == "pt-a"
                ? [BinDescriptor(id: "wet", stream: .wet, capacityL: 240)]
                : device == "pt-b"
                    ? [
                        BinDescriptor(id: "wet", stream: .wet, capacityL: 240),
                        BinDescriptor(id: "dry", stream: .dry, capacityL: 240),
                    ]
                    : [BinDescriptor(id: "dry", stream: .dry, capacityL: 240)]
            try await store.recordBirth(
                BirthPayload(
                    device: device, ts: Fixtures.time(0), session: 1, version: "1", configHash: "h", board: "sim",
                    bins: bins), receivedAtMs: 0)
        }
        var batch: [IngestItem] = []
        var seq: [String: Int64] = [:]
        for day in 1...7 {
            for hour in 8..<20 {
                for (device, bin, stream, litres) in [
                    ("pt-a", "wet", WasteStream.wet, 12.0), ("pt-b", "wet", .wet, 1.0), ("pt-c", "dry", .dry, 4.0),
                ] {
                    seq[device, default: 0] += 1
                    let ts = Fixtures.time(Int64(hour - 8) * 60 + 30, day: day)
                    batch.append(
                        .event(
                            Fixtures.booking(
                                Fixtures.deposit(
                                    device, seq: seq[device]!, at: ts, bin: bin, stream: stream, kg: litres * 0.3,
                                    litres: litres))))
                }
            }
        }
        _ = try await store.commit(batch)
        // The latest readings, on the evening of 2026-06-07.
        let at = Fixtures.time(12 * 60, day: 7)
        for (device, bin, stream, fill) in [
            ("pt-a", "wet", WasteStream.wet, 0.55), ("pt-b", "wet", .wet, 0.3), ("pt-b", "dry", .dry, 0.85),
            ("pt-c", "dry", .dry, 0.99),
        ] {
            try await store.recordState(
                StatePayload(
                    device: device, ts: at, bin: bin, stream: stream, fill: fill, massKg: 10, lidOpen: false,
                    quality: .good, temperatureC: nil),
                receivedAtMs: 0)
        }
    }

    static let planDate = LocalDate("2026-06-08")!

    @Test(
        "the plan empties the overflowing bin first, the full one, and the one forecast to fill before the next round; not the slow one",
        arguments: StoreKind.allCases)
    func plan(kind: StoreKind) async throws {
        let configuration = try Self.configuration()
        try await Fixtures.withStore(kind) { store async throws in
            try await Self.seed(store)
            let builder = PlanBuilder(configuration: configuration, registry: Registry(configuration), store: store)
            let plan = try await builder.build(date: Self.planDate, stream: nil)
            let json = try #require(
                try JSONSerialization.jsonObject(with: Data(plan.render(format: .json, language: .en)))
                    as? [String: Any])
            let stops = try #require(json["stops"] as? [[String: Any]])
            // pt-c's dry bin is overflowing: its point comes first, then the route through the others.
            #expect(stops.map { $0["device"] as? String }.first == "pt-c")
            #expect(Set(stops.compactMap { $0["device"] as? String }) == ["pt-a", "pt-b", "pt-c"])
            let reasons = stops.flatMap { stop in
                (stop["bins"] as? [[String: Any]] ?? []).map {
                    "\(stop["device"] as? String ?? "")/\($0["bin"] as? String ?? ""):\($0["reason"] as? String ?? "")"
                }
            }
            // pt-a/wet at 55 % takes 12 L an hour by day: it reaches 80 % long before the next round.
            // pt-b/wet at 30 % and 1 L an hour does not; pt-b/dry is above the collection fill.
            #expect(reasons.first == "pt-c/dry:overflowing")
            #expect(Set(reasons) == ["pt-c/dry:overflowing", "pt-a/wet:forecast", "pt-b/dry:above_collection_fill"])
            #expect(json["visits"] as? Int == 3)
            #expect(json["fixed_round_visits"] as? Int == 3)
            #expect(json["bins"] as? Int == 3)
            #expect(json["round_at"] as? String == "2026-06-08T07:00:00.000+08:00")
            #expect((json["route_km"] as? Double ?? 0) > 0)
            #expect((stops.first?["leg_km"] as? Double ?? 0) > 0)  // from the depot
            // The same database and date give the same plan.
            #expect(try await builder.build(date: Self.planDate, stream: nil) == plan)
            // One stream only.
            let wet = try await builder.build(date: Self.planDate, stream: .wet)
            #expect(wet.stops.map(\.device) == ["pt-a"])
            // The Chinese CSV names the route and the reasons.
            let csv = String(decoding: plan.render(format: .csv, language: .zh), as: UTF8.self)
            #expect(csv.contains("每日清运计划"))
            #expect(csv.contains("满溢"))
            #expect(csv.contains("Corner"))
        }
    }

    @Test(
        "a bin without history of its own is forecast from its stream's average in the community",
        arguments: StoreKind.allCases)
    func fallback(kind: StoreKind) async throws {
        let configuration = try Self.configuration()
        try await Fixtures.withStore(kind) { store async throws in
            try await Self.seed(store)
            let forecasts = try await BinForecasts.learn(
                store: store, registry: Registry(configuration), calendar: Fixtures.calendar, collectionFill: 0.8,
                historyDays: 14,
                untilMs: Fixtures.calendar.startOfDay(Self.planDate))
            let at = Fixtures.time(0, day: 8)  // 08:00 on the 8th
            let own = try #require(
                forecasts.forecast(
                    device: "pt-c", bin: "dry", fill: 0.5, atMs: at.millisecondsSinceEpoch, horizonMs: 86_400_000 * 3))
            #expect(own.basis == .hourOfWeek)
            let borrowed = try #require(
                forecasts.forecast(
                    device: "pt-b", bin: "dry", fill: 0.5, atMs: at.millisecondsSinceEpoch, horizonMs: 86_400_000 * 3))
            #expect(borrowed.basis == .streamAverage)
            // Both fill at pt-c's rate: 72 L to go at 4 L an hour from 08:00 to 20:00 is 48 L that day and the
            // rest by about 14:00 the next.
            #expect(own.collectionAtMs == borrowed.collectionAtMs)
            let hours = Double((own.collectionAtMs ?? 0) - at.millisecondsSinceEpoch) / 3_600_000
            #expect(hours > 24 && hours < 36, "\(hours) h")
            #expect(forecasts.forecast(device: "pt-x", bin: "dry", fill: 0.5, atMs: 0, horizonMs: 1) == nil)
        }
    }

    @Test(
        "bin_full_soon is raised when the forecast says full within the horizon and cleared once the bin is emptied",
        arguments: StoreKind.allCases)
    func fullSoon(kind: StoreKind) async throws {
        let configuration = try Self.configuration()
        try await Fixtures.withStore(kind) { store async throws in
            try await Self.seed(store)
            let snapshot = ForecastSnapshot()
            let now = Fixtures.calendar.startOfDay(Self.planDate)
            await ForecastService(
                snapshot: snapshot, store: store, registry: Registry(configuration), calendar: Fixtures.calendar,
                settings: configuration.forecast, collectionFill: 0.8, logger: Fixtures.logger, clock: { now }
            ).refresh()
            #expect(snapshot.forecasts != nil)
            let engine = AlertEngine(
                configuration: configuration, registry: Registry(configuration), store: store,
                metricsFactory: NOOPMetricsHandler.instance,
                logger: Fixtures.logger, clock: { now }, forecasts: snapshot)
            func state(_ fill: Double, minutes: Int64) -> AlertObservation {
                .binState(
                    StatePayload(
                        device: "pt-a", ts: Fixtures.time(minutes, day: 8), bin: "wet", stream: .wet, fill: fill,
                        massKg: 10, lidOpen: false,
                        quality: .good, temperatureC: nil))
            }
            // 09:00 at 40 %: 144 L to full at 12 L an hour is 12 h away, beyond the 6 h horizon.
            await engine.observe(state(0.4, minutes: 60))
            #expect(try await store.openAlerts().filter { $0.kind == .binFullSoon }.isEmpty)
            // 10:00 at 75 %: 60 L to go, 5 h: raised.
            await engine.observe(state(0.75, minutes: 120))
            let open = try await store.openAlerts().filter { $0.kind == .binFullSoon }
            #expect(open.map(\.subject) == ["bin:pt-a/wet"])
            #expect(
                open.first?.message.contains("forecast full at 2026-06-08 15:") == true, "\(open.first?.message ?? "")")
            // Emptied at 10:30.
            await engine.observe(state(0.02, minutes: 150))
            #expect(try await store.openAlerts().filter { $0.kind == .binFullSoon }.isEmpty)
        }
    }
}
