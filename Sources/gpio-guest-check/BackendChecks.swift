import GPIO

/// The simulated chips /init creates (scripts/gpio-sim/init) and what the checks may assume of them.
struct GuestChipLayout {
    /// Label of the chip under test: 8 lines named `<linePrefix>0` ... `<linePrefix>6`, line 7 hogged.
    var label = "bins-sim-a"
    var lineCount = 8
    var linePrefix = "sim-a-"
    /// Held by the kernel (a gpio-sim hog) for the whole run.
    var hoggedLine: LineOffset = 7
    var hogConsumer = "gpio-sim-hog"
    /// A second simulated chip, so lookup by label must pick the right one.
    var otherLabel = "bins-sim-b"
    var otherLineCount = 4
    /// The libgpiod API the run is meant to exercise (the runner's `--libgpiod`), if it says.
    var expectedLibgpiodAPI: Int?
}

/// Checks of the libgpiod backend (`LibgpiodChip`) against a gpio-sim chip on a real kernel. Each
/// check sets the simulated pulls it depends on and holds its requests only while it runs. Lines:
/// 0 outputs, 1 inputs and bias, 2 busy, 3 and 4 edges, 5 waits and cancellation, 6 release.
struct BackendChecks {
    let layout: GuestChipLayout
    let chip: LibgpiodChip
    let simulator: SimulatedLines
    let runner: CheckRunner
    let consumer = "gpio-guest-check"

    /// Opens the chip under test by label and finds its gpio-sim attributes.
    init(layout: GuestChipLayout, runner: CheckRunner) throws {
        self.layout = layout
        self.runner = runner
        chip = try LibgpiodChip(label: layout.label)
        simulator = try SimulatedLines(chipName: chip.info.name)
        runner.info(
            "\(layout.label) is \(chip.info.name) (\(chip.info.path)), simulator \(simulator.directory), "
                + "libgpiod \(LibgpiodChip.libraryVersion)")
    }

    func runAll() {
        if let expected = layout.expectedLibgpiodAPI {
            runner.run("the backend is built for libgpiod \(expected) and loads libgpiod \(expected).x") {
                try expectEqual(LibgpiodChip.apiVersion, expected, "API the backend was compiled for")
                try expect(
                    LibgpiodChip.libraryVersion.hasPrefix("\(expected)."),
                    "the loaded libgpiod is \(LibgpiodChip.libraryVersion)")
            }
        }
        runChipChecks()
        runLineChecks()
        runEdgeChecks()
    }

    // MARK: Helpers shared by the checks

    /// Waits until `count` edges arrived on `lines` (more may come with the last batch), at most `timeout`.
    func collectEvents(
        on lines: [any GPIOEventLine], count: Int, timeoutNanoseconds: UInt64 = 5_000_000_000
    ) throws -> [EdgeEvent] {
        var events: [EdgeEvent] = []
        let deadline = chip.clock.nanoseconds() + timeoutNanoseconds
        while events.count < count {
            let now = chip.clock.nanoseconds()
            guard now < deadline else {
                throw GuestCheckError(
                    .expectation,
                    "expected \(count) edge(s) within \(timeoutNanoseconds / 1_000_000) ms, got \(describe(events))")
            }
            events += try chip.waitForEvents(on: lines, timeoutNanoseconds: deadline - now, wakeup: nil)
        }
        return events
    }

    /// Changes the simulated pull of `offset` and waits for exactly one edge on `line`; checks that the
    /// edge is of `type` and that its kernel timestamp lies between the chip-clock readings taken just
    /// before the change and just after the event arrived (the same `CLOCK_MONOTONIC` base).
    func expectEdge(
        _ type: EdgeType, on line: any GPIOEventLine, after pull: SimulatedPull
    ) throws -> EdgeEvent {
        let before = chip.clock.nanoseconds()
        try simulator.setPull(line.offset, pull)
        let events = try collectEvents(on: [line], count: 1)
        let after = chip.clock.nanoseconds()
        try expectEqual(events.count, 1, "edges after one \(pull.rawValue) on line \(line.offset)")
        let event = events[0]
        try expectEqual(event.type, type, "edge type after \(pull.rawValue) on line \(line.offset)")
        try expectEqual(event.offset, line.offset, "edge offset")
        try expect(
            before <= event.timestampNanoseconds && event.timestampNanoseconds <= after,
            "edge timestamp \(event.timestampNanoseconds) outside the chip clock's [\(before), \(after)]")
        return event
    }
}

func describe(_ events: [EdgeEvent]) -> String {
    events.isEmpty
        ? "none"
        : events.map { "\($0.type.rawValue) on line \($0.offset) at \($0.timestampNanoseconds) ns" }
            .joined(separator: ", ")
}
