import BinsTestSupport
import Foundation
import Simulation
import Testing

/// The no-loss chain under disturbance: the broker restarted mid-scenario, and the aggregator SIGKILLed
/// and started again mid-scenario (with a broker restart while it is away and events queued for it). The
/// ledger at the end is the one an undisturbed run of the same scenario (same seed) leaves: every event
/// booked, none twice, the same figures per bin and for the district.
@Suite("Disturbances")
struct DisturbanceTests {
    /// Virtual seconds per real second for the disturbed runs: the four-hour scenario lasts about 20 s,
    /// long enough to restart a broker or an aggregator while it still publishes.
    static let speed = 720.0

    /// Steady traffic: a deposit every minute into wet, dry and recyclable bins in turn for four hours,
    /// each bin emptied every hour.
    static func scenario(device: String = "pt-steady") -> ScenarioWriter {
        var writer = ScenarioWriter(
            device: device,
            bins: [
                .box240("wet", stream: "wet"), .box240("dry", stream: "dry", countsPerKg: 20_400, offset: 66_000),
                .round360("recyclable", stream: "recyclable"),
            ], end: 4 * 3600)
        var random = SplitMix64(seed: 77)
        let order = ["wet", "dry", "recyclable"]
        for (index, at) in stride(from: 120, through: 4 * 3600 - 300, by: 60).enumerated() {
            let bin = order[index % 3]
            let (mass, density) =
                switch bin {
                case "wet": (0.4...2.0, BulkDensity.wet)
                case "dry": (0.3...1.0, BulkDensity.dry)
                default: (0.1...0.4, BulkDensity.recyclable)
                }
            let kg = random.nextDouble(in: mass)
            writer.deposit(at: at, bin: bin, kg: kg, litres: kg / random.nextDouble(in: density))
        }
        // Between two lid cycles of the same bin (each bin's deposits are three minutes apart).
        for hour in 1...3 {
            writer.collect(at: hour * 3600 + 30, bin: "wet")
            writer.collect(at: hour * 3600 + 90, bin: "dry")
            writer.collect(at: hour * 3600 + 150, bin: "recyclable")
        }
        return writer
    }

    /// What a run leaves in the aggregator: every booked event and the ledger per bin and district.
    struct Outcome {
        var lastSeq: Int
        var events: [EventRecord]
        var bins: [String: Ledger]
        /// The point's ledger (in these single-point runs, also the district's).
        var point: Ledger
        var historical: Int
    }

    static func outcome(
        _ aggregator: AggregatorProcess, scenario: ScenarioWriter, lastSeq: Int, in directory: TemporaryDirectory
    )
        async throws -> Outcome
    {
        var bins: [String: Ledger] = [:]
        for bin in scenario.bins {
            bins[bin.id] = try await aggregator.ledger(
                level: "bin", id: "\(scenario.device)/\(bin.id)", from: "2026-06-01", to: "2026-06-02")
        }
        struct Count: Decodable { var count: Int }
        let historical = try await SQLiteQuery.rows(
            Count.self, database: aggregator.databasePath, "SELECT count(*) AS count FROM events WHERE historical",
            in: directory)
        return Outcome(
            lastSeq: lastSeq,
            events: try await aggregator.eventRecords(in: directory).filter { $0.device == scenario.device },
            bins: bins,
            point: try await aggregator.ledger(
                level: "point", id: scenario.device, from: "2026-06-01", to: "2026-06-02"),
            historical: historical.first?.count ?? 0)
    }

    /// The undisturbed run both tests compare against, made once: the scenario is seeded, so every
    /// undisturbed run of it books the same ledger, and it has a broker and aggregator of its own.
    static let reference = Task { try await undisturbedRun(scenario()) }

    /// The same scenario, flat out, with nothing disturbed.
    static func undisturbedRun(_ scenario: ScenarioWriter) async throws -> Outcome {
        let run = try await OnePointDistrict.start(scenario, prefix: "system-reference")
        let summary = try await run.play()
        let outcome = try await outcome(run.aggregator, scenario: scenario, lastSeq: summary.lastSeq, in: run.directory)
        await run.aggregator.stop()
        return outcome
    }

