import Aggregator
import BinProtocol
import Foundation
import Testing

/// Reports for a known week, checked against figures worked out by hand (in the comments).
@Suite("Reports")
struct ReportTests {
    static let yaml = """
        time_zone: Asia/Shanghai
        instance: test
        broker: {host: 127.0.0.1}
        storage: {sqlite: unused.sqlite}
        district: {id: riverside, name: Riverside}
        streets:
          - id: s-east
            name: East
            communities:
              - {id: c-a, name: Garden, kind: property, households: 600, points: [pt-a1]}
              - {id: c-b, name: Market, kind: open, households: 400, points: [pt-b1]}
          - id: s-west
            name: West
            communities:
              - {id: c-c, name: School, kind: institution, households: 1000, points: [pt-c1]}
        targets:
          baseline: {dry_kg_per_day: 100}
          separation_rate: {target: 0.4, by: 2026-12-31}
          recovery_rate: {target: 0.5, by: 2026-12-31}
          dry_reduction: {target: 0.2, by: 2026-12-31}
          contamination_rate: {ceiling: 0.1, by: 2026-12-31}
        reports:
          funding_pool: 1000
        """

    /// Local time in Shanghai.
    static func at(_ text: String) -> WireTimestamp { WireTimestamp(rfc3339: text + ":00.000+08:00")! }

