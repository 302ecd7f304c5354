import Aggregator
import BinProtocol
import Testing

/// Targets from hand-built daily figures: the projection method of docs/aggregator.md, number by number.
@Suite("Targets")
struct TargetEvaluatorTests {
    static func registry() throws -> Registry {
        Registry(try AggregatorConfiguration.parse(yaml: ConfigurationTests.minimal, source: "aggregator.yaml"))
    }

    static func settings(
        separation: Double? = nil, contamination: Double? = nil, dryReduction: Double? = nil, baseline: Double? = nil,
        coverage: [TargetSettings.CoverageMilestone] = [], start: LocalDate? = nil
    ) -> TargetSettings {
        let by = LocalDate("2026-12-31")!
        return TargetSettings(
            start: start, baselineDryKgPerDay: baseline, dryReduction: dryReduction.map { .init(target: $0, by: by) },
            separationRate: separation.map { .init(target: $0, by: by) }, recoveryRate: nil,
            contaminationRate: contamination.map { .init(target: $0, by: by) }, coverage: coverage, atRiskMargin: 0.1,
            trendDays: 28, currentDays: 7, coverageWindowHours: 24)
    }

    /// `days` days ending at `today`, each with `wet(day)` and `dry(day)` kg deposited (day 0 = today).
    static func daily(today: LocalDate, days: Int, wet: (Int) -> Double, dry: (Int) -> Double, contaminated: Double = 0)
        -> [LocalDate: StreamFigures]
    {
        var result: [LocalDate: StreamFigures] = [:]
        for back in 0..<days {
            result[today.adding(days: Int64(-back))] = StreamFigures(byStream: [
                .wet: LedgerFigures(depositedKg: wet(back), deposits: 1, contaminatedKg: contaminated),
                .dry: LedgerFigures(depositedKg: dry(back), deposits: 1),
            ])
        }
        return result
    }

    let today = LocalDate("2026-06-30")!