    /// The disturbed run booked exactly what the undisturbed one did.
    static func expectSame(_ run: Outcome, as reference: Outcome) {
        #expect(run.lastSeq == reference.lastSeq)
        let seqs = run.events.map(\.seq)
        #expect(
            seqs == Array(1...reference.lastSeq),
            "booked seqs: \(seqs.count) events, first \(seqs.first ?? 0), last \(seqs.last ?? 0)")
        // Event by event: the same type, bin, time, masses and classification (the flag saying an event
        // travelled late is left out: that is the point of the disturbance).
        let differing = zip(run.events, reference.events).filter { record, expected in
            // Another point may run the same scenario under its own id.
            var record = record
            record.body = record.body.replacingOccurrences(
                of: #""device":"\#(record.device)""#, with: #""device":"\#(expected.device)""#)
            record.device = expected.device
            return record != expected
        }
        #expect(
            differing.isEmpty,
            "\(differing.count) events differ, first: \(differing.first.map { "\($0.0) vs \($0.1)" } ?? "")")
        for (bin, ledger) in reference.bins.sorted(by: { $0.key < $1.key }) {
            for stream in Figures.streams {
                let booked = run.bins[bin]?.stream(stream) ?? Figures()
                #expect(
                    booked.matches(ledger.stream(stream)),
                    "\(bin) \(stream): \(booked) vs undisturbed \(ledger.stream(stream))")
            }
        }
        for stream in Figures.streams {
            let booked = run.point.stream(stream)
            #expect(
                booked.matches(reference.point.stream(stream)),
                "point \(stream): \(booked) vs \(reference.point.stream(stream))")
        }
    }

    @Test("broker restarted mid-scenario: the ledger equals the undisturbed run's, nothing lost, nothing twice")
    func brokerRestart() async throws {
        let scenario = Self.scenario()
        let device = scenario.device
        let reference = try await Self.reference.value
        #expect(
            reference.lastSeq >= 240 && reference.historical == 0,
            "reference: \(reference.lastSeq) events, \(reference.historical) historical")

        let setup = try await OnePointDistrict.start(scenario, prefix: "system-broker-restart")
        let (directory, district, aggregator) = (setup.directory, setup.district, setup.aggregator)
        let observer = try await EventObserver(district: district)
        let point = try setup.startPoint(speed: Self.speed, extraArguments: ["--log-level", "info"])

        // Once a third of the events are out and the aggregator is booking, restart the broker (a clean
        // stop: it saves sessions and queues, as systemctl restart does).
        let third = reference.lastSeq / 3
        try await waitFor("the point to publish \(third) events and the aggregator to book some", timeout: .seconds(60))
        {
            let booked = try await aggregator.bookedEvents(in: directory)[device]?.count ?? 0
            return (
                observer.highestSeq(device) >= third && booked > 0,
                "published up to seq \(observer.highestSeq(device)), booked \(booked)"
            )
        }
        try #require(point.process.isRunning, "the scenario ended before the disturbance")
        // The broker stays away until the point has recorded events it cannot send: two above the highest
        // it had logged once the broker was gone (one more than enough, in case a line was still on its way).
        try await district.broker.restart {
            let recordedBefore = point.recordedHighestSeq
            try await waitFor("the point to record events while the broker is away", timeout: .seconds(60)) {
                let highest = point.recordedHighestSeq
                return (
                    highest >= recordedBefore + 2,
                    "recorded up to seq \(highest), \(recordedBefore) when the broker went"
                )
            }
        }
        print("broker restarted at seq \(observer.highestSeq(device)) of \(reference.lastSeq)")

        let summary = try await point.finish()
        try await aggregator.waitUntilBooked([device: summary.lastSeq], in: directory)
        let run = try await Self.outcome(aggregator, scenario: scenario, lastSeq: summary.lastSeq, in: directory)
        // The point kept sensing while the broker was away and sent those events late.
        #expect(run.historical > 0, "no event was recorded while the broker was down")
        print("broker restart: \(run.events.count) events booked, \(run.historical) of them late (historical)")
        Self.expectSame(run, as: reference)
        try await observer.stop()
        await aggregator.stop()
    }

    @Test(
        "aggregator SIGKILLed mid-scenario, broker restarted while it is away, aggregator restarted: the same ledger as undisturbed"
    )
    func aggregatorKilled() async throws {
        let scenario = Self.scenario()
        let device = scenario.device
        let reference = try await Self.reference.value

        let setup = try await OnePointDistrict.start(scenario, prefix: "system-aggregator-kill")
        let (directory, district, aggregator) = (setup.directory, setup.district, setup.aggregator)
        let observer = try await EventObserver(district: district)
        let point = try setup.startPoint(speed: Self.speed)

        let quarter = reference.lastSeq / 4
        try await waitFor(
            "the point to publish \(quarter) events and the aggregator to book some", timeout: .seconds(60)
        ) {
            let booked = try await aggregator.bookedEvents(in: directory)[device]?.count ?? 0
            return (
                observer.highestSeq(device) >= quarter && booked > 0,
                "published up to seq \(observer.highestSeq(device)), booked \(booked)"
            )
        }
        try #require(point.process.isRunning, "the scenario ended before the disturbance")
        try await aggregator.kill()
        let bookedAtKill = try await aggregator.bookedEvents(in: directory)[device]?.count ?? 0
        #expect(bookedAtKill > 0 && bookedAtKill < reference.lastSeq)

        // The point goes on publishing; the broker queues for the aggregator's persistent session ...
        let queuedTarget = bookedAtKill + 15
        try await waitFor("15 more events published while the aggregator is down", timeout: .seconds(60)) {
            (
                observer.highestSeq(device) >= queuedTarget,
                "published up to seq \(observer.highestSeq(device)), booked \(bookedAtKill)"
            )
        }
        // ... and keeps that queue over a restart of its own.
        try await district.broker.restart()
        let afterRestart = observer.highestSeq(device) + 10
        try await waitFor("10 more events published after the broker restart", timeout: .seconds(60)) {
            (observer.highestSeq(device) >= afterRestart, "published up to seq \(observer.highestSeq(device))")
        }
        print(
            "aggregator killed with \(bookedAtKill) events booked; restarted with seq \(observer.highestSeq(device)) published"
        )
        try await aggregator.start()

        let summary = try await point.finish()
        try await aggregator.waitUntilBooked([device: summary.lastSeq], in: directory)
        let run = try await Self.outcome(aggregator, scenario: scenario, lastSeq: summary.lastSeq, in: directory)
        Self.expectSame(run, as: reference)
        try await observer.stop()
        await aggregator.stop()
    }
}
