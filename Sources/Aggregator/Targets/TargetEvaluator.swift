import BinProtocol
import Foundation

/// Where a target stands.
public enum TargetTrack: String, Sendable, Codable, CaseIterable, Comparable {
    case onTrack = "on_track"
    case atRisk = "at_risk"
    case offTrack = "off_track"

    public static func < (lhs: Self, rhs: Self) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }

    /// The value `target_off_track` and `coverage_behind` alerts compare: 0, 1, 2.
    public var severityValue: Double { Double(Self.allCases.firstIndex(of: self)!) }
}

/// One target with its current value, its projection to the deadline and its status.
public struct TargetStatus: Sendable, Codable, Equatable {
    public enum Direction: String, Sendable, Codable {
        /// The value should reach the target (separation, recovery, dry reduction, coverage).
        case atLeast = "at_least"
        /// The value should stay at or below the target (contamination).
        case atMost = "at_most"
    }

    /// `separation_rate`, `recovery_rate`, `dry_reduction`, `contamination_rate` or `coverage.{milestone}`.
    public var id: String
    public var name: String
    public var direction: Direction
    public var target: Double
    public var deadline: LocalDate
    /// `nil` while there is no data.
    public var current: Double?
    public var projected: Double?
    /// For coverage milestones: where the linear plan from the programme start says the value should be today.
    public var planned: Double?
    public var status: TargetTrack
    public var detail: String

    enum CodingKeys: String, CodingKey {
        case id, name, direction, target, deadline, current, projected, planned, status, detail
    }
}

/// A sorting point as coverage sees it.
public struct CoveragePoint: Sendable, Equatable {
    public var device: String
    public var community: String
    public var street: String
    public var demonstration: Bool
    /// The point has both a wet and a dry bin (from its birth message) and reported within the window.
    public var covered: Bool

    public init(device: String, community: String, street: String, demonstration: Bool, covered: Bool) {
        self.device = device
        self.community = community
        self.street = street
        self.demonstration = demonstration
        self.covered = covered
    }
}

/// Computes target statuses from ledger figures and coverage. Pure: the same inputs give the same
/// answer, so the projection method is tested without a database.
///
/// Projection method (docs/aggregator.md):
/// - Rate targets: `current` is the ratio of sums over the last `currentDays` local days up to and
///   including the evaluation day. The trend is the least-squares slope of the daily values over the last
///   `trendDays` days with data (at least 7 such days, else no trend). `projected = current + slope ×
///   days to the deadline`, clamped to 0...1; on or after the deadline `projected = current`. Status:
///   `on_track` when the projection meets the target, `at_risk` when it misses by at most `atRiskMargin`
///   × target, `off_track` otherwise. No data at all is `at_risk`.
/// - Dry reduction: the daily value is `1 − dry kg that day ÷ baseline kg/day`, `current` uses the mean dry
///   kg per day with data in the window; otherwise as above.
/// - Coverage milestones: the plan rises linearly from 0 at `targets.start` (or 90 days before the
///   deadline) to the target at the deadline. `on_track` when the current value is at or above the plan
///   for today, `at_risk` when it is short by at most `atRiskMargin` × target, `off_track` otherwise; after
///   the deadline anything short of the target is `off_track`. `projected` extrapolates the pace so far.
public struct TargetEvaluator: Sendable {
    public var settings: TargetSettings
    public var registry: Registry

    public init(settings: TargetSettings, registry: Registry) {
        self.settings = settings
        self.registry = registry
    }

    /// Ledger days the evaluation needs, ending at `today`.
    public func window(today: LocalDate) -> ClosedRange<LocalDate> {
        today.adding(days: Int64(1 - max(settings.trendDays, settings.currentDays)))...today
    }

    /// `daily` holds the district's figures per local day (days without data may be missing).
    public func evaluate(today: LocalDate, daily: [LocalDate: StreamFigures], coverage: [CoveragePoint])
        -> [TargetStatus]
    {
        var statuses: [TargetStatus] = []
        if let target = settings.separationRate {
            statuses.append(
                rate(
                    id: "separation_rate", name: "Separation rate", target: target, direction: .atLeast, today: today,
                    daily: daily,
                    value: { $0.separationRate }))
        }
        if let target = settings.recoveryRate {
            statuses.append(
                rate(
                    id: "recovery_rate", name: "Recovery rate", target: target, direction: .atLeast, today: today,
                    daily: daily,
                    value: { $0.recoveryRate }))
        }
        if let target = settings.dryReduction, let baseline = settings.baselineDryKgPerDay {
            statuses.append(dryReduction(target: target, baseline: baseline, today: today, daily: daily))
        }
        if let target = settings.contaminationRate {
            statuses.append(
                rate(
                    id: "contamination_rate", name: "Contamination rate", target: target, direction: .atMost,
                    today: today,
                    daily: daily, value: { $0.contaminationRate }))
        }
        for milestone in settings.coverage {
            statuses.append(self.coverage(milestone, today: today, points: coverage))
        }
        return statuses
    }