    @Test("a flat separation rate short of its target by more than the margin is off track")
    func flatOffTrack() throws {
        let evaluator = TargetEvaluator(settings: Self.settings(separation: 0.35), registry: try Self.registry())
        let status = try #require(
            evaluator.evaluate(
                today: today, daily: Self.daily(today: today, days: 28, wet: { _ in 3 }, dry: { _ in 7 }), coverage: []
            )
            .first)
        #expect(status.id == "separation_rate")
        #expect(abs(status.current! - 0.3) < 1e-12)
        #expect(abs(status.projected! - 0.3) < 1e-9)
        #expect(status.status == .offTrack)
        // Short by 0.02 <= 10 % of 0.32: at risk.
        let close = TargetEvaluator(settings: Self.settings(separation: 0.32), registry: try Self.registry())
        #expect(
            close.evaluate(
                today: today, daily: Self.daily(today: today, days: 28, wet: { _ in 3 }, dry: { _ in 7 }), coverage: []
            )
            .first?.status == .atRisk)
    }

    @Test("a rising trend projected past the target is on track")
    func risingTrend() throws {
        // The daily separation rate rises by 0.001 a day: 0.3 today, 0.273 four weeks ago.
        let evaluator = TargetEvaluator(settings: Self.settings(separation: 0.35), registry: try Self.registry())
        let daily = Self.daily(
            today: today, days: 28, wet: { 100 * (0.3 - 0.001 * Double($0)) }, dry: { 100 * (0.7 + 0.001 * Double($0)) }
        )
        let status = try #require(evaluator.evaluate(today: today, daily: daily, coverage: []).first)
        // current: mean over the last 7 days = 0.297; slope 0.001/day; 184 days to 2026-12-31.
        #expect(abs(status.current! - 0.297) < 1e-9)
        #expect(abs(status.projected! - (0.297 + 0.184)) < 1e-6)
        #expect(status.status == .onTrack)
    }

    @Test("contamination is a ceiling; dry reduction compares with the baseline")
    func ceilingAndReduction() throws {
        let evaluator = TargetEvaluator(
            settings: Self.settings(contamination: 0.1, dryReduction: 0.15, baseline: 10), registry: try Self.registry()
        )
        // 8 kg dry a day against a baseline of 10: 20 % less. 2 kg of 10 kg contaminated: 20 %.
        let daily = Self.daily(today: today, days: 10, wet: { _ in 2 }, dry: { _ in 8 }, contaminated: 2)
        let statuses = evaluator.evaluate(today: today, daily: daily, coverage: [])
        let reduction = try #require(statuses.first { $0.id == "dry_reduction" })
        #expect(abs(reduction.current! - 0.2) < 1e-12)
        #expect(reduction.status == .onTrack)
        let contamination = try #require(statuses.first { $0.id == "contamination_rate" })
        #expect(contamination.direction == .atMost)
        #expect(abs(contamination.current! - 0.2) < 1e-12)
        #expect(contamination.status == .offTrack)
    }

    @Test("no data is at risk, not on track")
    func noData() throws {
        let evaluator = TargetEvaluator(settings: Self.settings(separation: 0.35), registry: try Self.registry())
        let status = try #require(evaluator.evaluate(today: today, daily: [:], coverage: []).first)
        #expect(status.current == nil)
        #expect(status.status == .atRisk)
    }

    @Test("coverage milestones follow a linear plan from the programme start")
    func coverage() throws {
        let registry = try Self.registry()  // one street, one community, points pt-1 and pt-2
        let milestone = TargetSettings.CoverageMilestone(
            id: "all", name: "Every community", rule: .communities(fraction: 1), by: LocalDate("2026-09-30")!)
        let perStreet = TargetSettings.CoverageMilestone(
            id: "demo", name: "Two points per street", rule: .pointsPerStreet(count: 2, demonstrationOnly: false),
            by: LocalDate("2026-09-30")!)
        let evaluator = TargetEvaluator(
            settings: Self.settings(
                coverage: [milestone, perStreet], start: LocalDate("2026-06-30")!.adding(days: -92)),
            registry: registry)
        let one = [
            CoveragePoint(device: "pt-1", community: "c1", street: "s1", demonstration: false, covered: true),
            CoveragePoint(device: "pt-2", community: "c1", street: "s1", demonstration: false, covered: false),
        ]
        let statuses = evaluator.evaluate(today: today, daily: [:], coverage: one)
        let all = try #require(statuses.first { $0.id == "coverage.all" })
        #expect(all.current == 1)
        #expect(all.status == .onTrack)
        let demo = try #require(statuses.first { $0.id == "coverage.demo" })
        // Halfway through the plan (92 of 184 days), no street has two covered points: 0 against 0.5 planned.
        #expect(demo.current == 0)
        #expect(abs(demo.planned! - 0.5) < 1e-12)
        #expect(demo.status == .offTrack)
        // After the deadline anything short of the target is off track.
        let late = evaluator.evaluate(today: LocalDate("2026-10-01")!, daily: [:], coverage: one)
        #expect(late.first { $0.id == "coverage.demo" }?.status == .offTrack)
        let covered = one.map { point in
            var point = point
            point.covered = true
            return point
        }
        #expect(
            evaluator.evaluate(today: LocalDate("2026-10-01")!, daily: [:], coverage: covered).allSatisfy {
                $0.status == .onTrack
            })
    }

    @Test("a point is covered with both a wet and a dry bin heard from within the window")
    func coveragePoints() throws {
        let registry = try Self.registry()
        var full = DeviceRecord(device: "pt-1")
        full.bins = [
            BinDescriptor(id: "w", stream: .wet, capacityL: 120), BinDescriptor(id: "d", stream: .dry, capacityL: 120),
        ]
        full.lastSeenMs = 1_000_000_000
        var wetOnly = DeviceRecord(device: "pt-2")
        wetOnly.bins = [BinDescriptor(id: "w", stream: .wet, capacityL: 120)]
        wetOnly.lastSeenMs = 1_000_000_000
        let now: Int64 = 1_000_000_000 + 24 * 3_600_000
        let points = TargetEvaluator.coveragePoints(
            registry: registry, devices: [full, wetOnly], nowMs: now, windowHours: 24)
        #expect(points.map(\.covered) == [true, false])
        let later = TargetEvaluator.coveragePoints(
            registry: registry, devices: [full, wetOnly], nowMs: now + 1, windowHours: 24)
        #expect(later.map(\.covered) == [false, false])
    }
}
