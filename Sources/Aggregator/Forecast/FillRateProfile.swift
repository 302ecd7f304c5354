/// A bin's learned fill rate in litres per hour, per hour of the week (168 slots, Monday 00:00 local =
/// slot 0), so that a canteen's lunchtime and a residential evening both shape the forecast instead of
/// disappearing into one daily average.
///
/// A slot's rate blends what that very hour of the week saw with what the same hour of every day saw,
/// scaled by how busy that weekday is (`hour-of-day rate × weekday factor`), weighted by the weeks of
/// history the slot has against one week for the blend: with one or two weeks of history a single hour
/// of a single day holds a handful of deposits, so the pooled estimate carries it; as weeks accumulate
/// the slot's own history takes over (a weekend morning that starts later than weekdays, say).
///
/// The profile also carries what the forecast's interval needs: how far a day's volume strays from what
/// was expected of it (`lowDailyRatio`, `highDailyRatio`) and how large a single deposit typically is
/// (`typicalDepositLitres`, since the bin fills in steps, not smoothly).
public struct FillRateProfile: Sendable, Equatable {
    /// Litres per hour by slot; nil where the slot saw fewer than the minimum weeks of observation.
    public var hourlyRates: [Double?]
    /// Over the whole observed span.
    public var averageLitresPerHour: Double
    public var observedHours: Double
    /// The 5th and 95th percentiles of day volume ÷ expected day volume, always on either side of 1.
    public var lowDailyRatio: Double
    public var highDailyRatio: Double
    /// The 90th percentile of one deposit's volume.
    public var typicalDepositLitres: Double

    /// The ratios used while fewer than three whole days were observed: a guess, deliberately wide.
    public static let defaultDailyRatios = (low: 0.5, high: 1.5)

    public init(
        hourlyRates: [Double?], averageLitresPerHour: Double, observedHours: Double,
        lowDailyRatio: Double = FillRateProfile.defaultDailyRatios.low,
        highDailyRatio: Double = FillRateProfile.defaultDailyRatios.high, typicalDepositLitres: Double = 0
    ) {
        precondition(hourlyRates.count == HourOfWeekClock.slotsPerWeek, "a profile has 168 hourly slots")
        self.hourlyRates = hourlyRates
        self.averageLitresPerHour = averageLitresPerHour
        self.observedHours = observedHours
        self.lowDailyRatio = lowDailyRatio
        self.highDailyRatio = highDailyRatio
        self.typicalDepositLitres = typicalDepositLitres
    }

    /// The slot's rate, nil when the slot has too little history (use `averageLitresPerHour`).
    public func litresPerHour(hourOfWeek: Int) -> Double? {
        hourlyRates[Int(HourOfWeekClock.floorMod(Int64(hourOfWeek), Int64(HourOfWeekClock.slotsPerWeek)))]
    }

    /// The slot's rate, or the average where the slot has too little history.
    public func effectiveLitresPerHour(hourOfWeek: Int) -> Double {
        litresPerHour(hourOfWeek: hourOfWeek) ?? averageLitresPerHour
    }

    /// How many of the 168 slots have enough history of their own.
    public var learnedSlots: Int { hourlyRates.count(where: { $0 != nil }) }

