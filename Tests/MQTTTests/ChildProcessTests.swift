import BinsTestSupport
import Foundation
import MQTT
import Testing

/// Behaviour that only a real process death shows: the will, and redelivery of a message whose handler
/// never returned.
@Suite("MQTT with SIGKILLed client processes", .serialized)
struct ChildProcessTests {
    @Test("the will is published when the client process is SIGKILLed (no DISCONNECT)")
    func willOnSigkill() async throws {
        let directory = try TemporaryDirectory(prefix: "will")
        let broker = try await MosquittoBroker.start(in: directory)
        let watcher = try await RunningClient(clientConfiguration(broker))
        let collector = MessageCollector()
        try await watcher.client.subscribe(["bins/v1/pt-will/status"], qos: .atLeastOnce, handler: collector)

        let peer = try ChildProcess(
            try TestExecutables.path("mqtt-test-peer"),
            [
                "will", "--port", "\(broker.port)", "--client-id", "pt-will", "--will-topic", "bins/v1/pt-will/status",
                "--will-payload", "{\"online\":false,\"session\":3}",
            ], outputPath: directory.file("peer.log"))
        try await peer.waitForOutput(containing: "connected", timeout: .seconds(30))
        #expect(collector.received.isEmpty, "no will while the client lives")
        try await peer.killAndWait()
        #expect(peer.termination == .signalled(SIGKILL))
        try await collector.wait("will after SIGKILL") { !$0.isEmpty }
        #expect(collector.texts == ["{\"online\":false,\"session\":3}"])
        try await watcher.stop()
    }

    @Test("a clean disconnect does not publish the will")
    func noWillOnCleanDisconnect() async throws {
        let broker = try await MosquittoBroker.start()
        let watcher = try await RunningClient(clientConfiguration(broker))
        let collector = MessageCollector()
        try await watcher.client.subscribe(["will/#"], qos: .atLeastOnce, handler: collector)
        let leaving = try await RunningClient(
            clientConfiguration(broker, will: MQTTMessage(topic: "will/leaving", text: "gone", qos: .atLeastOnce)))
        try await leaving.stop()
        // A marker published after the clean stop: when it arrives, a will would have arrived before it.
        try await watcher.client.publish(MQTTMessage(topic: "will/marker", text: "marker", qos: .atLeastOnce))
        try await collector.wait("marker") { $0.contains { $0.text == "marker" } }
        #expect(collector.texts == ["marker"])
        try await watcher.stop()
    }

    /// The guarantee the aggregator's ingest rests on: libmosquitto (2.0.11, threaded mode) writes a QoS 1
    /// message's PUBACK only after the synchronous handler returns. The subscriber process SIGKILLs itself
    /// inside the handler; if the PUBACK had gone out before the handler, the broker would consider the
    /// message delivered and never send it again.
    @Test(
        "a QoS 1 message whose handler was killed before returning is redelivered to the persistent session",
        arguments: ["3.1.1", "5"])
    func handlerKilledMessageIsRedelivered(protocolVersion: String) async throws {
        let directory = try TemporaryDirectory(prefix: "handler-kill")
        let broker = try await MosquittoBroker.start(in: directory)
        let record = directory.file("received.txt")
        let peerPath = try TestExecutables.path("mqtt-test-peer")
        let clientID = "ingest-\(protocolVersion == "5" ? "v5" : "v311")"
        func startSubscriber(killOn: String?) throws -> ChildProcess {
            try ChildProcess(
                peerPath,
                [
                    "persistent-subscriber", "--port", "\(broker.port)", "--client-id", clientID, "--protocol-version",
                    protocolVersion, "--filter", "bins/v1/+/events", "--record", record,
                ] + (killOn.map { ["--kill-on", $0] } ?? []), outputPath: directory.file("subscriber.log"))
        }

        let first = try startSubscriber(killOn: "event-2")
        try await first.waitForOutput(containing: "ready", timeout: .seconds(30))
        let publisher = try await RunningClient(clientConfiguration(broker))
        for index in 1...3 {
            try await publisher.client.publish(
                MQTTMessage(topic: "bins/v1/pt-1/events", text: "event-\(index)", qos: .atLeastOnce))
        }
        let termination = try await first.waitForExit(timeout: .seconds(30))
        #expect(termination == .signalled(SIGKILL))
        #expect(first.output.contains("killing inside handler: event-2"))
        let beforeRestart = (try? String(contentsOfFile: record, encoding: .utf8)) ?? ""
        #expect(beforeRestart == "event-1\n", "only event-1 was handled before the kill")

        let second = try startSubscriber(killOn: nil)
        try await waitUntil(timeout: .seconds(30), "event-2 and event-3 redelivered") {
            ((try? String(contentsOfFile: record, encoding: .utf8)) ?? "").contains("event-3")
        }
        let lines = try String(contentsOfFile: record, encoding: .utf8).split(separator: "\n").map(String.init)
        // event-1 may come twice: libmosquitto can read several packets per loop pass, so its PUBACK may
        // still have been queued when the process died. That is the allowed direction (a duplicate).
        #expect(lines.first == "event-1")
        #expect(Array(lines.drop { $0 == "event-1" }) == ["event-2", "event-3"])
        try await second.killAndWait()
        try await publisher.stop()
    }

