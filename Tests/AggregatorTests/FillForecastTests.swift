import Aggregator
import Foundation
import Simulation
import Testing

/// Fill forecasts are pure: synthetic deposit histories in, times out. The synthetic bins fill every ten
/// minutes at a rate that depends on the hour of the week, so the true time a bin reaches a level can be
/// read off the same history the forecast is compared with.
@Suite("Fill forecast")
struct FillForecastTests {
    static let hourMs: Int64 = 3_600_000
    static let dayMs: Int64 = 86_400_000
    let calendar = LedgerCalendar(timeZone: TimeZone(secondsFromGMT: 8 * 3600)!)
    /// Monday 2026-06-01 00:00 +08:00.
    var monday: Int64 { calendar.startOfDay(LocalDate(year: 2026, month: 6, day: 1)!) }

    /// Canteen: a lunch rush on weekdays, quiet otherwise, closed at weekends. Litres per hour.
    static func canteen(weekday: Int, hour: Int) -> Double {
        guard weekday < 5 else { return 0 }
        switch hour {
        case 11..<14: return 60
        case 8..<18: return 4
        default: return 0
        }
    }

    /// Residential: a morning and a bigger evening peak, every day.
    static func residential(weekday: Int, hour: Int) -> Double {
        switch hour {
        case 7..<9: return 12
        case 18..<22: return 30
        case 9..<18: return 2
        default: return 0
        }
    }

    /// A deposit every ten minutes for `days` days from `start` (a Monday), at `rate(weekday, hour)`,
    /// times `dayFactor(day)` on each day.
    static func deposits(
        start: Int64, days: Int, rate: (Int, Int) -> Double, dayFactor: (Int) -> Double = { _ in 1 }
    ) -> [(atMs: Int64, litres: Double?)] {
        var result: [(atMs: Int64, litres: Double?)] = []
        for day in 0..<days {
            for slot in 0..<144 {
                let hour = slot / 6
                let litres = rate(day % 7, hour) / 6 * dayFactor(day)
                if litres > 0 { result.append((start + Int64(day) * dayMs + Int64(slot) * 600_000 + 300_000, litres)) }
            }
        }
        return result
    }

    /// When a bin holding `fill` at `atMs` really reaches `level`, replaying `deposits`.
    static func actual(
        _ deposits: [(atMs: Int64, litres: Double?)], atMs: Int64, fill: Double, capacityL: Double, level: Double
    ) -> Int64? {
        var litres = fill * capacityL
        for deposit in deposits where deposit.atMs >= atMs {
            litres += deposit.litres ?? 0
            if litres >= level * capacityL { return deposit.atMs }
        }
        return nil
    }

