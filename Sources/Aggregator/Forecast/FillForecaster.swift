/// What a forecast was based on: the bin's own hour-of-week profile, only its average rate (history too
/// thin to have learned any hour), or, for a bin with too little history, its stream's average profile
/// in the community.
public enum FillForecastBasis: String, Sendable, Codable {
    case hourOfWeek = "hour_of_week"
    case binAverage = "bin_average"
    case streamAverage = "stream_average"
}

/// When a bin is expected to reach its collection fill and to be full, with an interval around each.
/// A time is nil when it is not reached within the forecast's horizon (a latest time can also be nil when
/// the bin has had days without any deposit: nothing bounds how slowly it may fill). When the fill is
/// already at or above the level, all three times are the forecast's own time.
public struct FillForecast: Sendable, Equatable {
    public var basis: FillForecastBasis
    /// Reaching `collectionFill`.
    public var collectionAtMs: Int64?
    public var collectionEarliestMs: Int64?
    public var collectionLatestMs: Int64?
    /// Reaching fill 1.0.
    public var fullAtMs: Int64?
    public var fullEarliestMs: Int64?
    public var fullLatestMs: Int64?

    public init(
        basis: FillForecastBasis, collectionAtMs: Int64?, collectionEarliestMs: Int64?, collectionLatestMs: Int64?,
        fullAtMs: Int64?, fullEarliestMs: Int64?, fullLatestMs: Int64?
    ) {
        self.basis = basis
        self.collectionAtMs = collectionAtMs
        self.collectionEarliestMs = collectionEarliestMs
        self.collectionLatestMs = collectionLatestMs
        self.fullAtMs = fullAtMs
        self.fullEarliestMs = fullEarliestMs
        self.fullLatestMs = fullLatestMs
    }
}

/// Turns a fill level and a learned rate profile into the time a bin reaches a level.
///
/// The expected time integrates the profile's hourly rates forward. The interval answers the two ways
/// a real bin departs from that curve:
/// - a busier or quieter day than usual: the rate is scaled by the profile's low and high daily ratios
///   (the 5th and 95th percentiles of how far a whole day's volume strayed from what the other days
///   predicted for it);
/// - deposits arrive in steps: the bin can cross the level one typical deposit (the 90th percentile of
///   deposit volumes) before the smooth curve does, or one deposit after.
///
/// So the earliest time is when the curve scaled by the high ratio reaches the remaining litres minus one
/// deposit, and the latest when the curve scaled by the low ratio reaches the remaining litres plus one
/// deposit. The bench (`bins-plan-bench forecast`) prints how often the real time falls inside.
public enum FillForecaster {
    /// Integrates the profile's hourly rates forward from `atMs` (partial hours handled) starting at `fill`
    /// (fraction, 0 to beyond 1) in a bin of `capacityL` until `collectionFill` and 1.0 are reached, up to
    /// `horizonMs`. A `profile` that is nil or observed less than `minimumHistoryHours` gives way to
    /// `fallback` (the stream's average profile in the community); without a fallback, a profile with any
    /// history is used for its average rate alone. Nil when there is nothing to forecast from or no
    /// capacity.
    public static func forecast(
        fill: Double, atMs: Int64, capacityL: Double, collectionFill: Double, profile: FillRateProfile?,
        fallback: FillRateProfile?, calendar: LedgerCalendar, horizonMs: Int64, minimumHistoryHours: Double = 24
    ) -> FillForecast? {
        guard capacityL > 0, fill.isFinite, horizonMs >= 0 else { return nil }
        let chosen: FillRateProfile
        let basis: FillForecastBasis
        if let profile, profile.observedHours >= minimumHistoryHours {
            chosen = profile
            basis = profile.learnedSlots > 0 ? .hourOfWeek : .binAverage
        } else if let fallback, fallback.observedHours > 0 {
            chosen = fallback
            basis = .streamAverage
        } else if let profile, profile.observedHours > 0 {
            chosen = profile
            basis = .binAverage
        } else {
            return nil
        }
        let useSlots = basis != .binAverage

        // Per level: expected, earliest, latest, as litres of the unscaled curve (nil = never).
        var targets: [Double?] = []
        for level in [collectionFill, 1.0] {
            guard fill < level else {
                targets += [0, 0, 0]
                continue
            }
            let remaining = (level - fill) * capacityL
            let step = chosen.typicalDepositLitres
            targets.append(remaining)
            targets.append(max(0, remaining - step) / max(chosen.highDailyRatio, 1))
            targets.append(chosen.lowDailyRatio > 0 ? (remaining + step) / min(chosen.lowDailyRatio, 1) : nil)
        }
        var clock = HourOfWeekClock(calendar: calendar)
        let times = crossings(
            of: targets, from: atMs, horizonMs: horizonMs, profile: chosen, useSlots: useSlots, clock: &clock)
        return FillForecast(
            basis: basis, collectionAtMs: times[0], collectionEarliestMs: times[1], collectionLatestMs: times[2],
            fullAtMs: times[3], fullEarliestMs: times[4], fullLatestMs: times[5])
    }

    /// The naive baseline for the benchmark: the bin's average rate, constant. Nil when the bin has never
    /// filled at all.
    public static func baseline(fill: Double, atMs: Int64, capacityL: Double, level: Double, profile: FillRateProfile)
        -> Int64?
    {
        guard fill < level else { return atMs }
        guard profile.averageLitresPerHour > 0, capacityL > 0 else { return nil }
        let ms = (level - fill) * capacityL / profile.averageLitresPerHour * Double(HourOfWeekClock.hourMs)
        guard ms < Double(Int64.max / 2) else { return nil }
        return atMs + Int64(ms.rounded())
    }

    /// When the cumulative litres of the profile's curve from `atMs` first reach each target (nil targets
    /// and targets not reached within the horizon stay nil).
    static func crossings(
        of targets: [Double?], from atMs: Int64, horizonMs: Int64, profile: FillRateProfile, useSlots: Bool,
        clock: inout HourOfWeekClock
    ) -> [Int64?] {
        var result = [Int64?](repeating: nil, count: targets.count)
        let pending = targets.indices.filter { targets[$0] != nil }.sorted { targets[$0]! < targets[$1]! }
        var next = 0
        while next < pending.count && targets[pending[next]]! <= 0 {
            result[pending[next]] = atMs
            next += 1
        }
        let (sum, overflow) = atMs.addingReportingOverflow(horizonMs)
        let end = overflow ? Int64.max : sum
        var t = atMs
        var cumulative = 0.0
        let hourMs = Double(HourOfWeekClock.hourMs)
        while next < pending.count && t < end {
            let boundary = min(clock.nextHourBoundary(after: t), end)
            let rate =
                useSlots ? profile.effectiveLitresPerHour(hourOfWeek: clock.slot(at: t)) : profile.averageLitresPerHour
            let litres = max(0, rate) * Double(boundary - t) / hourMs
            while next < pending.count && cumulative + litres >= targets[pending[next]]! {
                let needed = targets[pending[next]]! - cumulative
                result[pending[next]] = min(boundary, t + Int64((needed / rate * hourMs).rounded()))
                next += 1
            }
            cumulative += litres
            t = boundary
        }
        return result
    }
}