    /// Learns from the bin's deposits (time in ms since epoch, deposit volume in litres; nil, negative and
    /// non-finite volumes are skipped) observed over [fromMs, toMs). Slots covered by fewer than
    /// `minimumWeeks` hours of observation are nil and fall back to the average.
    public static func learn(
        deposits: [(atMs: Int64, litres: Double?)], fromMs: Int64, toMs: Int64, calendar: LedgerCalendar,
        minimumWeeks: Int = 1
    ) -> FillRateProfile {
        let slots = HourOfWeekClock.slotsPerWeek
        var clock = HourOfWeekClock(calendar: calendar)
        var hours = [Double](repeating: 0, count: slots)
        var litres = [Double](repeating: 0, count: slots)
        guard toMs > fromMs else {
            return FillRateProfile(
                hourlyRates: Array(repeating: nil, count: slots), averageLitresPerHour: 0, observedHours: 0)
        }
        var t = fromMs
        while t < toMs {
            let next = min(clock.nextHourBoundary(after: t), toMs)
            hours[clock.slot(at: t)] += Double(next - t) / Double(HourOfWeekClock.hourMs)
            t = next
        }
        let observedHours = Double(toMs - fromMs) / Double(HourOfWeekClock.hourMs)

        // Whole local days inside the span, for the day-to-day spread.
        let firstDay = HourOfWeekClock.floorDiv(clock.local(fromMs) + HourOfWeekClock.dayMs - 1, HourOfWeekClock.dayMs)
        let endDay = HourOfWeekClock.floorDiv(clock.local(toMs), HourOfWeekClock.dayMs)
        var dayTotals = [Double](repeating: 0, count: max(0, Int(endDay - firstDay)))
        var volumes: [Double] = []
        var total = 0.0
        for deposit in deposits where deposit.atMs >= fromMs && deposit.atMs < toMs {
            guard let volume = deposit.litres, volume.isFinite, volume >= 0 else { continue }
            litres[clock.slot(at: deposit.atMs)] += volume
            total += volume
            volumes.append(volume)
            let day = clock.dayNumber(at: deposit.atMs)
            if day >= firstDay && day < endDay { dayTotals[Int(day - firstDay)] += volume }
        }
        let average = total / observedHours

        // The pooled estimate: hour of the day (over all weekdays) scaled by the weekday's busyness.
        var hourOfDay = [Double](repeating: average, count: 24)
        for hour in 0..<24 {
            let l = (0..<7).reduce(0.0) { $0 + litres[$1 * 24 + hour] }
            let h = (0..<7).reduce(0.0) { $0 + hours[$1 * 24 + hour] }
            if h > 0 { hourOfDay[hour] = l / h }
        }
        var weekdayFactor = [Double](repeating: 1, count: 7)
        for weekday in 0..<7 where average > 0 {
            let l = (0..<24).reduce(0.0) { $0 + litres[weekday * 24 + $1] }
            let h = (0..<24).reduce(0.0) { $0 + hours[weekday * 24 + $1] }
            if h > 0 { weekdayFactor[weekday] = l / h / average }
        }
        let priorWeeks = 1.0
        var rates = [Double?](repeating: nil, count: slots)
        for slot in 0..<slots where hours[slot] + 1e-9 >= Double(minimumWeeks) && hours[slot] > 0 {
            let pooled = hourOfDay[slot % 24] * weekdayFactor[slot / 24]
            rates[slot] = (litres[slot] + priorWeeks * pooled) / (hours[slot] + priorWeeks)
        }

        let ratios = leaveOneOutRatios(dayTotals: dayTotals, firstDay: firstDay)
        var low = defaultDailyRatios.low
        var high = defaultDailyRatios.high
        if ratios.count >= 3 {
            low = min(1, quantile(ratios, 0.05))
            high = max(1, quantile(ratios, 0.95))
        }
        return FillRateProfile(
            hourlyRates: rates, averageLitresPerHour: average, observedHours: observedHours, lowDailyRatio: low,
            highDailyRatio: high, typicalDepositLitres: volumes.isEmpty ? 0 : quantile(volumes, 0.9))
    }

    /// Combines profiles (e.g. the stream's average in a community, for a bin with no history): the mean
    /// per slot over the profiles that learned it, the mean average rate and observed hours. The interval
    /// takes the widest spread and the largest deposit of any of them, since a bin borrowing its
    /// neighbours' history is less certain than any of them about itself. Profiles that observed nothing
    /// are left out; nil when none is left.
    public static func mean(_ profiles: [FillRateProfile]) -> FillRateProfile? {
        let observed = profiles.filter { $0.observedHours > 0 }
        guard !observed.isEmpty else { return nil }
        let count = Double(observed.count)
        var rates = [Double?](repeating: nil, count: HourOfWeekClock.slotsPerWeek)
        for slot in rates.indices {
            let known = observed.compactMap { $0.hourlyRates[slot] }
            if !known.isEmpty { rates[slot] = known.reduce(0, +) / Double(known.count) }
        }
        return FillRateProfile(
            hourlyRates: rates, averageLitresPerHour: observed.reduce(0) { $0 + $1.averageLitresPerHour } / count,
            observedHours: observed.reduce(0) { $0 + $1.observedHours } / count,
            lowDailyRatio: observed.map(\.lowDailyRatio).min()!, highDailyRatio: observed.map(\.highDailyRatio).max()!,
            typicalDepositLitres: observed.map(\.typicalDepositLitres).max()!)
    }

    /// Each whole day's volume against what the other days say it should have been: the mean of the same
    /// weekday's other days, or of all other days while that weekday was seen once. Leaving the day out
    /// keeps the spread honest: a day compared with a mean that includes itself always looks typical.
    static func leaveOneOutRatios(dayTotals: [Double], firstDay: Int64) -> [Double] {
        guard dayTotals.count >= 2 else { return [] }
        var sumByWeekday = [Double](repeating: 0, count: 7)
        var countByWeekday = [Int](repeating: 0, count: 7)
        for (index, value) in dayTotals.enumerated() {
            let weekday = Int(HourOfWeekClock.floorMod(firstDay + Int64(index) + 3, 7))
            sumByWeekday[weekday] += value
            countByWeekday[weekday] += 1
        }
        let sum = dayTotals.reduce(0, +)
        var ratios: [Double] = []
        for (index, value) in dayTotals.enumerated() {
            let weekday = Int(HourOfWeekClock.floorMod(firstDay + Int64(index) + 3, 7))
            let expected =
                countByWeekday[weekday] > 1
                ? (sumByWeekday[weekday] - value) / Double(countByWeekday[weekday] - 1)
                : (sum - value) / Double(dayTotals.count - 1)
            if expected > 0 { ratios.append(value / expected) }
        }
        return ratios
    }

    /// Linear interpolation between order statistics (the "type 7" definition most tools use).
    static func quantile(_ values: [Double], _ q: Double) -> Double {
        let sorted = values.sorted()
        let position = q * Double(sorted.count - 1)
        let lower = Int(position.rounded(.down))
        let upper = min(lower + 1, sorted.count - 1)
        return sorted[lower] + (sorted[upper] - sorted[lower]) * (position - Double(lower))
    }
}
