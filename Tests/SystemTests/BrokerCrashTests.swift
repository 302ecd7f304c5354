import BinsTestSupport
import Foundation
import Simulation
import Testing

/// The no-loss chain when the broker crashes: mosquitto SIGKILLed at random moments, six times, while two
/// points publish, with the aggregator up for some crashes and away (stopped or killed) for others. The
/// broker runs the shipped configuration with `autosave_interval` at 3600 s, so every crash is long after
/// the last save and loses everything the broker acknowledged since it started: queued messages, the
/// aggregator's session, retained receipts and statuses. End-to-end receipts must bring every event back:
/// the ledger ends equal to the undisturbed run's, event by event, each booked exactly once.
@Suite("Broker crashes")
struct BrokerCrashTests {
    /// Virtual seconds per real second: the four-hour scenario lasts about a minute.
    static let speed = 240.0

    enum Crash: CustomStringConvertible {
        /// Right after the broker acknowledged an event (the observer has just seen a new one).
        case afterAcknowledgement
        /// At a random moment within a second.
        case atRandom
        /// While the aggregator is stopped cleanly (its status says offline, the broker queues for it).
        case aggregatorStopped
        /// While the aggregator is dead (SIGKILL: its will says offline).
        case aggregatorKilled

        var description: String {
            switch self {
            case .afterAcknowledgement: "right after a PUBACK"
            case .atRandom: "at a random moment"
            case .aggregatorStopped: "with the aggregator stopped"
            case .aggregatorKilled: "with the aggregator killed"
            }
        }
    }

    @Test(
        "the broker SIGKILLed six times long after its last save, aggregator up or away: every event booked exactly once"
    )
    func brokerKilled() async throws {
        let reference = try await DisturbanceTests.reference.value
        let devices = ["pt-steady", "pt-steady-b"]
        let directory = try TemporaryDirectory(prefix: "system-broker-crash")
        let district = try await DistrictBroker.start(
            devices: devices, brokerSettings: ["autosave_interval": "3600"], in: directory)
        let aggregator = try AggregatorProcess(district: district, registry: .single(devices), in: directory)
        try await aggregator.start()
        let observer = try await EventObserver(district: district)
        let scenarios = devices.map { DisturbanceTests.scenario(device: $0) }
        let points = try scenarios.map { scenario in
            try SimulatedPoint.start(
                scenario: try scenario.write(in: directory), device: scenario.device, district: district, in: directory,
                speed: Self.speed,
                extraArguments: ["--receipt-resend-s", "3"])
        }

        var random = SplitMix64(seed: 2026_12_03)
        let plan: [Crash] = [
            .afterAcknowledgement, .atRandom, .aggregatorStopped, .afterAcknowledgement, .aggregatorKilled, .atRandom,
        ]
        var crashes: [String] = []
        /// Waits until both points have published `count` more events than at the call.
        func progress(_ count: Int, _ what: String) async throws {
            let start = devices.map { observer.highestSeq($0) }
            try await waitFor(
                "\(count) more events from each point \(what)", timeout: .seconds(60), every: .milliseconds(20)
            ) {
                let now = devices.map { observer.highestSeq($0) }
                return (zip(now, start).allSatisfy { $0 >= $1 + count }, "seqs \(now), from \(start)")
            }
        }
        func crashBroker() async throws {
            try await district.broker.kill()
            try await district.broker.restart()
        }
        for crash in plan {
            try await progress(8, "before crash \(crashes.count + 1)")
            guard points.allSatisfy({ $0.process.isRunning }) else { break }
            switch crash {
            case .afterAcknowledgement:
                let seen = observer.highestSeq(devices[0])
                try await waitFor("a new event to be acknowledged", timeout: .seconds(30), every: .milliseconds(2)) {
                    (observer.highestSeq(devices[0]) > seen, "seq \(observer.highestSeq(devices[0]))")
                }
                try await crashBroker()
            case .atRandom:
                try await Task.sleep(for: .milliseconds(Int64(random.nextDouble(in: 0...1000))))
                try await crashBroker()
            case .aggregatorStopped:
                await aggregator.stop()
                try await progress(5, "with the aggregator away")
                try await crashBroker()
                try await progress(5, "after the broker came back")
                try await aggregator.start()
            case .aggregatorKilled:
                try await aggregator.kill()
                try await progress(5, "with the aggregator dead")
                try await crashBroker()
                try await progress(5, "after the broker came back")
                try await aggregator.start()
            }
            crashes.append("\(crash) at seqs \(devices.map { observer.highestSeq($0) })")
        }
        print("broker crashes: \(crashes.joined(separator: "; "))")
        #expect(crashes.count >= 5, "only \(crashes.count) crashes happened before the scenario ended")

        var summaries: [SimulatedPoint.Summary] = []
        for point in points { summaries.append(try await point.finish()) }
        try await aggregator.waitUntilBooked(
            Dictionary(uniqueKeysWithValues: zip(devices, summaries.map(\.lastSeq))), in: directory)
        for (scenario, summary) in zip(scenarios, summaries) {
            let run = try await DisturbanceTests.outcome(
                aggregator, scenario: scenario, lastSeq: summary.lastSeq, in: directory)
            DisturbanceTests.expectSame(run, as: reference)
        }
        let resent = try await aggregator.metric("bins_ingest_duplicates_total") ?? 0
        print(
            "broker crashes: \(summaries.map(\.lastSeq)) events booked; \(Int(resent)) copies sent again and dropped as duplicates"
        )
        try await observer.stop()
        await aggregator.stop()
    }
}
