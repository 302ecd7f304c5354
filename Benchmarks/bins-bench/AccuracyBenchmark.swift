import ArgumentParser
import BinDaemon
import BinProtocol
import BinsTestSupport
import Foundation
import Logging
import MQTT
import SimulatedPoint
import Simulation
import Synchronization

/// The accuracy table of docs/accuracy.md: runs each scenario through the same code as `binsd simulate`
/// against a real mosquitto, collects the point's events from the broker, and compares them with the
/// simulated world's truth (`AccuracyEvaluation`).
struct AccuracyBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "accuracy",
        abstract: "Deposit, classification and collection accuracy of binsd on the shipped scenario files.")

    @Argument(help: "Scenario files (default: scenarios/accuracy-*.yaml).")
    var scenarios: [String] = []

    @Option(help: "A broker as HOST:PORT; without it a mosquitto is started on a free loopback port.")
    var broker: String?

    @Option(
        name: .customLong("classified-volume-l"), help: "Smallest true volume counted in the classification figures.")
    var classifiedVolumeL: Double = 3

    @Option(
        name: .customLong("details-out"),
        help:
            "A directory to write, per scenario, each true deposit next to the event it was paired with (JSON lines), for a closer look at the classifier's evidence."
    )
    var detailsOut: String?

    func run() async throws {
        let files = scenarios.isEmpty ? Self.shippedScenarios() : scenarios
        guard !files.isEmpty else {
            throw ValidationError("no scenario files given and none in scenarios/accuracy-*.yaml")
        }
        let quiet = Logger(label: "bins-bench", factory: { _ in SwiftLogNoOpLogHandler() })
        let endpoint = try await BrokerEndpoint.resolve(broker)
        let (host, port) = (endpoint.host, endpoint.port)
        var rows: [(name: String, evaluation: AccuracyEvaluation, scenario: Scenario, seconds: Double)] = []
        for file in files {
            let scenario = try Scenario.load(path: file)
            let finish = try await EventCollector.start(host: host, port: port, device: scenario.device, logger: quiet)
            let directory = NSTemporaryDirectory() + "bins-accuracy-\(getpid())-\(rows.count)"
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let truthPath = directory + "/truth.json"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let summary = try await ScenarioRunner.run(
                ScenarioRunner.Options(
                    scenarioPath: file, brokerHost: host, brokerPort: port, stateDirectory: directory + "/state",
                    truthOutput: truthPath, logLevel: .critical),
                logger: quiet)
            let events = try await finish(summary.lastSeq)
            let truth = try TruthExport.read(truthPath)
            if let detailsOut {
                try Self.writeDetails(
                    AccuracyEvaluation(truth: truth, events: events, classifiedVolumeL: classifiedVolumeL),
                    to: detailsOut + "/" + ((file as NSString).lastPathComponent as NSString).deletingPathExtension
                        + ".jsonl")
            }
            rows.append(
                (
                    (file as NSString).lastPathComponent,
                    AccuracyEvaluation(truth: truth, events: events, classifiedVolumeL: classifiedVolumeL),
                    scenario, summary.realSeconds
                ))
        }
        await endpoint.stop()
        print(Self.table(rows, classifiedVolumeL: classifiedVolumeL))
    }

    /// One JSON object per matched deposit: the truth (`at_s`, `bin`, `mass_kg`, `volume_l`, `material`) and
    /// the deposit event as published.
    static func writeDetails(_ evaluation: AccuracyEvaluation, to path: String) throws {
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        var lines: [String] = []
        for match in evaluation.matched {
            let truth = match.truth
            let event = EventPayload(device: "-", ts: match.at, seq: 1, body: .deposit(match.event))
            let truthJSON: [String: Any] = [
                "at_s": truth.atS, "bin": truth.bin, "mass_kg": truth.massKg, "volume_l": truth.volumeL ?? -1,
                "material": (truth.material ?? match.event.stream).rawValue,
            ]
            let eventObject = try JSONSerialization.jsonObject(with: Data(try WireCodec.encode(event)))
            let line = try JSONSerialization.data(
                withJSONObject: ["truth": truthJSON, "event": eventObject], options: [.sortedKeys])
            lines.append(String(decoding: line, as: UTF8.self))
        }
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    }

    static func shippedScenarios() -> [String] {
        let directory = "scenarios"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasPrefix("accuracy-") && $0.hasSuffix(".yaml") }.sorted().map { "\(directory)/\($0)" }
    }

    static func table(
        _ rows: [(name: String, evaluation: AccuracyEvaluation, scenario: Scenario, seconds: Double)],
        classifiedVolumeL: Double
    ) -> String {
        func grams(_ kg: Double?) -> String { kg.map { String(format: "%.0f", $0 * 1000) } ?? "-" }
        func litres(_ l: Double?) -> String { l.map { String(format: "%.1f", $0) } ?? "-" }
        func share(_ part: Int, _ whole: Int) -> String {
            whole == 0 ? "-" : String(format: "%d/%d (%.0f %%)", part, whole, 100 * Double(part) / Double(whole))
        }
        var lines = [
            "| scenario | deposits found | spurious | mass error median / p95 / max (g) | volume error median / p95 (L) | wet/dry ≥ \(Int(classifiedVolumeL)) L correct | unknown | wrong | unknown share of wet/dry mass | mis-sorts ≥ \(AccuracyEvaluation.judgedMisSortKg) kg flagged | of them within what the sensors can judge, flagged | smaller mis-sorts flagged | false flags | collections found | collection mass error max (g) | run time (s) |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for (name, e, scenario, seconds) in rows {
            let mass = e.massErrorsKg
            let volume = e.volumeErrorsL
            let collectionErrors = e.collections.map { abs($0.event.massKg - $0.truth.massKg) }
            let smaller = e.misSorted.filter { $0.truth.massKg < AccuracyEvaluation.judgedMisSortKg }
            let judgeable = e.judgeableMisSorts(in: scenario)
            let cells = [
                name, share(e.matched.count, e.trueDeposits), "\(e.spurious.count)",
                "\(grams(AccuracyEvaluation.percentile(mass, 0.5))) / \(grams(AccuracyEvaluation.percentile(mass, 0.95))) / \(grams(mass.max()))",
                "\(litres(AccuracyEvaluation.percentile(volume, 0.5))) / \(litres(AccuracyEvaluation.percentile(volume, 0.95)))",
                share(e.classifiedCorrectly, e.judged.count), share(e.classifiedUnknown, e.judged.count),
                share(e.classifiedWrongly, e.judged.count),
                e.unknownMassShare.map { String(format: "%.0f %%", 100 * $0) } ?? "-",
                share(e.judgedMisSorts.filter(\.event.contaminated).count, e.judgedMisSorts.count),
                share(judgeable.filter(\.event.contaminated).count, judgeable.count),
                share(smaller.filter(\.event.contaminated).count, smaller.count), "\(e.falseContamination)",
                share(e.collections.count, e.collections.count + e.missedCollections.count),
                grams(collectionErrors.max()),
                String(format: "%.1f", seconds),
            ]
            lines.append("| " + cells.joined(separator: " | ") + " |")
        }
        return lines.joined(separator: "\n")
    }
}

