import BinProtocol
import BinsTestSupport
import Foundation
import Logging
import MQTT
import SimulatedPoint
import Synchronization
import Testing

@testable import BinDaemon

/// Logs of test-side MQTT clients go nowhere unless BINS_TEST_LOG is set.
let harnessLogger: Logger = {
    guard ProcessInfo.processInfo.environment["BINS_TEST_LOG"] != nil else {
        return Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
    }
    var logger = Logger(label: "test", factory: { StreamLogHandler.standardError(label: $0) })
    logger.logLevel = .debug
    return logger
}()

/// A shipped scenario file.
func scenarioFile(_ name: String) -> String { "\(TestExecutables.repositoryRoot)/scenarios/\(name)" }

/// Everything a point publishes under `bins/v1/{device}/#`, in arrival order, as a subscriber sees it.
final class PointRecorder: MQTTMessageHandler {
    let device: String
    private let messages = Mutex<[MQTTMessage]>([])

    init(device: String) { self.device = device }

    func handle(_ message: MQTTMessage) { messages.withLock { $0.append(message) } }

    var received: [MQTTMessage] { messages.withLock { $0 } }

    func payloads<T: WireDecodable & WireValidatable>(_ type: T.Type, topic: String) -> [T] {
        received.filter { $0.topic == topic }.compactMap {
            try? WireCodec.decode(T.self, from: $0.payload, topicDevice: device)
        }
    }

    /// Events in arrival order, duplicates (QoS 1 redeliveries) included.
    var events: [EventPayload] { payloads(EventPayload.self, topic: Topics.events(device)) }
    /// Events by seq, one each.
    var uniqueEvents: [EventPayload] {
        var seen = Set<Int64>()
        return events.filter { seen.insert($0.seq).inserted }.sorted { $0.seq < $1.seq }
    }
    var statuses: [StatusPayload] { payloads(StatusPayload.self, topic: Topics.status(device)) }
    /// Each status as it arrived: online, its time, and the retain flag (set when the broker delivered what it
    /// kept, as at a subscription, rather than a message published while subscribed): for failure messages.
    var statusLog: String {
        received.filter { $0.topic == Topics.status(device) }.map { message in
            let status = try? WireCodec.decode(StatusPayload.self, from: message.payload, topicDevice: device)
            return "\(status.map { "\($0.online) at \($0.ts)" } ?? "undecodable")\(message.retain ? " (retained)" : "")"
        }.joined(separator: ", ")
    }
    var births: [BirthPayload] { payloads(BirthPayload.self, topic: Topics.birth(device)) }
    var replies: [CommandReplyPayload] { payloads(CommandReplyPayload.self, topic: Topics.commandReply(device)) }
    var health: [HealthPayload] { payloads(HealthPayload.self, topic: Topics.health(device)) }
    func states(bin: String) -> [StatePayload] { payloads(StatePayload.self, topic: Topics.state(device, bin: bin)) }

    func wait(timeout: Duration = .seconds(60), _ what: String, until condition: (PointRecorder) -> Bool) async throws {
        try await waitUntil(timeout: timeout, what) { condition(self) }
    }

    func reply(_ id: String, timeout: Duration = .seconds(60)) async throws -> CommandReplyPayload {
        try await wait(timeout: timeout, "reply to command \(id)") { $0.replies.contains { $0.id == id } }
        return replies.first { $0.id == id }!
    }
}

/// A test-side MQTT client, subscribed to one point's topics before the point starts.
final class Subscriber: Sendable {
    let client: MQTTClient
    let recorder: PointRecorder
    private let task: Task<Void, any Error>

    init(_ broker: MosquittoBroker, device: String, username: String? = nil, password: String? = nil) async throws {
        let client = try MQTTClient(
            configuration: MQTTConfiguration(
                host: broker.host, port: broker.port, clientID: "test-\(UUID().uuidString.prefix(8))",
                username: username,
                password: password, reconnectDelayMin: .milliseconds(50), reconnectDelayMax: .milliseconds(400)),
            logger: harnessLogger)
        self.client = client
        recorder = PointRecorder(device: device)
        task = Task { try await client.run() }
        try await client.waitUntilConnected(timeout: .seconds(20))
        try await client.subscribe(["bins/v1/\(device)/#"], qos: .atLeastOnce, handler: recorder)
    }