    // MARK: Rates

    func rate(
        id: String, name: String, target: TargetSettings.RateTarget, direction: TargetStatus.Direction,
        today: LocalDate,
        daily: [LocalDate: StreamFigures], value: (StreamFigures) -> Double?
    ) -> TargetStatus {
        let currentWindow = today.adding(days: Int64(1 - settings.currentDays))...today
        let windowFigures = daily.filter { currentWindow.contains($0.key) }.values.reduce(StreamFigures(), +)
        let current = value(windowFigures)
        let series = trendSeries(today: today, daily: daily, value: value)
        return judge(
            id: id, name: name, target: target, direction: direction, today: today, current: current, series: series,
            detail: current == nil
                ? "no deposits in the last \(settings.currentDays) days" : "over the last \(settings.currentDays) days")
    }

    func dryReduction(
        target: TargetSettings.RateTarget, baseline: Double, today: LocalDate, daily: [LocalDate: StreamFigures]
    )
        -> TargetStatus
    {
        let currentWindow = today.adding(days: Int64(1 - settings.currentDays))...today
        let days = daily.filter { currentWindow.contains($0.key) && $0.value.total.deposits > 0 }
        let current: Double? =
            days.isEmpty ? nil : 1 - days.values.reduce(0) { $0 + $1[.dry].depositedKg } / Double(days.count) / baseline
        let series = trendSeries(today: today, daily: daily) { figures in
            figures.total.deposits > 0 ? 1 - figures[.dry].depositedKg / baseline : nil
        }
        let detail =
            current.map {
                String(format: "dry %.1f kg/day against a baseline of %.1f kg/day", (1 - $0) * baseline, baseline)
            } ?? "no deposits in the last \(settings.currentDays) days"
        return judge(
            id: "dry_reduction", name: "Dry waste reduction", target: target, direction: .atLeast, today: today,
            current: current,
            series: series, detail: detail, clampToUnit: false)
    }

    func trendSeries(today: LocalDate, daily: [LocalDate: StreamFigures], value: (StreamFigures) -> Double?) -> [(
        Double, Double
    )] {
        let trendWindow = today.adding(days: Int64(1 - settings.trendDays))...today
        return daily.filter { trendWindow.contains($0.key) }.sorted { $0.key < $1.key }.compactMap { day, figures in
            value(figures).map { (Double(day.dayNumber - today.dayNumber), $0) }
        }
    }

    func judge(
        id: String, name: String, target: TargetSettings.RateTarget, direction: TargetStatus.Direction,
        today: LocalDate,
        current: Double?, series: [(Double, Double)], detail: String, clampToUnit: Bool = true
    ) -> TargetStatus {
        guard let current else {
            return TargetStatus(
                id: id, name: name, direction: direction, target: target.target, deadline: target.by, current: nil,
                projected: nil,
                planned: nil, status: .atRisk, detail: detail)
        }
        let remaining = Double(max(0, target.by.dayNumber - today.dayNumber))
        let slope = series.count >= 7 ? Self.leastSquaresSlope(series) : 0
        var projected = current + slope * remaining
        projected = clampToUnit ? min(1, max(0, projected)) : min(1, projected)
        let status = Self.track(
            value: projected, target: target.target, direction: direction, margin: settings.atRiskMargin)
        return TargetStatus(
            id: id, name: name, direction: direction, target: target.target, deadline: target.by, current: current,
            projected: projected, planned: nil, status: status, detail: detail)
    }

    static func track(value: Double, target: Double, direction: TargetStatus.Direction, margin: Double) -> TargetTrack {
        switch direction {
        case .atLeast:
            if value >= target - 1e-12 { return .onTrack }
            return value >= target - margin * abs(target) - 1e-12 ? .atRisk : .offTrack
        case .atMost:
            if value <= target + 1e-12 { return .onTrack }
            return value <= target + margin * abs(target) + 1e-12 ? .atRisk : .offTrack
        }
    }

    /// Slope of the least-squares line through `points` (x, y); 0 when x does not vary.
    static func leastSquaresSlope(_ points: [(Double, Double)]) -> Double {
        let n = Double(points.count)
        guard n >= 2 else { return 0 }
        let meanX = points.reduce(0) { $0 + $1.0 } / n
        let meanY = points.reduce(0) { $0 + $1.1 } / n
        let sxx = points.reduce(0) { $0 + ($1.0 - meanX) * ($1.0 - meanX) }
        guard sxx > 0 else { return 0 }
        let sxy = points.reduce(0) { $0 + ($1.0 - meanX) * ($1.1 - meanY) }
        return sxy / sxx
    }