/// Subscribes to one device's events before a run and collects them.
final class EventCollector: MQTTMessageHandler {
    let device: String
    private let events = Mutex<[Int64: EventPayload]>([:])

    init(device: String) { self.device = device }

    func handle(_ message: MQTTMessage) {
        guard let event = try? WireCodec.decode(EventPayload.self, from: message.payload, topicDevice: device) else {
            return
        }
        events.withLock { $0[event.seq] = event }
    }

    var count: Int { events.withLock { $0.count } }
    var inOrder: [EventPayload] { events.withLock { $0.values.sorted { $0.seq < $1.seq } } }

    /// Connects a subscriber for `device`'s events; the returned closure waits until seq 1...`lastSeq` have
    /// arrived (at most 30 s), disconnects, and returns them in seq order.
    static func start(host: String, port: Int, device: String, logger: Logger) async throws
        -> @Sendable (_ lastSeq: Int64) async throws -> [EventPayload]
    {
        let collector = EventCollector(device: device)
        let client = try MQTTClient(
            configuration: MQTTConfiguration(host: host, port: port, clientID: "bins-bench-\(getpid())-\(device)"),
            logger: logger)
        let task = Task { try await client.run() }
        try await client.waitUntilConnected(timeout: .seconds(20))
        try await client.subscribe([Topics.events(device)], qos: .atLeastOnce, handler: collector)
        return { lastSeq in
            let deadline = ContinuousClock.now.advanced(by: .seconds(30))
            while collector.count < lastSeq, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            await client.disconnect()
            _ = try? await task.value
            return collector.inOrder
        }
    }
}
