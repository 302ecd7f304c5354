import BinsTestSupport
import Foundation
import MQTT
import Synchronization
import Testing

/// Inserts `"historical":true` before the closing brace, as the daemon's transform does.
@Sendable func markHistorical(_ payload: [UInt8]) -> [UInt8] {
    guard payload.last == UInt8(ascii: "}") else { return payload }
    return payload.dropLast() + Array(",\"historical\":true}".utf8)
}

/// What a receiver saw: seqs in arrival order, and which arrived marked historical.
struct ReceivedEvents {
    var seqs: [Int64] = []
    var historical: Set<Int64> = []
    /// Seqs that arrived marked historical by a given publisher session (the test peer's mark).
    var sentInSession: [Int64: Set<Int64>] = [:]

    init(_ messages: [MQTTMessage]) {
        for message in messages {
            let text = message.text
            guard let start = text.range(of: "\"seq\":") else { continue }
            let digits = text[start.upperBound...].prefix { $0.isNumber }
            guard let seq = Int64(digits) else { continue }
            seqs.append(seq)
            if text.contains("\"historical\":true") { historical.insert(seq) }
            if let mark = text.range(of: "\"sent_in_session\":"),
                let session = Int64(text[mark.upperBound...].prefix { $0.isNumber })
            {
                sentInSession[session, default: []].insert(seq)
            }
        }
    }
}

@Suite("Outbox publisher through a real mosquitto", .serialized)
struct OutboxPublisherTests {
    @Test("broker down while 1,000 events are recorded: after its restart all arrive, in seq order, marked historical")
    func brokerOutage() async throws {
        let directory = try TemporaryDirectory(prefix: "outage")
        let broker = try await MosquittoBroker.start(in: directory)
        let topic = "bins/v1/pt-0001/events"

        // The receiving side of the no-loss chain: a persistent session, handler registered before run().
        let collector = MessageCollector()
        let receiver = try MQTTClient(
            configuration: clientConfiguration(broker, clientID: "aggregator-outage", cleanSession: false),
            logger: testLogger)
        try await receiver.subscribe(["bins/v1/+/events"], qos: .atLeastOnce, handler: collector)
        let receiverTask = Task { try await receiver.run() }
        try await receiver.waitUntilConnected(timeout: .seconds(20))

        let outbox = try Outbox(
            path: directory.file("outbox.sqlite"), capacity: 10_000, syncPolicy: .everyWrite, logger: testLogger)
        let device = try MQTTClient(configuration: clientConfiguration(broker, clientID: "pt-0001"), logger: testLogger)
        let publisher = OutboxPublisher(
            outbox: outbox, client: device, logger: testLogger, markHistorical: markHistorical)
        let deviceTask = Task { try await device.run() }
        let publisherTask = Task { try await publisher.run() }
        try await device.waitUntilConnected(timeout: .seconds(20))

        func record(_ count: Int) throws {
            for _ in 0..<count {
                try outbox.append(topic: topic, qos: .atLeastOnce) { seq in Array("{\"seq\":\(seq)}".utf8) }
            }
        }
        try record(10)
        #expect(await publisher.waitUntilDrained(timeout: .seconds(30)))
        try await collector.wait("10 live events") { $0.count == 10 }

        try await broker.stop()
        // Recorded once the device knows it is offline (records handed to libmosquitto in the instant
        // before it notices are resent by libmosquitto as they were, unmarked).
        try await waitUntil(timeout: .seconds(20), "device notices the broker is gone") { device.state != .connected }
        try record(1000)
        #expect(outbox.depth == 1000)
        #expect(
            await publisher.waitUntilDrained(timeout: .milliseconds(200)) == false, "nothing drains without a broker")
        try await broker.restart()