    static func withWeek(_ body: (ReportBuilder) async throws -> Void) async throws {
        let configuration = try AggregatorConfiguration.parse(yaml: yaml, source: "aggregator.yaml")
        try await Fixtures.withStore(.sqlite) { store async throws in
            let bins: [String: [BinDescriptor]] = [
                "pt-a1": [
                    BinDescriptor(id: "wet", stream: .wet, capacityL: 120),
                    BinDescriptor(id: "dry", stream: .dry, capacityL: 240),
                ],
                "pt-b1": [
                    BinDescriptor(id: "wet", stream: .wet, capacityL: 120),
                    BinDescriptor(id: "dry", stream: .dry, capacityL: 240),
                ],
                "pt-c1": [
                    BinDescriptor(id: "wet", stream: .wet, capacityL: 120),
                    BinDescriptor(id: "dry", stream: .dry, capacityL: 240),
                    BinDescriptor(id: "rec", stream: .recyclable, capacityL: 240),
                ],
            ]
            for (device, list) in bins {
                let birth = BirthPayload(
                    device: device, ts: at("2026-06-01T06:00"), session: 1, version: "1", configHash: "h", board: "b",
                    bins: list)
                try await store.recordBirth(birth, receivedAtMs: at("2026-06-01T06:00").millisecondsSinceEpoch)
            }
            let events: [EventPayload] = [
                // Outside the week (Sunday before, Monday after), inside the quarter.
                Fixtures.deposit("pt-a1", seq: 1, at: at("2026-05-31T23:30"), kg: 100),
                Fixtures.deposit("pt-a1", seq: 2, at: at("2026-06-01T10:00"), kg: 6, litres: 10),
                Fixtures.deposit(
                    "pt-a1", seq: 3, at: at("2026-06-01T11:00"), bin: "dry", stream: .dry, kg: 4, litres: 40,
                    observed: .dry),
                Fixtures.deposit("pt-a1", seq: 4, at: at("2026-06-02T09:00"), kg: 4, litres: 8),
                Fixtures.deposit(
                    "pt-a1", seq: 5, at: at("2026-06-03T08:00"), bin: "dry", stream: .dry, kg: 6, litres: 50,
                    observed: .wet, contaminated: true),
                Fixtures.collection("pt-a1", seq: 6, at: at("2026-06-03T15:00"), kg: 10),
                Fixtures.deposit("pt-b1", seq: 1, at: at("2026-06-02T12:00"), kg: 2, litres: 60),
                Fixtures.deposit(
                    "pt-b1", seq: 2, at: at("2026-06-02T13:00"), bin: "dry", stream: .dry, kg: 8, observed: .unknown),
                Fixtures.fault("pt-b1", seq: 3, at: at("2026-06-03T07:00"), active: true),
                Fixtures.deposit("pt-c1", seq: 1, at: at("2026-06-05T09:00"), kg: 10),
                Fixtures.deposit(
                    "pt-c1", seq: 2, at: at("2026-06-05T10:00"), bin: "dry", stream: .dry, kg: 10, litres: 200,
                    observed: .dry),
                Fixtures.collection("pt-c1", seq: 3, at: at("2026-06-05T12:00"), kg: 9, fillBefore: 0.9),
                Fixtures.deposit(
                    "pt-c1", seq: 4, at: at("2026-06-06T09:00"), bin: "rec", stream: .recyclable, kg: 5,
                    observed: .unknown),
                Fixtures.deposit(
                    "pt-c1", seq: 5, at: at("2026-06-08T00:10"), bin: "dry", stream: .dry, kg: 50, litres: 160,
                    observed: .dry),
            ]
            for event in events { _ = try await store.book(Fixtures.booking(event)) }
            let alerts = [
                AlertRecord(
                    id: "full-1", kind: .binFull, severity: .warning, state: .cleared, subject: "bin:pt-a1/wet",
                    value: 0.85, threshold: 0.8,
                    message: "full", raisedAtMs: at("2026-06-03T10:00").millisecondsSinceEpoch,
                    clearedAtMs: at("2026-06-03T14:00").millisecondsSinceEpoch),
                AlertRecord(
                    id: "off-1", kind: .deviceOffline, severity: .critical, state: .cleared, subject: "device:pt-b1",
                    value: 2000,
                    threshold: 900, message: "offline", raisedAtMs: at("2026-06-02T20:00").millisecondsSinceEpoch,
                    clearedAtMs: at("2026-06-04T08:00").millisecondsSinceEpoch),
                AlertRecord(
                    id: "mix-1", kind: .contamination, severity: .warning, subject: "bin:pt-c1/dry", value: 0.3,
                    threshold: 0.2,
                    message: "mixed", raisedAtMs: at("2026-06-05T11:00").millisecondsSinceEpoch),
            ]
            for alert in alerts { #expect(try await store.raiseAlert(alert, deliveries: [])) }
            try await body(ReportBuilder(configuration: configuration, registry: Registry(configuration), store: store))
        }
    }

    static let now = at("2026-06-30T18:00").millisecondsSinceEpoch

    func close(_ a: Double?, _ b: Double, _ tolerance: Double = 1e-9) -> Bool {
        a.map { abs($0 - b) <= tolerance } ?? false
    }

    @Test("weekly: district, days and communities add up to the hand-computed figures")
    func weekly() async throws {
        try await Self.withWeek { builder in
            guard
                case .weekly(let report) = try await builder.build(
                    .weekly, date: LocalDate("2026-06-03")!, nowMs: Self.now)
            else {
                Issue.record("expected a weekly report")
                return
            }
            #expect(report.header.period == "2026-W23")
            #expect(report.header.from.description == "2026-06-01")
            #expect(report.header.to.description == "2026-06-07")
            // wet 6+4+2+10 = 22, dry 4+6+8+10 = 28, recyclable 5; collected 10 + 9.
            let district = report.district
            #expect(district.streams[.wet].depositedKg == 22)
            #expect(district.streams[.dry].depositedKg == 28)
            #expect(district.streams[.recyclable].depositedKg == 5)
            #expect(district.total.depositedKg == 55)
            #expect(district.total.collectedKg == 19)
            #expect(district.total.deposits == 9)
            #expect(district.total.collections == 2)
            #expect(district.total.contaminatedKg == 6)
            #expect(district.total.unknownKg == 13)  // 8 dry at pt-b1 + 5 recyclable at pt-c1
            #expect(close(district.separationRate, 22.0 / 50))
            #expect(close(district.recoveryRate, 27.0 / 55))
            #expect(close(district.contaminationRate, 6.0 / 55))
            #expect(report.days.map(\.id) == (1...7).map { "2026-06-0\($0)" })
            #expect(report.days.map(\.total.depositedKg) == [10, 14, 6, 0, 20, 5, 0])
            #expect(report.days.map(\.total.collectedKg) == [0, 0, 10, 0, 9, 0, 0])
            #expect(report.communities.map(\.id) == ["c-a", "c-b", "c-c"])
            #expect(report.communities.map(\.total.depositedKg) == [20, 10, 25])
            #expect(report.communities.map(\.parent) == ["s-east", "s-east", "s-west"])
            // Raised within the week: the bin_full, the device_offline and the contamination alert.
            #expect(report.alerts.filter { $0.count > 0 }.map(\.kind) == [.binFull, .deviceOffline, .contamination])
            #expect(
                report.targets.map(\.id) == ["separation_rate", "recovery_rate", "dry_reduction", "contamination_rate"])
        }
    }

