import ArgumentParser
import Dispatch
import Logging
import MQTT

#if canImport(Glibc)
import Glibc
#endif

/// A separate process the MQTT tests start and kill: a client with a will, a persistent-session
/// subscriber that dies inside its message handler, and an outbox publisher killed mid-drain.
@main
struct MQTTTestPeer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mqtt-test-peer",
        abstract: "Child process for the MQTT tests (real broker, real SIGKILL).",
        subcommands: [WillClient.self, PersistentSubscriber.self, OutboxPublisherPeer.self, OutboxFill.self])
}

/// Options every peer shares.
struct BrokerOptions: ParsableArguments {
    @Option(help: "Broker host.") var host = "127.0.0.1"
    @Option(help: "Broker port.") var port: Int
    @Option(help: "MQTT client id.") var clientID: String
    @Option(help: "MQTT protocol: 3.1.1 or 5.") var protocolVersion = "3.1.1"

    func configuration(cleanSession: Bool, will: MQTTMessage? = nil) -> MQTTConfiguration {
        MQTTConfiguration(
            host: host, port: port, clientID: clientID, cleanSession: cleanSession,
            protocolVersion: protocolVersion == "5" ? .v5 : .v311, will: will,
            reconnectDelayMin: .milliseconds(50), reconnectDelayMax: .milliseconds(500))
    }
}

func bootstrapLogging() -> Logger {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = .notice
        return handler
    }
    return Logger(label: "mqtt-test-peer")
}

/// Writes a line to stdout at once (the test reads the output file while the process runs).
func say(_ line: String) {
    let bytes = Array((line + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress, $0.count) }
}

struct WillClient: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "will", abstract: "Connect with a last will, say 'connected', and wait to be killed.")

    @OptionGroup var broker: BrokerOptions
    @Option var willTopic: String
    @Option var willPayload: String

    func run() async throws {
        let logger = bootstrapLogging()
        let will = MQTTMessage(topic: willTopic, text: willPayload, qos: .atLeastOnce, retain: false)
        let client = try MQTTClient(configuration: broker.configuration(cleanSession: true, will: will), logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await client.run() }
            try await client.waitUntilConnected(timeout: .seconds(20))
            say("connected")
            try await group.next()
        }
    }
}

/// Appends lines to the record file and fsyncs before returning, as the aggregator commits before its
/// handler returns.
func appendRecord(_ lines: [String], to path: String) {
    let fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0o644)
    guard fd >= 0 else {
        say("cannot open \(path): errno \(errno)")
        return
    }
    let bytes = Array(lines.map { $0 + "\n" }.joined().utf8)
    _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    fsync(fd)
    close(fd)
}

/// Records every message in a file inside the synchronous handler, and kills itself inside the handler
/// on a chosen payload.
struct MessageRecorder: MQTTMessageHandler {
    let recordPath: String
    let killOn: String?

    func handle(_ message: MQTTMessage) {
        if let killOn, message.text == killOn {
            say("killing inside handler: \(message.text)")
            kill(getpid(), SIGKILL)
        }
        appendRecord([message.text], to: recordPath)
    }
}

/// Records each batch with one write and fsync (the commit) on a queue of its own, as the aggregator
/// commits (the network thread reads the next burst meanwhile), acknowledges it after that, and kills
/// itself inside the commit, before the write, when the batch holds a chosen payload.
struct BatchRecorder: MQTTBatchHandler {
    let recordPath: String
    let killOn: String?
    let commits = DispatchQueue(label: "batch-recorder.commit")

    func handle(_ batch: [MQTTMessage], acknowledgement: MQTTBatchAcknowledgement) {
        commits.async { [recordPath, killOn] in
            if let killOn, batch.contains(where: { $0.text == killOn }) {
                say("killing inside batch of \(batch.count): \(batch.map(\.text).joined(separator: " "))")
                kill(getpid(), SIGKILL)
            }
            appendRecord(batch.map(\.text), to: recordPath)
            acknowledgement.acknowledge()
        }
    }
}

struct PersistentSubscriber: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "persistent-subscriber",
        abstract: "Subscribe at QoS 1 with a persistent session; record messages; die inside the handler on --kill-on.")

    @OptionGroup var broker: BrokerOptions
    @Option var filter: String
    @Option(help: "File each received payload is appended to.") var record: String
    @Option(help: "Payload on which the handler SIGKILLs its own process before returning.") var killOn: String?
    @Option(
        help: """
            message: a handler per message; batch: a batch handler (one commit per burst); \
            ack-before-commit: the control, a stream subscription (acknowledged on arrival) committed in bursts afterwards
            """) var mode = "message"

    func run() async throws {
        let logger = bootstrapLogging()
        let client = try MQTTClient(configuration: broker.configuration(cleanSession: false), logger: logger)
        // Registered before run(): messages queued in the persistent session arrive right after CONNACK.
        var acknowledgedFirst: AsyncStream<MQTTMessage>?
        switch mode {
        case "batch":
            try await client.subscribe(
                [filter], qos: .atLeastOnce, batchHandler: BatchRecorder(recordPath: record, killOn: killOn))
        case "ack-before-commit":
            acknowledgedFirst = try await client.subscribe(filter, qos: .atLeastOnce)
        default:
            try await client.subscribe(
                [filter], qos: .atLeastOnce, handler: MessageRecorder(recordPath: record, killOn: killOn))
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            if let acknowledgedFirst {
                group.addTask { [record, killOn, client, clientID = broker.clientID] in
                    // Commits what has arrived so far as one batch, as a batching consumer that acknowledged
                    // on arrival would: the kill loses every message of the batch.
                    var pending: [String] = []
                    for await message in acknowledgedFirst {
                        pending.append(message.text)
                        if let killOn, message.text == killOn {
                            // A publish acknowledged by the broker went out after the PUBACKs libmosquitto
                            // queued on reading these messages (one ordered queue), so the broker has them.
                            try? await client.publish(
                                MQTTMessage(
                                    topic: "mqtt-test-peer/\(clientID)/flushed", text: "flushed", qos: .atLeastOnce))
                            say("killing before committing (already acknowledged): \(pending.joined(separator: " "))")
                            kill(getpid(), SIGKILL)
                        }
                        if pending.count >= 5 {
                            appendRecord(pending, to: record)
                            pending = []
                        }
                    }
                }
            }
            group.addTask { try await client.run() }
            try await client.waitUntilConnected(timeout: .seconds(20))
            // A SUBACK on the same connection proves the broker processed the restored subscription too.
            _ = try await client.subscribe("mqtt-test-peer/\(broker.clientID)/ready", qos: .atLeastOnce)
            say("ready")
            try await group.next()
        }
    }
}