    // MARK: Coverage

    func coverage(_ milestone: TargetSettings.CoverageMilestone, today: LocalDate, points: [CoveragePoint])
        -> TargetStatus
    {
        let current: Double
        let target: Double
        let detail: String
        switch milestone.rule {
        case .communities(let fraction):
            let covered = Set(points.filter(\.covered).map(\.community))
            let communities = registry.sortingCommunities
            let total = communities.count
            current = total > 0 ? Double(communities.filter { covered.contains($0.id) }.count) / Double(total) : 0
            target = fraction
            detail = "\(Int((current * Double(total)).rounded())) of \(total) communities covered"
        case .pointsPerStreet(let count, let demonstrationOnly):
            var coveredPerStreet: [String: Int] = [:]
            for point in points where point.covered && (!demonstrationOnly || point.demonstration) {
                coveredPerStreet[point.street, default: 0] += 1
            }
            let total = registry.streets.count
            let meeting = registry.streets.filter { coveredPerStreet[$0.id, default: 0] >= count }.count
            current = total > 0 ? Double(meeting) / Double(total) : 0
            target = 1
            detail =
                "\(meeting) of \(total) streets have \(count) covered \(demonstrationOnly ? "demonstration " : "")points"
        }
        let start = settings.start ?? milestone.by.adding(days: -90)
        let span = Double(max(1, milestone.by.dayNumber - start.dayNumber))
        let elapsed = Double(min(max(0, today.dayNumber - start.dayNumber), Int64(span)))
        let planned = target * elapsed / span
        let projected = elapsed > 0 ? min(1, current * span / elapsed) : current
        let status: TargetTrack
        if today >= milestone.by {
            status = current >= target - 1e-12 ? .onTrack : .offTrack
        } else if current >= planned - 1e-12 || current >= target - 1e-12 {
            status = .onTrack
        } else {
            status = current >= planned - settings.atRiskMargin * target - 1e-12 ? .atRisk : .offTrack
        }
        return TargetStatus(
            id: "coverage.\(milestone.id)", name: milestone.name, direction: .atLeast, target: target,
            deadline: milestone.by,
            current: current, projected: projected, planned: planned, status: status, detail: detail)
    }

    /// Which points count as covered at `nowMs`: both a wet and a dry bin, heard from within the window.
    public static func coveragePoints(
        registry: Registry, devices: [DeviceRecord], nowMs: Int64, windowHours: Int
    ) -> [CoveragePoint] {
        let byDevice = Dictionary(devices.map { ($0.device, $0) }, uniquingKeysWith: { first, _ in first })
        return registry.points.filter { registry.isSorting(device: $0.device) }.map { point in
            let record = byDevice[point.device]
            let streams = Set(record?.bins.map(\.stream) ?? [])
            let recent = record?.lastSeenMs.map { nowMs - $0 <= Int64(windowHours) * 3_600_000 } ?? false
            return CoveragePoint(
                device: point.device, community: point.community, street: point.street,
                demonstration: point.demonstration,
                covered: recent && streams.contains(.wet) && streams.contains(.dry))
        }
    }
}

extension TargetEvaluator {
    /// Reads what the evaluation needs from the store and evaluates on `today` (by default `nowMs`'s local
    /// day), with coverage judged at `nowMs`. `devices` saves reading them again when the caller has them.
    public func evaluate(
        store: any AggregatorStore, calendar: LedgerCalendar, nowMs: Int64, today: LocalDate? = nil,
        devices: [DeviceRecord]? = nil
    ) async throws(AggregatorError) -> [TargetStatus] {
        let today = today ?? calendar.today(nowMilliseconds: nowMs)
        let window = window(today: today)
        let daily = try await Self.districtDaily(
            store: store, registry: registry, from: window.lowerBound, to: window.upperBound)
        let devices = if let devices { devices } else { try await store.devices() }
        let coverage = Self.coveragePoints(
            registry: registry, devices: devices, nowMs: nowMs, windowHours: settings.coverageWindowHours)
        return evaluate(today: today, daily: daily, coverage: coverage)
    }

    /// The district's figures per local day (the database sums the sorting points' bins).
    public static func districtDaily(store: any AggregatorStore, registry: Registry, from: LocalDate, to: LocalDate)
        async throws(AggregatorError) -> [LocalDate: StreamFigures]
    {
        var byDay: [LocalDate: [WasteStream: LedgerFigures]] = [:]
        for total in try await store.dailyTotals(devices: registry.sortingDevices, from: from, to: to) {
            byDay[total.day, default: [:]][total.stream, default: .zero] += total.figures
        }
        return byDay.mapValues { StreamFigures(byStream: $0) }
    }
}
