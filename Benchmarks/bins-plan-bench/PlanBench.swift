import Aggregator
import ArgumentParser
import Foundation
import Simulation

/// How well the fill forecast predicts, and what the daily plan saves against a fixed round, over the
/// scenario library replayed as weeks of history. A benchmark, not a test: it prints figures.
@main
struct PlanBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bins-plan-bench",
        abstract: "Fill forecast error and the collection plan's saving over the scenario library.",
        subcommands: [ForecastCommand.self, PlanCommand.self])
}

/// Options both subcommands share.
struct LibraryOptions: ParsableArguments {
    @Option(help: "Simulated days.")
    var days = 28

    @Option(help: "The scenario library.")
    var scenarios = "scenarios"

    /// The library's point-day files: everything but the accuracy data and the daemon's own scenarios.
    func pointFiles() throws -> [String] {
        let names = try FileManager.default.contentsOfDirectory(atPath: scenarios)
        return names.filter { $0.hasSuffix(".yaml") && !$0.hasPrefix("accuracy-") && !$0.hasPrefix("daemon-") }.sorted()
            .map { "\(scenarios)/\($0)" }
    }

    func validate() throws {
        guard days >= 8 else { throw ValidationError("--days must be at least 8: the first week is history") }
    }
}

/// The scenario's own calendar (its start's UTC offset) and the start of its first local day.
struct ScenarioClock {
    let calendar: LedgerCalendar
    let startMs: Int64

    init(_ scenario: Scenario) {
        calendar = LedgerCalendar(timeZone: TimeZone(secondsFromGMT: Int(scenario.start.utcOffsetSeconds)) ?? .gmt)
        startMs = calendar.startOfDay(calendar.localDate(of: scenario.start))
    }
}

/// Median and 90th percentile of a sample.
struct Spread {
    var median: Double
    var p90: Double

    init(_ values: [Double]) {
        let sorted = values.sorted()
        func quantile(_ q: Double) -> Double {
            guard !sorted.isEmpty else { return .nan }
            let position = q * Double(sorted.count - 1)
            let lower = Int(position)
            let upper = min(lower + 1, sorted.count - 1)
            return sorted[lower] + (sorted[upper] - sorted[lower]) * (position - Double(lower))
        }
        median = quantile(0.5)
        p90 = quantile(0.9)
    }
}

extension String {
    /// Right-aligned in `width` columns.
    func padded(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
    /// Left-aligned in `width` columns.
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