struct OutboxPublisherPeer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "outbox-publisher",
        abstract: "Record --count events in an outbox, then publish it through MQTT until drained.")

    @OptionGroup var broker: BrokerOptions
    @Option(help: "Outbox SQLite file.") var database: String
    @Option var topic: String
    @Option(help: "Events to record before publishing.") var count = 0
    @Option var capacity = 100_000
    @Option(help: "every-write or batched") var sync = "every-write"
    @Option(help: "Records handed to the MQTT client at once.") var windowSize = 256
    @Option(help: "Process (the broker) this peer sends SIGSTOP when the depth first falls to --freeze-at-depth.")
    var freezePid: Int32?
    @Option var freezeAtDepth = 0

    func run() async throws {
        let logger = bootstrapLogging()
        let outbox = try Outbox(
            path: database, capacity: capacity,
            syncPolicy: sync == "batched" ? .batched(interval: .milliseconds(200)) : .everyWrite, logger: logger)
        let session = try outbox.beginSession()
        for _ in 0..<count {
            try outbox.append(topic: topic, qos: .atLeastOnce) { seq in
                Array("{\"seq\":\(seq),\"session\":\(session)}".utf8)
            }
        }
        say("recorded \(count) session \(session) depth \(outbox.depth)")
        let client = try MQTTClient(configuration: broker.configuration(cleanSession: true), logger: logger)
        // The mark names the session that sent the record late, so a test can tell a replay after a
        // restart from the first run's sends.
        let publisher = OutboxPublisher(
            outbox: outbox, client: client, windowSize: windowSize, logger: logger,
            markHistorical: { payload in markHistorical(payload, session: session) })
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await client.run() }
            group.addTask { try await publisher.run() }
            group.addTask {
                var reported = outbox.depth
                var frozen = false
                for await _ in outbox.changes() {
                    let depth = outbox.depth
                    if let freezePid, !frozen, depth <= freezeAtDepth {
                        // Frozen from here, at once: a test signalling after reading this output could
                        // come too late, when everything is drained.
                        kill(freezePid, SIGSTOP)
                        frozen = true
                        say("froze \(freezePid) at depth \(depth)")
                    }
                    if depth / 100 != reported / 100 || depth == 0 {
                        say("depth \(depth)")
                        reported = depth
                    }
                }
            }
            guard await publisher.waitUntilDrained(timeout: .seconds(120)) else {
                say("not drained: depth \(outbox.depth)")
                throw ExitCode(2)
            }
            say("drained")
            group.cancelAll()
        }
    }
}

/// Inserts `"historical":true` (and the sending session) before the closing brace of a JSON object.
func markHistorical(_ payload: [UInt8], session: Int64) -> [UInt8] {
    guard payload.last == UInt8(ascii: "}") else { return payload }
    return payload.dropLast() + Array(",\"historical\":true,\"sent_in_session\":\(session)}".utf8)
}

/// Pushes many records through a small outbox and reports the process's peak resident memory before and
/// after, so a test can show memory does not grow with the number of records (measured in a process of
/// its own: the test runner's memory is shared by every test running in parallel).
struct OutboxFill: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "outbox-fill",
        abstract: "Append --count records of --payload-bytes through an outbox of --capacity.")

    @Option var database: String
    @Option var capacity: Int
    @Option var count: Int
    @Option var payloadBytes = 1024

    func run() async throws {
        let logger = bootstrapLogging()
        let outbox = try Outbox(
            path: database, capacity: capacity, syncPolicy: .batched(interval: .seconds(1)), logger: logger)
        let filler = [UInt8](repeating: UInt8(ascii: "x"), count: payloadBytes)
        let warmup = min(count, capacity * 2)
        for _ in 0..<warmup { try outbox.append(topic: "fill", qos: .atLeastOnce) { _ in filler } }
        say("rss-warm-kb \(peakResidentKilobytes())")
        for _ in warmup..<count { try outbox.append(topic: "fill", qos: .atLeastOnce) { _ in filler } }
        say("rss-end-kb \(peakResidentKilobytes())")
        say("depth \(outbox.depth) last-seq \(outbox.lastSeq)")
    }

    func peakResidentKilobytes() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_maxrss
    }
}