        #expect(await publisher.waitUntilDrained(timeout: .seconds(60)))
        try await collector.wait(timeout: .seconds(60), "1,010 events") { ReceivedEvents($0).seqs.count >= 1010 }
        let received = ReceivedEvents(collector.received)
        #expect(received.seqs == Array(1...1010), "in seq order, none missing, none twice")
        #expect(
            received.historical == Set(11...1010),
            "recorded while offline = sent late = historical; unmarked: \(Set(11...1010).subtracting(received.historical).sorted()), wrongly marked: \(received.historical.subtracting(11...1010).sorted())"
        )
        #expect(outbox.depth == 0)
        #expect(try outbox.takeDropReports().isEmpty)

        publisherTask.cancel()
        try await publisherTask.value
        await device.disconnect()
        try await deviceTask.value
        await receiver.disconnect()
        try await receiverTask.value
    }

    @Test(
        "publisher SIGKILLed with unacknowledged events: after a restart nothing is lost, and only unacknowledged ones come twice"
    )
    func publisherKilled() async throws {
        let directory = try TemporaryDirectory(prefix: "publisher-kill")
        let broker = try await MosquittoBroker.start(in: directory)
        let database = directory.file("outbox.sqlite")
        let topic = "bins/v1/pt-0002/events"

        let collector = MessageCollector()
        let receiver = try MQTTClient(
            configuration: clientConfiguration(broker, clientID: "aggregator-kill", cleanSession: false),
            logger: testLogger)
        try await receiver.subscribe(["bins/v1/+/events"], qos: .atLeastOnce, handler: collector)
        let receiverTask = Task { try await receiver.run() }
        try await receiver.waitUntilConnected(timeout: .seconds(20))

        let peerPath = try TestExecutables.path("mqtt-test-peer")
        func startPeer(count: Int, extra: [String] = []) throws -> ChildProcess {
            try ChildProcess(
                peerPath,
                [
                    "outbox-publisher", "--port", "\(broker.port)", "--client-id", "pt-0002", "--database", database,
                    "--topic", topic, "--count", "\(count)",
                ] + extra, outputPath: directory.file("peer.log"))
        }
        // Some acknowledged and deleted, more in flight: the publisher itself freezes the broker once 200
        // are acknowledged, so the in-flight PUBACKs never come; then it is killed.
        let brokerPid = try #require(broker.pid)
        let first = try startPeer(count: 1000, extra: ["--freeze-pid", "\(brokerPid)", "--freeze-at-depth", "800"])
        try await first.waitForOutput(containing: "froze \(brokerPid)", timeout: .seconds(60))
        try await first.killAndWait()
        broker.resume()
        #expect(first.termination == .signalled(SIGKILL))

        // What the killed process had not seen acknowledged is exactly what is still in the outbox.
        let unacknowledged: Set<Int64>
        do {
            let outbox = try Outbox(path: database, capacity: 100_000, syncPolicy: .everyWrite, logger: testLogger)
            unacknowledged = Set(try outbox.pending(after: 0, limit: 100_000).map(\.seq))
            #expect(outbox.lastSeq == 1000)
        }
        #expect(
            !unacknowledged.isEmpty && unacknowledged.count < 1000, "killed mid-drain: \(unacknowledged.count) left")

        let second = try startPeer(count: 0)
        try await second.waitForOutput(containing: "drained", timeout: .seconds(60))
        #expect(try await second.waitForExit(timeout: .seconds(30)) == .exited(0))
        try await collector.wait(timeout: .seconds(60), "every seq") { Set(ReceivedEvents($0).seqs).count == 1000 }

        let received = ReceivedEvents(collector.received)
        #expect(Set(received.seqs) == Set(1...1000), "nothing lost")
        var counts: [Int64: Int] = [:]
        for seq in received.seqs { counts[seq, default: 0] += 1 }
        let duplicated = Set(counts.filter { $0.value > 1 }.keys)
        #expect(duplicated.isSubset(of: unacknowledged), "duplicates only of events whose PUBACK was not recorded")
        // The restarted process (session 2) sent exactly the records left unacknowledged, marked historical.
        #expect(received.sentInSession[2] == unacknowledged)
        #expect(received.historical == Set(1...1000), "all 1,000 were recorded before any connection was up")

        await receiver.disconnect()
        try await receiverTask.value
    }
}