    @Test("daily inspection: offline devices, full bins, faults and hot spots of that day")
    func daily() async throws {
        try await Self.withWeek { builder in
            guard
                case .daily(let report) = try await builder.build(
                    .daily, date: LocalDate("2026-06-03")!, nowMs: Self.now)
            else {
                Issue.record("expected a daily report")
                return
            }
            #expect(report.district.total.depositedKg == 6)
            #expect(report.district.total.collectedKg == 10)
            #expect(report.offlineDevices.map(\.id) == ["off-1"])
            #expect(report.fullBins.map(\.id) == ["full-1"])
            #expect(report.faults.map(\.code) == ["ranger.no_echo"])
            #expect(report.faults.first?.device == "pt-b1")
            // 6 kg in pt-a1's dry bin, all of it mis-sorted: 100 % against a 10 % ceiling.
            #expect(report.contaminationHotSpots.map { "\($0.device)/\($0.bin)" } == ["pt-a1/dry"])
            #expect(report.contaminationHotSpots.first?.rate == 1)
        }
    }

    @Test("monthly dispatch: fill rates from volumes or fill-before, suggested frequency, tonnage")
    func monthly() async throws {
        try await Self.withWeek { builder in
            guard
                case .monthly(let report) = try await builder.build(
                    .monthly, date: LocalDate("2026-06-10")!, nowMs: Self.now)
            else {
                Issue.record("expected a monthly report")
                return
            }
            #expect(report.days == 10)
            let a1 = try #require(report.points.first { $0.device == "pt-a1" })
            let a1Wet = try #require(a1.bins.first { $0.bin == "wet" })
            // 10 L + 8 L into 120 L over 10 days: 1.5 % a day; emptied at 80 %: once a week.
            #expect(close(a1Wet.fillRatePerDay, 18.0 / 120 / 10))
            #expect(a1Wet.suggestedCollectionsPerWeek == 1)
            #expect(a1Wet.collectedKg == 10)
            #expect(close(a1.collectedTonnes["wet"], 0.010))
            let c1 = try #require(report.points.first { $0.device == "pt-c1" })
            // 200 L + 160 L into 240 L over 10 days: 15 % a day -> 7 x 0.15 / 0.8 = 1.3 -> twice a week.
            let c1Dry = try #require(c1.bins.first { $0.bin == "dry" })
            #expect(close(c1Dry.fillRatePerDay, 360.0 / 240 / 10))
            #expect(c1Dry.suggestedCollectionsPerWeek == 2)
            // No volumes for pt-c1's wet bin: one collection at 90 % full in 10 days.
            let c1Wet = try #require(c1.bins.first { $0.bin == "wet" })
            #expect(close(c1Wet.fillRatePerDay, 0.09))
            #expect(c1Wet.suggestedCollectionsPerWeek == 1)
            #expect(close(report.collectedTonnes["wet"], 0.019))
        }
    }

