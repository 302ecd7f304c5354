import BinsTestSupport
import Foundation
import Testing

@testable import MQTT

@Suite("MQTT client against a real mosquitto", .serialized)
struct MQTTClientTests {
    @Test(
        "QoS 0 and QoS 1 round trips; QoS 1 publish returns after the PUBACK",
        arguments: [MQTTProtocolVersion.v311, .v5])
    func roundTrips(protocolVersion: MQTTProtocolVersion) async throws {
        let broker = try await MosquittoBroker.start()
        let subscriber = try await RunningClient(clientConfiguration(broker, protocolVersion: protocolVersion))
        let publisher = try await RunningClient(clientConfiguration(broker, protocolVersion: protocolVersion))
        let stream = try await subscriber.client.subscribe("round/#", qos: .atLeastOnce)

        try await publisher.client.publish(MQTTMessage(topic: "round/qos1", text: "one", qos: .atLeastOnce))
        let first = try await nextMessage(stream)
        #expect(first.topic == "round/qos1")
        #expect(first.text == "one")
        #expect(first.qos == .atLeastOnce)
        #expect(first.retain == false)

        try await publisher.client.publish(MQTTMessage(topic: "round/qos0", text: "zero", qos: .atMostOnce))
        let second = try await nextMessage(stream)
        #expect(second.text == "zero")
        #expect(second.qos == .atMostOnce)

        // Binary payloads and the empty payload survive the copy out of libmosquitto's buffers.
        let binary: [UInt8] = [0, 1, 2, 255, 0, 128]
        try await publisher.client.publish(MQTTMessage(topic: "round/binary", payload: binary, qos: .atLeastOnce))
        #expect(try await nextMessage(stream).payload == binary)
        try await publisher.client.publish(MQTTMessage(topic: "round/empty", payload: [], qos: .atLeastOnce))
        #expect(try await nextMessage(stream).payload == [])

        try await publisher.stop()
        try await subscriber.stop()
    }

    @Test("a retained message reaches a subscriber that arrives later, flagged retained")
    func retained() async throws {
        let broker = try await MosquittoBroker.start()
        let publisher = try await RunningClient(clientConfiguration(broker))
        try await publisher.client.publish(
            MQTTMessage(topic: "bins/v1/pt-7/status", text: "{\"online\":true}", qos: .atLeastOnce, retain: true))
        try await publisher.stop()

        let late = try await RunningClient(clientConfiguration(broker))
        let stream = try await late.client.subscribe("bins/v1/+/status", qos: .atLeastOnce)
        let message = try await nextMessage(stream)
        #expect(message.retain)
        #expect(message.text == "{\"online\":true}")
        try await late.stop()
    }

    @Test("handler subscriptions receive every filter they named; overlapping filters deliver to each subscriber")
    func handlerSubscriptions() async throws {
        let broker = try await MosquittoBroker.start()
        let client = try await RunningClient(clientConfiguration(broker))
        let collector = MessageCollector()
        try await client.client.subscribe(["a/+", "b/#"], qos: .atLeastOnce, handler: collector)
        let stream = try await client.client.subscribe("b/x", qos: .atMostOnce)
        for topic in ["a/1", "b/x", "c/1"] {
            try await client.client.publish(MQTTMessage(topic: topic, text: topic, qos: .atLeastOnce))
        }
        try await client.client.publish(MQTTMessage(topic: "a/end", text: "end", qos: .atLeastOnce))
        try await collector.wait("a/end delivered") { $0.contains { $0.text == "end" } }
        #expect(collector.texts == ["a/1", "b/x", "end"])
        #expect(try await nextMessage(stream).topic == "b/x")
        try await client.stop()
    }

