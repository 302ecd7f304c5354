import ArgumentParser

/// Device-side benchmarks. Each prints figures measured side by side in one run; they are commands,
/// not tests, so a slow machine makes them report lower numbers instead of failing.
@main
struct BinsBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bins-bench",
        abstract: "Benchmarks of the sorting-point side: drivers, outbox, daemon footprint.",
        subcommands: [DriversBenchmark.self, OutboxBenchmark.self, FootprintBenchmark.self, AccuracyBenchmark.self])
}