    @Test(
        "the hour-of-week profile predicts a peak's time to the collection level better than the average rate",
        arguments: ["canteen", "residential"])
    func peaks(kind: String) throws {
        let rate = kind == "canteen" ? Self.canteen : Self.residential
        let history = Self.deposits(start: monday, days: 21, rate: rate)
        let learnedUntil = monday + 14 * Self.dayMs
        let profile = FillRateProfile.learn(deposits: history, fromMs: monday, toMs: learnedUntil, calendar: calendar)
        #expect(profile.learnedSlots == 168)
        // Just before the peak: Monday of week 3, 10:30 (canteen) or 17:30 (residential).
        let atMs = learnedUntil + (kind == "canteen" ? 10 : 17) * Self.hourMs + 1_800_000
        let truth = try #require(Self.actual(history, atMs: atMs, fill: 0.4, capacityL: 240, level: 0.8))
        let forecast = try #require(
            FillForecaster.forecast(
                fill: 0.4, atMs: atMs, capacityL: 240, collectionFill: 0.8, profile: profile, fallback: nil,
                calendar: calendar,
                horizonMs: 7 * Self.dayMs))
        #expect(forecast.basis == .hourOfWeek)
        let predicted = try #require(forecast.collectionAtMs)
        let baseline = try #require(
            FillForecaster.baseline(fill: 0.4, atMs: atMs, capacityL: 240, level: 0.8, profile: profile))
        let forecastError = abs(predicted - truth)
        let baselineError = abs(baseline - truth)
        #expect(forecastError < Self.hourMs / 2)
        #expect(forecastError * 4 < baselineError)
        let full = try #require(forecast.fullAtMs)
        #expect(full > predicted)
    }

    @Test("the learned slots follow the peaks and the weekend")
    func learnedShape() {
        let history = Self.deposits(start: monday, days: 14, rate: Self.canteen)
        let profile = FillRateProfile.learn(
            deposits: history, fromMs: monday, toMs: monday + 14 * Self.dayMs, calendar: calendar)
        let lunch = profile.litresPerHour(hourOfWeek: 12) ?? 0  // Monday 12:00
        let night = profile.litresPerHour(hourOfWeek: 2) ?? -1  // Monday 02:00
        let saturdayLunch = profile.litresPerHour(hourOfWeek: 5 * 24 + 12) ?? -1
        #expect(abs(lunch - 60) < 10)
        #expect(night < 1)
        #expect(saturdayLunch < lunch / 3)
        // Identical days: no spread between them.
        #expect(abs(profile.lowDailyRatio - 1) < 1e-9)
        #expect(abs(profile.highDailyRatio - 1) < 1e-9)
        #expect(abs(profile.typicalDepositLitres - 10) < 1e-9)
    }

    @Test("slots with no history are nil and fall back to the average rate")
    func unlearnedSlotsFallBack() throws {
        // Monday and Tuesday only.
        let history = Self.deposits(start: monday, days: 2, rate: Self.residential)
        let until = monday + 2 * Self.dayMs
        let profile = FillRateProfile.learn(deposits: history, fromMs: monday, toMs: until, calendar: calendar)
        #expect(profile.litresPerHour(hourOfWeek: 19) != nil)  // Monday 19:00
        #expect(profile.litresPerHour(hourOfWeek: 2 * 24 + 19) == nil)  // Wednesday 19:00
        #expect(profile.learnedSlots == 48)
        // From Wednesday 00:00 every slot is unlearned: the forecast is the average rate, like the baseline.
        let forecast = try #require(
            FillForecaster.forecast(
                fill: 0.5, atMs: until, capacityL: 240, collectionFill: 0.8, profile: profile, fallback: nil,
                calendar: calendar,
                horizonMs: 2 * Self.dayMs))
        let baseline = try #require(
            FillForecaster.baseline(fill: 0.5, atMs: until, capacityL: 240, level: 0.8, profile: profile))
        let predicted = try #require(forecast.collectionAtMs)
        #expect(abs(predicted - baseline) <= 1)
        #expect(forecast.basis == .hourOfWeek)
    }

    @Test("a bin without enough history is forecast from its stream's average profile")
    func streamFallback() throws {
        let canteen = FillRateProfile.learn(
            deposits: Self.deposits(start: monday, days: 7, rate: Self.canteen), fromMs: monday,
            toMs: monday + 7 * Self.dayMs,
            calendar: calendar)
        let residential = FillRateProfile.learn(
            deposits: Self.deposits(start: monday, days: 7, rate: Self.residential), fromMs: monday,
            toMs: monday + 7 * Self.dayMs, calendar: calendar)
        let stream = try #require(FillRateProfile.mean([canteen, residential]))
        let lunch = try #require(stream.litresPerHour(hourOfWeek: 12))
        #expect(
            abs(lunch - (canteen.litresPerHour(hourOfWeek: 12)! + residential.litresPerHour(hourOfWeek: 12)!) / 2)
                < 1e-9)
        #expect(
            abs(stream.averageLitresPerHour - (canteen.averageLitresPerHour + residential.averageLitresPerHour) / 2)
                < 1e-9)
        #expect(FillRateProfile.mean([]) == nil)

        let atMs = monday + 7 * Self.dayMs + 10 * Self.hourMs
        let young = FillRateProfile.learn(
            deposits: [(atMs - 1000, 5)], fromMs: atMs - 5 * Self.hourMs, toMs: atMs, calendar: calendar)
        for profile in [nil, young] {
            let forecast = try #require(
                FillForecaster.forecast(
                    fill: 0.2, atMs: atMs, capacityL: 240, collectionFill: 0.8, profile: profile, fallback: stream,
                    calendar: calendar,
                    horizonMs: 7 * Self.dayMs))
            #expect(forecast.basis == .streamAverage)
            let expected = try #require(
                FillForecaster.forecast(
                    fill: 0.2, atMs: atMs, capacityL: 240, collectionFill: 0.8, profile: stream, fallback: nil,
                    calendar: calendar,
                    horizonMs: 7 * Self.dayMs, minimumHistoryHours: 0))
            #expect(forecast.collectionAtMs == expected.collectionAtMs)
        }
        // Too little history and no fallback: the bin's own average, said so.
        let own = try #require(
            FillForecaster.forecast(
                fill: 0.2, atMs: atMs, capacityL: 240, collectionFill: 0.8, profile: young, fallback: nil,
                calendar: calendar,
                horizonMs: 30 * Self.dayMs))
        #expect(own.basis == .binAverage)
        let ownAt = try #require(own.collectionAtMs)
        let youngBaseline = try #require(
            FillForecaster.baseline(fill: 0.2, atMs: atMs, capacityL: 240, level: 0.8, profile: young))
        #expect(abs(ownAt - youngBaseline) <= 1)
        // Nothing at all to go on.
        #expect(
            FillForecaster.forecast(
                fill: 0.2, atMs: atMs, capacityL: 240, collectionFill: 0.8, profile: nil, fallback: nil,
                calendar: calendar,
                horizonMs: Self.dayMs) == nil)
    }

    @Test("a bin already at or above the level reaches it now")
    func alreadyAbove() throws {
        let profile = FillRateProfile.learn(
            deposits: Self.deposits(start: monday, days: 7, rate: Self.residential), fromMs: monday,
            toMs: monday + 7 * Self.dayMs,
            calendar: calendar)
        let atMs = monday + 7 * Self.dayMs + 3 * Self.hourMs
        let above = try #require(
            FillForecaster.forecast(
                fill: 0.85, atMs: atMs, capacityL: 240, collectionFill: 0.8, profile: profile, fallback: nil,
                calendar: calendar,
                horizonMs: Self.dayMs))
        #expect(above.collectionAtMs == atMs)
        #expect(above.collectionEarliestMs == atMs)
        #expect(above.collectionLatestMs == atMs)
        #expect(above.fullAtMs.map { $0 > atMs } == true)
        let overflowing = try #require(
            FillForecaster.forecast(
                fill: 1.2, atMs: atMs, capacityL: 240, collectionFill: 0.8, profile: profile, fallback: nil,
                calendar: calendar,
                horizonMs: Self.dayMs))
        #expect(overflowing.fullAtMs == atMs)
        #expect(overflowing.fullLatestMs == atMs)
        #expect(FillForecaster.baseline(fill: 0.9, atMs: atMs, capacityL: 240, level: 0.8, profile: profile) == atMs)
    }

    @Test("a level not reached within the horizon has no time")
    func beyondHorizon() throws {
        let profile = FillRateProfile.learn(
            deposits: Self.deposits(start: monday, days: 7, rate: Self.residential), fromMs: monday,
            toMs: monday + 7 * Self.dayMs,
            calendar: calendar)
        // 02:00: the night is quiet for five hours.
        let atMs = monday + 7 * Self.dayMs + 2 * Self.hourMs
        let forecast = try #require(
            FillForecaster.forecast(
                fill: 0.1, atMs: atMs, capacityL: 240, collectionFill: 0.8, profile: profile, fallback: nil,
                calendar: calendar,
                horizonMs: 4 * Self.hourMs))
        #expect(forecast.collectionAtMs == nil)
        #expect(forecast.fullAtMs == nil)
        #expect(FillForecaster.baseline(fill: 0.1, atMs: atMs, capacityL: 240, level: 0.8, profile: profile) != nil)
        let longer = try #require(
            FillForecaster.forecast(
                fill: 0.1, atMs: atMs, capacityL: 240, collectionFill: 0.8, profile: profile, fallback: nil,
                calendar: calendar,
                horizonMs: 3 * Self.dayMs))
        #expect(longer.collectionAtMs.map { $0 > atMs + 4 * Self.hourMs } == true)
    }

    @Test("the interval holds the real time on noisy days most of the time, and is not unbounded")
    func intervalCoverage() throws {
        var random = SplitMix64(seed: 16)
        let factors = (0..<28).map { _ in 0.75 + 0.5 * random.nextUnit() }
        // Deposits jittered in time and size on top of the day's factor.
        let history = Self.deposits(start: monday, days: 28, rate: Self.residential) { factors[$0] }.map {
            (
                atMs: $0.atMs + Int64(random.nextUnit() * 600_000) - 300_000,
                litres: $0.litres.map { $0 * (0.5 + random.nextUnit()) }
            )
        }
        let learnedUntil = monday + 21 * Self.dayMs
        let profile = FillRateProfile.learn(
            deposits: history.filter { $0.atMs < learnedUntil }, fromMs: monday, toMs: learnedUntil, calendar: calendar)
        #expect(profile.lowDailyRatio < 0.95)
        #expect(profile.highDailyRatio > 1.05)
        var inside = 0
        var samples = 0
        for hour in stride(from: 0, to: 6 * 24, by: 3) {
            let atMs = learnedUntil + Int64(hour) * Self.hourMs
            guard let truth = Self.actual(history, atMs: atMs, fill: 0.4, capacityL: 240, level: 0.8) else { continue }
            let forecast = try #require(
                FillForecaster.forecast(
                    fill: 0.4, atMs: atMs, capacityL: 240, collectionFill: 0.8, profile: profile, fallback: nil,
                    calendar: calendar,
                    horizonMs: 7 * Self.dayMs))
            let earliest = try #require(forecast.collectionEarliestMs)
            let latest = try #require(forecast.collectionLatestMs)
            let expected = try #require(forecast.collectionAtMs)
            #expect(earliest <= expected && expected <= latest)
            samples += 1
            if earliest <= truth && truth <= latest { inside += 1 }
        }
        #expect(samples >= 40)
        #expect(Double(inside) >= 0.8 * Double(samples))
    }
}