    @Test("state changes are observable: connecting, connected, then disconnected when stopped")
    func stateChanges() async throws {
        let broker = try await MosquittoBroker.start()
        let client = try MQTTClient(configuration: clientConfiguration(broker), logger: testLogger)
        #expect(client.state == .disconnected)
        let changes = client.stateChanges()
        let task = Task { try await client.run() }
        let seen = try await collectStates(changes, "connected") { $0.last == .connected }
        #expect(seen == [.disconnected, .connecting, .connected])
        #expect(client.state == .connected)
        await client.disconnect()
        try await task.value
        #expect(client.state == .disconnected)
        // A stopped client refuses publishes and cannot be run again.
        await #expect(throws: MQTTError.self) {
            try await client.publish(MQTTMessage(topic: "x", text: "y"))
        }
        await #expect(throws: MQTTError.self) { try await client.run() }
    }

    @Test(
        "no broker: waitUntilConnected times out naming the broker and the refused TCP connection; publish says not connected"
    )
    func noBroker() async throws {
        let port = try freeLoopbackPort()
        let configuration = MQTTConfiguration(
            host: "127.0.0.1", port: port, clientID: "lonely", reconnectDelayMin: .milliseconds(20),
            reconnectDelayMax: .milliseconds(100))
        let running = try await RunningClient(configuration, connect: false)
        let error = await #expect(throws: MQTTError.self) {
            try await running.client.waitUntilConnected(timeout: .milliseconds(700))
        }
        #expect(error?.code == .timeout)
        #expect(error?.description.contains("127.0.0.1:\(port)") == true)
        #expect(error?.description.contains("Connection refused") == true, "\(String(describing: error))")
        #expect(running.client.lastError?.code == .connectionFailed)
        #expect(running.client.lastError?.errno == ECONNREFUSED)
        let publishError = await #expect(throws: MQTTError.self) {
            try await running.client.publish(MQTTMessage(topic: "t", text: "x"))
        }
        #expect(publishError?.code == .notConnected)
        try await running.stop()
    }

    @Test("broker restarted: the client reconnects with backoff and its subscription is restored")
    func reconnectRestoresSubscriptions() async throws {
        let broker = try await MosquittoBroker.start(.init(persistence: false))
        let subscriber = try await RunningClient(clientConfiguration(broker))
        let collector = MessageCollector()
        try await subscriber.client.subscribe(["restore/#"], qos: .atLeastOnce, handler: collector)
        let changes = subscriber.client.stateChanges()

        try await broker.stop()
        try await broker.restart()
        // Clean session and no persistence: only a client-side resubscribe can make this arrive.
        _ = try await collectStates(changes, "reconnect after the broker restart") { seen in
            guard let lost = seen.firstIndex(of: .disconnected) else { return false }
            return seen[lost...].contains(.connected)
        }
        let publisher = try await RunningClient(clientConfiguration(broker))
        try await publisher.client.publish(MQTTMessage(topic: "restore/after", text: "after", qos: .atLeastOnce))
        try await collector.wait("message after restart") { $0.map(\.text) == ["after"] }
        try await publisher.stop()
        try await subscriber.stop()
    }

    @Test(
        "a batch handler gets a queued backlog in bursts bounded by batchMaxMessages, every message once and in order")
    func batchesAreBounded() async throws {
        let broker = try await MosquittoBroker.start()
        var configuration = clientConfiguration(
            broker, clientID: "batch-bound-\(UUID().uuidString.prefix(6))", cleanSession: false)
        configuration.batchMaxMessages = 7
        // Register the persistent session, then leave it: the broker queues what follows.
        let registration = BatchCollector()
        let first = try MQTTClient(configuration: configuration, logger: testLogger)
        try await first.subscribe(["batch/#"], qos: .atLeastOnce, batchHandler: registration)
        let firstRun = Task { try await first.run() }
        try await first.waitUntilConnected(timeout: .seconds(20))
        await first.disconnect()
        try await firstRun.value

        let publisher = try await RunningClient(clientConfiguration(broker))
        for index in 1...40 {
            try await publisher.client.publish(
                MQTTMessage(topic: "batch/\(index)", text: "\(index)", qos: .atLeastOnce))
        }
        try await publisher.stop()

        let collector = BatchCollector()
        let second = try MQTTClient(configuration: configuration, logger: testLogger)
        try await second.subscribe(["batch/#"], qos: .atLeastOnce, batchHandler: collector)
        let secondRun = Task { try await second.run() }
        try await waitUntil(timeout: .seconds(30), "the 40 queued messages") { collector.received.joined().count >= 40 }
        await second.disconnect()
        try await secondRun.value

        let sizes = collector.received.map(\.count)
        #expect(sizes.allSatisfy { $0 >= 1 && $0 <= 7 }, "batch sizes \(sizes)")
        #expect(sizes.contains { $0 > 1 }, "a queued backlog arrives in bursts, not one message per batch: \(sizes)")
        #expect(collector.received.joined().map(\.text) == (1...40).map { "\($0)" })
    }

    @Test(
        "while a handed-over batch is unacknowledged the client writes nothing, and reads ahead at most batchPipelineDepth bursts"
    )
    func unacknowledgedBatchHoldsWrites() async throws {
        let broker = try await MosquittoBroker.start()
        var configuration = clientConfiguration(broker, clientID: "held-\(UUID().uuidString.prefix(6))")
        configuration.batchPipelineDepth = 2
        let held = HeldBatches()
        let subscriber = try await RunningClient(configuration)
        try await subscriber.client.subscribe(["held/#"], qos: .atLeastOnce, batchHandler: held)
        let watcher = try await RunningClient(clientConfiguration(broker))
        let echoes = MessageCollector()
        try await watcher.client.subscribe(["echo/#"], qos: .atMostOnce, handler: echoes)
        let publisher = try await RunningClient(clientConfiguration(broker))

        // One message per burst: each is published once the one before has been handed over.
        try await publisher.client.publish(MQTTMessage(topic: "held/1", text: "1", qos: .atLeastOnce))
        try await waitUntil(timeout: .seconds(20), "the first batch") { held.received.count == 1 }
        // The subscriber's own publish queues behind the first batch's PUBACK.
        try subscriber.client.enqueue(MQTTMessage(topic: "echo/x", text: "x", qos: .atMostOnce)) { _ in }
        try await publisher.client.publish(MQTTMessage(topic: "held/2", text: "2", qos: .atLeastOnce))
        try await waitUntil(timeout: .seconds(20), "the second batch, read while the first is held") {
            held.received.count == 2
        }
        try await publisher.client.publish(MQTTMessage(topic: "held/3", text: "3", qos: .atLeastOnce))
        // Two held: the third is not read. A negative can only be watched for a while.
        try await Task.sleep(for: .milliseconds(500))
        #expect(held.received.count == 2, "read beyond the pipeline depth")
        held.acknowledge(1)
        try await waitUntil(timeout: .seconds(20), "the third batch, once one of two is acknowledged") {
            held.received.count == 3
        }
        // The network thread has run passes since the echo was queued (it read the third burst), and the
        // first batch is still held: nothing was written.
        #expect(echoes.received.isEmpty, "written while a batch was unacknowledged")
        held.acknowledge(0)
        held.acknowledge(2)
        try await echoes.wait("the echo, once every batch is acknowledged") { $0.count == 1 }
        #expect(held.received.joined().map(\.text) == ["1", "2", "3"])
        try await publisher.stop()
        try await watcher.stop()
        try await subscriber.stop()
    }

    @Test("a hung broker (SIGSTOP) is noticed by keepalive, not by the next publish")
    func keepaliveNoticesDeadLink() async throws {
        let broker = try await MosquittoBroker.start()
        let running = try await RunningClient(clientConfiguration(broker, keepAlive: 5))
        let changes = running.client.stateChanges()
        broker.suspend()
        // No publish, no subscribe: only a PINGREQ left without PINGRESP can reveal the dead link
        // (after 1.5 × keepalive = 7.5 s).
        _ = try await collectStates(changes, timeout: .seconds(40), "disconnected by keepalive") {
            $0.last == .disconnected
        }
        // Read the cause while the broker is still stopped: once it resumes, the client's next attempt
        // is accepted and a successful CONNACK clears `lastError`.
        let cause = running.client.lastError
        broker.resume()
        #expect(cause?.code == .connectionLost)
        #expect(cause?.description.contains("keepalive") == true, "\(String(describing: cause))")
        try await running.client.waitUntilConnected(timeout: .seconds(20))
        try await running.stop()
    }

    @Test("a QoS 1 publish in flight when the broker dies completes after the reconnect (libmosquitto resends it)")
    func inflightSurvivesReconnect() async throws {
        let broker = try await MosquittoBroker.start()
        let subscriber = try await RunningClient(
            clientConfiguration(broker, clientID: "inflight-sub", cleanSession: false))
        let collector = MessageCollector()
        try await subscriber.client.subscribe(["inflight/#"], qos: .atLeastOnce, handler: collector)
        try await subscriber.stop()
        try await broker.stop()  // saves the subscriber's session
        try await broker.restart()

        let publisher = try await RunningClient(clientConfiguration(broker))
        broker.suspend()
        // Handed to libmosquitto here, before the kill: a publish started from a task could run only after
        // the client had seen the connection drop, and be refused as not connected (seen in CI).
        let (acknowledgements, acknowledged) = AsyncStream.makeStream(of: Result<Void, MQTTError>.self)
        try publisher.client.enqueue(MQTTMessage(topic: "inflight/x", text: "in flight", qos: .atLeastOnce)) {
            acknowledged.yield($0)
        }
        // The PUBLISH sits unanswered in the stopped broker's socket; kill it, and the message with it.
        try await broker.kill()
        try await broker.restart()
        var results = acknowledgements.makeAsyncIterator()
        try #require(await results.next()).get()

        // Subscribed before connecting: the queued message arrives right after CONNACK.
        let resumed = try MQTTClient(
            configuration: clientConfiguration(broker, clientID: "inflight-sub", cleanSession: false),
            logger: testLogger)
        try await resumed.subscribe(["inflight/#"], qos: .atLeastOnce, handler: collector)
        let task = Task { try await resumed.run() }
        try await collector.wait("resent message") { $0.map(\.text).contains("in flight") }
        await resumed.disconnect()
        try await task.value
        try await publisher.stop()
    }

    @Test(
        "a persistent session keeps QoS 1 messages published while the subscriber was away",
        arguments: [MQTTProtocolVersion.v311, .v5])
    func persistentSession(protocolVersion: MQTTProtocolVersion) async throws {
        let broker = try await MosquittoBroker.start()
        let id = "aggregator-\(protocolVersion == .v5 ? "5" : "311")"
        let first = try await RunningClient(
            clientConfiguration(broker, clientID: id, cleanSession: false, protocolVersion: protocolVersion))
        try await first.client.subscribe(["queued/#"], qos: .atLeastOnce, handler: MessageCollector())
        try await first.stop()

        let publisher = try await RunningClient(clientConfiguration(broker))
        for index in 1...20 {
            try await publisher.client.publish(
                MQTTMessage(topic: "queued/\(index)", text: "\(index)", qos: .atLeastOnce))
        }
        try await publisher.stop()
        // Across a broker restart too: the session and its queue are in the persistence file.
        try await broker.restart()

        let collector = MessageCollector()
        let second = try MQTTClient(
            configuration: clientConfiguration(
                broker, clientID: id, cleanSession: false, protocolVersion: protocolVersion),
            logger: testLogger)
        try await second.subscribe(["queued/#"], qos: .atLeastOnce, handler: collector)
        let task = Task { try await second.run() }
        try await collector.wait("20 queued messages") { $0.count == 20 }
        #expect(collector.texts == (1...20).map { "\($0)" })
        await second.disconnect()
        try await task.value
    }

    @Test(
        "retired filters: what the broker queued under them still arrives, and after the connection nothing more is queued under them"
    )
    func retiringFilters() async throws {
        let broker = try await MosquittoBroker.start()
        let id = "retiring-\(UUID().uuidString.prefix(6))"
        let configuration = clientConfiguration(broker, clientID: id, cleanSession: false)
        // An earlier version of the subscriber held old/# and keep/# on its persistent session.
        let first = try await RunningClient(configuration)
        try await first.client.subscribe(["old/#", "keep/#"], qos: .atLeastOnce, handler: MessageCollector())
        try await first.stop()
        let publisher = try await RunningClient(clientConfiguration(broker))
        try await publisher.client.publish(MQTTMessage(topic: "old/1", text: "queued", qos: .atLeastOnce))

        /// The new version: keep/# only, old/# retired; registered before connecting, as a persistent
        /// session's subscriber does.
        func connectNewVersion(_ collector: MessageCollector) async throws -> (MQTTClient, Task<Void, any Error>) {
            let client = try MQTTClient(configuration: configuration, logger: testLogger)
            try await client.subscribe(["keep/#"], qos: .atLeastOnce, handler: collector, retiring: ["old/#"])
            let task = Task { try await client.run() }
            try await client.waitUntilConnected(timeout: .seconds(10))
            return (client, task)
        }

        let second = MessageCollector()
        let (secondClient, secondTask) = try await connectNewVersion(second)
        try await second.wait("the message queued under the retired filter") { $0.map(\.topic) == ["old/1"] }
        await secondClient.disconnect()
        try await secondTask.value

        // Away again: the broker queues nothing more under old/#, and keep/# still works.
        try await publisher.client.publish(MQTTMessage(topic: "old/2", text: "not queued", qos: .atLeastOnce))
        let third = MessageCollector()
        let (thirdClient, thirdTask) = try await connectNewVersion(third)
        try await publisher.client.publish(MQTTMessage(topic: "keep/1", text: "marker", qos: .atLeastOnce))
        try await third.wait("the marker") { $0.map(\.topic).contains("keep/1") }
        // A message queued while away arrives right after the CONNACK, before anything published later.
        #expect(third.received.map(\.topic) == ["keep/1"])
        await thirdClient.disconnect()
        try await thirdTask.value
        try await publisher.stop()
    }

    @Test("invalid configurations are refused up front with the field named")
    func invalidConfiguration() throws {
        let bad: [(MQTTConfiguration, String)] = [
            (MQTTConfiguration(host: "127.0.0.1", port: 0, clientID: "x"), "port 0"),
            (MQTTConfiguration(host: "127.0.0.1", port: 1883, clientID: "x", keepAliveSeconds: 2), "keepalive"),
            (MQTTConfiguration(host: "127.0.0.1", port: 1883, clientID: "", cleanSession: false), "client id"),
            (
                MQTTConfiguration(
                    host: "127.0.0.1", port: 1883, clientID: "x", will: MQTTMessage(topic: "a/#", text: "")),
                "will topic"
            ),
            (
                MQTTConfiguration(
                    host: "127.0.0.1", port: 1883, clientID: "x",
                    tls: MQTTTLSConfiguration(caFile: "/nonexistent/ca.crt")), "/nonexistent/ca.crt"
            ),
        ]
        for (configuration, expected) in bad {
            let error = #expect(throws: MQTTError.self) {
                try MQTTClient(configuration: configuration, logger: testLogger)
            }
            #expect(error?.code == .invalidConfiguration)
            #expect(
                error?.description.contains(expected) == true, "\(String(describing: error)) should mention \(expected)"
            )
        }
    }

    @Test("the password never appears in descriptions, dumps or errors")
    func passwordRedacted() async throws {
        let configuration = MQTTConfiguration(
            host: "127.0.0.1", port: try freeLoopbackPort(), clientID: "pt-0001", username: "pt-0001",
            password: "hunter2-secret", reconnectDelayMin: .milliseconds(20), reconnectDelayMax: .milliseconds(50))
        var dumped = ""
        dump(configuration, to: &dumped)
        for text in [configuration.description, configuration.debugDescription, "\(configuration)", dumped] {
            #expect(!text.contains("hunter2"), "\(text)")
        }
        let running = try await RunningClient(configuration, connect: false)
        let error = await #expect(throws: MQTTError.self) {
            try await running.client.waitUntilConnected(timeout: .milliseconds(300))
        }
        #expect(error.map { !"\($0)".contains("hunter2") } == true)
        try await running.stop()
    }
}