    @Test("quarterly review: street scores, ranking and funding shares")
    func quarterly() async throws {
        try await Self.withWeek { builder in
            guard
                case .review(let report) = try await builder.build(
                    .quarterly, date: LocalDate("2026-06-03")!, nowMs: Self.now)
            else {
                Issue.record("expected a review")
                return
            }
            #expect(report.header.period == "2026-Q2")
            #expect(report.streets.map(\.id) == ["s-east", "s-west"])
            #expect(report.streets.map(\.rank) == [1, 2])
            let east = report.streets[0]
            // East: wet 112, dry 18 (4 days with deposits: 0, 4, 8, 6 -> 4.5 kg/day against 50) -> every component met.
            #expect(east.figures.total.depositedKg == 130)
            #expect(close(east.dryKgPerDay, 4.5))
            #expect(close(east.baselineDryKgPerDay, 50))
            #expect(close(east.dryReduction, 0.91))
            #expect(east.coverage == 1)
            #expect(close(east.score, 100))
            let west = report.streets[1]
            // West: separation 10/70 against 0.4, recovery 15/75 against 0.5, dry 20 kg/day against 50 (60 % less).
            #expect(close(west.figures.separationRate, 10.0 / 70))
            #expect(close(west.dryKgPerDay, 20))
            #expect(close(west.components["separation_rate"], (10.0 / 70) / 0.4))
            #expect(close(west.components["recovery_rate"], 0.4))
            #expect(close(west.components["dry_reduction"], 1))
            let westScore = 100 * (0.3 * (10.0 / 70 / 0.4) + 0.2 * 0.4 + 0.2 + 0.15 + 0.15)
            #expect(close(west.score, westScore, 1e-9))
            #expect(close(east.fundingAmount, 1000 * 100 / (100 + westScore), 1e-6))
            #expect(close(west.fundingAmount, 1000 * westScore / (100 + westScore), 1e-6))
            #expect(close(report.streets.reduce(0) { $0 + $1.fundingShare }, 1))
        }
    }

    @Test(
        "renderings: JSON round-trips, CSV has the tables, HTML is self-contained with charts, labels in both languages"
    )
    func renderings() async throws {
        try await Self.withWeek { builder in
            let content = try await builder.build(.weekly, date: LocalDate("2026-06-03")!, nowMs: Self.now)
            let json = ReportRenderer.render(content, format: .json, language: .en)
            let decoded = try JSONDecoder().decode(WeeklyReport.self, from: Data(json))
            guard case .weekly(let original) = content else { return }
            #expect(decoded == original)

            let csv = String(decoding: ReportRenderer.render(content, format: .csv, language: .en), as: UTF8.self)
            #expect(csv.hasPrefix("Weekly report\r\n"))
            #expect(csv.contains("\r\nBy day\r\nDate,Wet (kitchen): Deposited (kg),"))
            #expect(csv.contains("\r\n2026-06-02,6.00,8.00,0.00,0.00,0.00,3,0.00,8.00,42.86%,42.86%,0.00%\r\n"))

            let html = String(decoding: ReportRenderer.render(content, format: .html, language: .en), as: UTF8.self)
            #expect(html.hasPrefix("<!DOCTYPE html>"))
            #expect(html.contains("<svg"))
            #expect(!html.contains("<script"))
            // Self-contained: nothing loaded from elsewhere.
            #expect(
                !html.contains("<link") && !html.contains(" src=") && !html.contains("href=")
                    && !html.contains("@import"))

            let chinese = String(decoding: ReportRenderer.render(content, format: .html, language: .zh), as: UTF8.self)
            #expect(chinese.contains("<html lang=\"zh-CN\">"))
            #expect(chinese.contains("周报"))
            #expect(chinese.contains("湿垃圾（厨余）"))
            let chineseCSV = String(
                decoding: ReportRenderer.render(content, format: .csv, language: .zh), as: UTF8.self)
            #expect(chineseCSV.hasPrefix("\u{FEFF}周报"))

            for kind in ReportKind.allCases {
                let report = try await builder.build(kind, date: LocalDate("2026-06-03")!, nowMs: Self.now)
                for format in ReportFormat.allCases {
                    for language in ReportLanguage.allCases {
                        #expect(!ReportRenderer.render(report, format: format, language: language).isEmpty)
                    }
                }
            }
        }
    }
}