    func command(_ json: String) async throws {
        try await client.publish(MQTTMessage(topic: Topics.command(recorder.device), text: json, qos: .atLeastOnce))
    }

    func stop() async throws {
        await client.disconnect()
        try await task.value
    }
}

/// `binsd simulate` (or another binsd verb) as a child process of the test.
struct Binsd {
    let process: ChildProcess
    let directory: TemporaryDirectory

    static func start(_ arguments: [String], in directory: TemporaryDirectory, environment: [String: String]? = nil)
        throws -> Binsd
    {
        let process = try ChildProcess(
            try TestExecutables.path("binsd"), arguments, environment: environment,
            outputPath: directory.file("binsd-\(UUID().uuidString.prefix(6)).log"))
        return Binsd(process: process, directory: directory)
    }

    /// `binsd simulate` of a shipped scenario file (a name in `scenarios/`).
    static func simulate(
        _ scenario: String, broker: MosquittoBroker, in directory: TemporaryDirectory, extra: [String] = []
    ) throws -> Binsd {
        try simulate(path: scenarioFile(scenario), broker: broker, in: directory, extra: extra)
    }

    /// `binsd simulate` of a scenario file anywhere (one a test wrote).
    static func simulate(
        path: String, broker: MosquittoBroker, in directory: TemporaryDirectory, extra: [String] = []
    ) throws -> Binsd {
        try start(
            [
                "simulate", "--scenario", path, "--broker", "\(broker.host):\(broker.port)",
                "--state-dir", directory.file("state"), "--truth-out", directory.file("truth.json"),
            ] + extra, in: directory)
    }

    /// Waits for the process to end and returns its exit status and the last line it printed on stdout
    /// (the summary; logs go to the same file, so the JSON line is picked out). Bounded by the CPU time binsd
    /// uses, not the wall clock (`ChildProcess.waitForExit(cpuBudget:)`): the baseline day alone takes about
    /// 15 s, and three times 180 s when the whole suite shares two cores with it.
    func finish(cpuBudget: Duration = .seconds(180)) async throws -> (ChildProcess.Termination, [String: Any]?) {
        let termination = try await process.waitForExit(cpuBudget: cpuBudget)
        let summary = process.output.split(separator: "\n").last { $0.hasPrefix("{\"") }
        let object = summary.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        return (termination, object)
    }

    var truth: TruthExport.File {
        get throws { try TruthExport.read(directory.file("truth.json")) }
    }

    /// The tail of the child's output, for failure messages.
    var outputTail: String { String(process.output.suffix(4000)) }
}

/// `binsd simulate` of one scenario against a broker of its own, watched from the start by a subscriber on
/// the point's topics, run to its end: where the wiring tests start from.
struct SimulationRun {
    let directory: TemporaryDirectory
    let broker: MosquittoBroker
    let subscriber: Subscriber
    let binsd: Binsd
    let termination: ChildProcess.Termination
    /// The JSON summary line `binsd simulate` printed.
    let summary: [String: Any]?

    /// Runs the scenario file `scenario` names (it may write one into the run's directory first).
    static func start(
        prefix: String, device: String, extra: [String] = [], scenario: (TemporaryDirectory) throws -> String
    ) async throws -> SimulationRun {
        let directory = try TemporaryDirectory(prefix: prefix)
        let path = try scenario(directory)
        let broker = try await MosquittoBroker.start(in: directory)
        let subscriber = try await Subscriber(broker, device: device)
        let binsd = try Binsd.simulate(path: path, broker: broker, in: directory, extra: extra)
        let (termination, summary) = try await binsd.finish()
        return SimulationRun(
            directory: directory, broker: broker, subscriber: subscriber, binsd: binsd, termination: termination,
            summary: summary)
    }

    var recorder: PointRecorder { subscriber.recorder }

    /// The seq of the last event the point recorded, from the summary.
    var lastSeq: Int {
        get throws { try #require(summary?["last_seq"] as? Int) }
    }

    /// Every event the point recorded, by seq, once the subscriber has them all.
    func allEvents() async throws -> [EventPayload] {
        let lastSeq = try lastSeq
        try await recorder.wait("all \(lastSeq) events") { $0.uniqueEvents.count >= lastSeq }
        return recorder.uniqueEvents
    }
}
