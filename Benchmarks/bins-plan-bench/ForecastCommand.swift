import Aggregator
import ArgumentParser
import Foundation
import Simulation

/// The forecast error: from the second week on, every hour a bin is below the collection fill, the
/// time it will reach it is predicted with the hour-of-week forecast and with the bin's average rate
/// (both from all history before that hour), and compared with when it really did.
struct ForecastCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forecast",
        abstract: "Forecast error of the time to collection fill against the average-rate baseline.")

    @OptionGroup var library: LibraryOptions

    static let collectionFill = 0.8
    static let hourMs: Int64 = 3_600_000
    static let horizonMs: Int64 = 14 * 86_400_000

    func run() throws {
        let files = try library.pointFiles()
        print(
            "bins-plan-bench forecast: \(files.count) point files from \(library.scenarios), \(library.days) days each")
        print("  history: \(SimulatedHistory.variation)")
        print("  \(WeekPattern.description)")
        print(
            "  fill = litres deposited since the bin was last emptied / capacity (box w x l x d, cylinder); a bin is emptied "
                + "when it reaches 1.0 (overflow) and at a daily 07:00 round if at or above \(Self.collectionFill)")
        print(
            "  from day 8, every hour a bin is below \(Self.collectionFill): predict when it reaches it (profile learned from "
                + "all earlier hours; horizon 14 days, a miss counts as the horizon); error = |predicted - actual| once the "
                + "actual is known (samples whose level is never reached in the run are dropped)")
        print("")
        let header = [
            "profile".leftPadded(18), "samples".padded(8), "fc med h".padded(9), "fc p90 h".padded(9),
            "base med h".padded(11),
            "base p90 h".padded(11), "in interval".padded(12), "width med h".padded(12),
        ]
        print(header.joined(separator: " "))
        var overall = Samples()
        for file in files {
            let scenario = try Scenario.load(path: file)
            let clock = ScenarioClock(scenario)
            let profile = URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
            let bins = SimulatedHistory.bins(
                scenario: scenario, pattern: .forProfile(profile), seed: scenario.seed, days: library.days,
                startMs: clock.startMs,
                calendar: clock.calendar)
            var samples = Samples()
            for bin in bins {
                replay(bin, clock: clock, into: &samples)
            }
            print(samples.row(profile))
            overall.append(samples)
        }
        print(overall.row("overall"))
        print("")
        let forecast = (Spread(overall.forecastErrorH), Spread(overall.baselineErrorH))
        let beats = forecast.0.median < forecast.1.median && forecast.0.p90 < forecast.1.p90
        print(
            "forecast beats the baseline: \(beats ? "yes" : "no")"
                + String(
                    format: " (median %.2f h against %.2f h, p90 %.2f h against %.2f h, %d samples)", forecast.0.median,
                    forecast.1.median, forecast.0.p90, forecast.1.p90, overall.count))
    }

    /// One bin through the whole run, hour by hour.
    func replay(_ bin: SimulatedBin, clock: ScenarioClock, into samples: inout Samples) {
        let capacity = bin.capacityL
        let level = Self.collectionFill * capacity
        var litres = 0.0
        var next = 0
        var pending: [Prediction] = []
        for hour in 0..<(library.days * 24) {
            let atMs = clock.startMs + Int64(hour) * Self.hourMs
            if hour % 24 == 7 && litres >= level { litres = 0 }
            if hour >= 7 * 24 && litres < level {
                let profile = FillRateProfile.learn(
                    deposits: Array(bin.deposits[..<next]), fromMs: clock.startMs, toMs: atMs, calendar: clock.calendar)
                let forecast = FillForecaster.forecast(
                    fill: litres / capacity, atMs: atMs, capacityL: capacity, collectionFill: Self.collectionFill,
                    profile: profile,
                    fallback: nil, calendar: clock.calendar, horizonMs: Self.horizonMs)
                let horizonEnd = atMs + Self.horizonMs
                pending.append(
                    Prediction(
                        atMs: atMs, forecastMs: forecast?.collectionAtMs ?? horizonEnd,
                        earliestMs: forecast?.collectionEarliestMs ?? horizonEnd,
                        latestMs: forecast?.collectionLatestMs,
                        baselineMs: min(
                            horizonEnd,
                            FillForecaster.baseline(
                                fill: litres / capacity, atMs: atMs, capacityL: capacity, level: Self.collectionFill,
                                profile: profile)
                                ?? horizonEnd)))
            }
            while next < bin.deposits.count && bin.deposits[next].atMs < atMs + Self.hourMs {
                litres += bin.deposits[next].litres ?? 0
                if litres >= level {
                    for prediction in pending { samples.add(prediction, actualMs: bin.deposits[next].atMs) }
                    pending = []
                }
                if litres >= capacity { litres = 0 }
                next += 1
            }
        }
    }

    struct Prediction {
        var atMs: Int64
        var forecastMs: Int64
        var earliestMs: Int64
        /// nil = unbounded.
        var latestMs: Int64?
        var baselineMs: Int64
    }

    /// Errors in hours, and whether the interval held the actual time.
    struct Samples {
        var forecastErrorH: [Double] = []
        var baselineErrorH: [Double] = []
        var inside = 0
        var widthH: [Double] = []

        var count: Int { forecastErrorH.count }

        mutating func add(_ prediction: Prediction, actualMs: Int64) {
            let hour = Double(ForecastCommand.hourMs)
            forecastErrorH.append(Double(abs(prediction.forecastMs - actualMs)) / hour)
            baselineErrorH.append(Double(abs(prediction.baselineMs - actualMs)) / hour)
            if prediction.earliestMs <= actualMs && prediction.latestMs.map({ actualMs <= $0 }) != false { inside += 1 }
            widthH.append(
                Double((prediction.latestMs ?? prediction.atMs + ForecastCommand.horizonMs) - prediction.earliestMs)
                    / hour)
        }

        mutating func append(_ other: Samples) {
            forecastErrorH += other.forecastErrorH
            baselineErrorH += other.baselineErrorH
            inside += other.inside
            widthH += other.widthH
        }

        func row(_ name: String) -> String {
            let forecast = Spread(forecastErrorH)
            let baseline = Spread(baselineErrorH)
            let cells = [
                name.leftPadded(18), "\(count)".padded(8), String(format: "%.2f", forecast.median).padded(9),
                String(format: "%.2f", forecast.p90).padded(9), String(format: "%.2f", baseline.median).padded(11),
                String(format: "%.2f", baseline.p90).padded(11),
                (count == 0 ? "-" : String(format: "%.0f %%", 100 * Double(inside) / Double(count))).padded(12),
                String(format: "%.1f", Spread(widthH).median).padded(12),
            ]
            return cells.joined(separator: " ")
        }
    }
}