    /// Starts `mqtt-test-peer persistent-subscriber` in `mode` on `bins/v1/+/events`, recording to `record`.
    static func subscriber(
        _ broker: MosquittoBroker, directory: TemporaryDirectory, clientID: String, mode: String, record: String,
        killOn: String?,
        log: String
    ) throws -> ChildProcess {
        try ChildProcess(
            try TestExecutables.path("mqtt-test-peer"),
            [
                "persistent-subscriber", "--port", "\(broker.port)", "--client-id", clientID, "--protocol-version", "5",
                "--filter", "bins/v1/+/events", "--record", record, "--mode", mode,
            ] + (killOn.map { ["--kill-on", $0] } ?? []), outputPath: directory.file(log))
    }

    /// Registers the persistent session, lets 40 events queue while the subscriber is away, then starts it
    /// in `mode` with a kill on event-30: the 40 arrive as one burst on reconnection. Returns the
    /// killed process's output and the record as it stood at the kill.
    static func queueAndKill(
        _ broker: MosquittoBroker, directory: TemporaryDirectory, clientID: String, mode: String, record: String
    ) async throws -> (output: String, recorded: [String]) {
        let registration = try subscriber(
            broker, directory: directory, clientID: clientID, mode: "message", record: record, killOn: nil,
            log: "register.log")
        try await registration.waitForOutput(containing: "ready", timeout: .seconds(30))
        try await registration.killAndWait()
        let publisher = try await RunningClient(clientConfiguration(broker))
        for index in 1...40 {
            try await publisher.client.publish(
                MQTTMessage(topic: "bins/v1/pt-1/events", text: "event-\(index)", qos: .atLeastOnce))
        }
        try await publisher.stop()
        let killed = try subscriber(
            broker, directory: directory, clientID: clientID, mode: mode, record: record, killOn: "event-30",
            log: "killed.log")
        #expect(try await killed.waitForExit(timeout: .seconds(30)) == .signalled(SIGKILL))
        let recorded = ((try? String(contentsOfFile: record, encoding: .utf8)) ?? "").split(separator: "\n").map(
            String.init)
        return (killed.output, recorded)
    }

    /// The batch form of the proof above: a batch handler killed inside its commit gets every message of
    /// that batch again, because the client writes none of a burst's PUBACKs before the handler returns.
    @Test("a batch whose handler was killed before its commit is redelivered whole; batches commit bursts")
    func batchKilledBeforeCommitIsRedelivered() async throws {
        let directory = try TemporaryDirectory(prefix: "batch-kill")
        let broker = try await MosquittoBroker.start(in: directory)
        let record = directory.file("received.txt")
        let (output, recorded) = try await Self.queueAndKill(
            broker, directory: directory, clientID: "ingest-batch", mode: "batch", record: record)

        let line = try #require(output.split(separator: "\n").first { $0.contains("killing inside batch of ") })
        let batch = line.split(separator: ":", maxSplits: 1)[1].split(separator: " ").map(String.init)
        #expect(batch.count >= 2, "the 40 queued events arrive as bursts, so the killed batch holds several: \(line)")
        #expect(batch.contains("event-30"))
        #expect(Set(recorded).isDisjoint(with: batch), "nothing of the killed batch was committed")

        let second = try Self.subscriber(
            broker, directory: directory, clientID: "ingest-batch", mode: "batch", record: record, killOn: nil,
            log: "second.log")
        let all = Set((1...40).map { "event-\($0)" })
        try await waitUntil(timeout: .seconds(30), "all 40 events recorded") {
            all.isSubset(
                of: Set(
                    ((try? String(contentsOfFile: record, encoding: .utf8)) ?? "").split(separator: "\n").map(
                        String.init)))
        }
        try await second.killAndWait()
    }

    /// The control: a consumer that lets its messages be acknowledged on arrival and commits them in
    /// batches afterwards loses the batch it was killed in. If this passed, the test above could not tell
    /// the two designs apart.
    @Test("control: acknowledging before the commit loses the messages of the killed batch")
    func acknowledgingBeforeCommitLosesTheBatch() async throws {
        let directory = try TemporaryDirectory(prefix: "batch-kill-control")
        let broker = try await MosquittoBroker.start(in: directory)
        let record = directory.file("received.txt")
        let (output, recorded) = try await Self.queueAndKill(
            broker, directory: directory, clientID: "ingest-control", mode: "ack-before-commit", record: record)
        #expect(output.contains("killing before committing (already acknowledged)"))
        #expect(!recorded.contains("event-30"))

        let second = try Self.subscriber(
            broker, directory: directory, clientID: "ingest-control", mode: "message", record: record, killOn: nil,
            log: "second.log")
        try await second.waitForOutput(containing: "ready", timeout: .seconds(30))
        let publisher = try await RunningClient(clientConfiguration(broker))
        try await publisher.client.publish(
            MQTTMessage(topic: "bins/v1/pt-1/events", text: "sentinel", qos: .atLeastOnce))
        try await publisher.stop()
        try await waitUntil(timeout: .seconds(30), "the sentinel recorded") {
            ((try? String(contentsOfFile: record, encoding: .utf8)) ?? "").contains("sentinel")
        }
        let after = try String(contentsOfFile: record, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(!after.contains("event-30"), "event-30 was acknowledged before its commit and never came again")
        try await second.killAndWait()
    }
}
