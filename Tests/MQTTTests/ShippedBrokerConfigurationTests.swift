import BinsTestSupport
import Foundation
import MQTT
import Testing

/// The mosquitto configuration in deploy/mosquitto, run as shipped (ports and paths filled in): per-device
/// credentials, the ACL, the TLS listener for devices, persistence, and queue limits for long outages.
@Suite("The shipped broker configuration (deploy/mosquitto)", .serialized)
struct ShippedBrokerConfigurationTests {
    static let devices = [
        (user: "pt-0001", password: "device-one-secret"), (user: "pt-0002", password: "device-two-secret"),
    ]

    struct Setup {
        let directory: TemporaryDirectory
        let authority: CertificateAuthority
        let broker: MosquittoBroker

        /// A device connecting over TLS with its own credentials.
        func device(
            _ id: String, password: String? = nil, protocolVersion: MQTTProtocolVersion = .v311
        ) -> MQTTConfiguration {
            clientConfiguration(
                broker, clientID: id, port: broker.tlsPort, protocolVersion: protocolVersion, username: id,
                password: password ?? ShippedBrokerConfigurationTests.devices.first { $0.user == id }?.password,
                tls: MQTTTLSConfiguration(caFile: authority.caFile))
        }

        /// The aggregator on the broker's host (loopback listener), persistent session.
        func aggregator(clientID: String = "bins-aggregator-1", protocolVersion: MQTTProtocolVersion = .v311)
            -> MQTTConfiguration
        {
            clientConfiguration(
                broker, clientID: clientID, cleanSession: false, protocolVersion: protocolVersion,
                username: "bins-aggregator", password: "aggregator-secret")
        }
    }

    func start() async throws -> Setup {
        let directory = try TemporaryDirectory(prefix: "shipped")
        let authority = try await CertificateAuthority.generate(in: directory)
        let broker = try await MosquittoBroker.startShipped(
            users: .init(devices: Self.devices), certificates: authority, in: directory)
        return Setup(directory: directory, authority: authority, broker: broker)
    }

    @Test("a device publishes under bins/v1/{its id}/ and is refused elsewhere (MQTT 3.1.1: silently dropped)")
    func aclForDevices() async throws {
        let setup = try await start()
        let collector = MessageCollector()
        let aggregator = try MQTTClient(configuration: setup.aggregator(), logger: testLogger)
        try await aggregator.subscribe(["bins/v1/#"], qos: .atLeastOnce, handler: collector)
        let aggregatorTask = Task { try await aggregator.run() }
        try await aggregator.waitUntilConnected(timeout: .seconds(20))

        let device = try await RunningClient(setup.device("pt-0001"))
        try await device.client.publish(MQTTMessage(topic: "bins/v1/pt-0001/events", text: "own", qos: .atLeastOnce))
        // MQTT 3.1.1 has no way to say no: mosquitto acknowledges and drops it.
        try await device.client.publish(MQTTMessage(topic: "bins/v1/pt-0002/events", text: "forged", qos: .atLeastOnce))
        try await device.client.publish(
            MQTTMessage(topic: "sanitation/v1/alerts", text: "fake alert", qos: .atLeastOnce))
        // Messages from one client keep their order: when the marker arrives, the forged ones would have.
        try await device.client.publish(MQTTMessage(topic: "bins/v1/pt-0001/health", text: "marker", qos: .atLeastOnce))
        try await collector.wait("marker") { $0.contains { $0.text == "marker" } }
        #expect(collector.texts == ["own", "marker"])
        try await device.stop()
        await aggregator.disconnect()
        try await aggregatorTask.value
    }

    @Test(
        "under MQTT 5 a forbidden publish is refused explicitly (PUBACK reason 0x87) and reading others' commands yields nothing"
    )
    func aclRefusalsMQTT5() async throws {
        let setup = try await start()
        let device = try await RunningClient(setup.device("pt-0001", protocolVersion: .v5))
        try await device.client.publish(MQTTMessage(topic: "bins/v1/pt-0001/events", text: "own", qos: .atLeastOnce))
        let publishError = await #expect(throws: MQTTError.self) {
            try await device.client.publish(
                MQTTMessage(topic: "bins/v1/pt-0002/events", text: "forged", qos: .atLeastOnce))
        }
        #expect(publishError?.code == .publishRefused)
        #expect(publishError?.reasonCode == 0x87, "\(String(describing: publishError))")

        // mosquitto's ACL file grants the SUBSCRIBE and filters reads at delivery: the other device's
        // command never arrives, its own does.
        let commands = try await device.client.subscribe("bins/v1/+/cmd", qos: .atLeastOnce)
        let aggregator = try await RunningClient(setup.aggregator(clientID: "bins-aggregator-v5", protocolVersion: .v5))
        try await aggregator.client.publish(
            MQTTMessage(topic: "bins/v1/pt-0002/cmd", text: "for two", qos: .atLeastOnce))
        try await aggregator.client.publish(
            MQTTMessage(topic: "bins/v1/pt-0001/cmd", text: "for one", qos: .atLeastOnce))
        #expect(try await nextMessage(commands).text == "for one")
        try await aggregator.stop()
        try await device.stop()
    }

    @Test("an outbox record the broker refuses (MQTT 5) is reported as a rejected drop and does not block the rest")
    func outboxRejectedRecord() async throws {
        let setup = try await start()
        let collector = MessageCollector()
        let aggregator = try MQTTClient(
            configuration: setup.aggregator(clientID: "bins-aggregator-reject"), logger: testLogger)
        try await aggregator.subscribe(["bins/v1/#"], qos: .atLeastOnce, handler: collector)
        let aggregatorTask = Task { try await aggregator.run() }
        try await aggregator.waitUntilConnected(timeout: .seconds(20))

        let outbox = try Outbox(
            path: setup.directory.file("outbox.sqlite"), capacity: 100, syncPolicy: .everyWrite, logger: testLogger)
        for topic in ["bins/v1/pt-0001/events", "bins/v1/pt-0002/events", "bins/v1/pt-0001/events"] {
            try outbox.append(topic: topic, qos: .atLeastOnce) { Array("{\"seq\":\($0)}".utf8) }
        }
        let device = try MQTTClient(configuration: setup.device("pt-0001", protocolVersion: .v5), logger: testLogger)
        let publisher = OutboxPublisher(
            outbox: outbox, client: device, logger: testLogger, markHistorical: markHistorical)
        let deviceTask = Task { try await device.run() }
        let publisherTask = Task { try await publisher.run() }
        #expect(await publisher.waitUntilDrained(timeout: .seconds(30)))
        try await collector.wait("seq 3") { ReceivedEvents($0).seqs.contains(3) }
        #expect(ReceivedEvents(collector.received).seqs == [1, 3])
        #expect(
            try outbox.takeDropReports() == [OutboxDropReport(firstSeq: 2, lastSeq: 2, count: 1, reason: .rejected)])

        publisherTask.cancel()
        try await publisherTask.value
        await device.disconnect()
        try await deviceTask.value
        await aggregator.disconnect()
        try await aggregatorTask.value
    }

    @Test("deploy/mosquitto/add-device gives a new point working credentials after a broker reload")
    func addDeviceScript() async throws {
        let setup = try await start()
        let script = "\(TestExecutables.repositoryRoot)/deploy/mosquitto/add-device"
        let output = try await ChildProcess.run(
            script, ["pt-0003", "--password-file", setup.directory.file("etc/passwd"), "--no-reload"],
            in: setup.directory)
        let password = try #require(
            output.split(separator: "\n").first { $0.contains("password:") }?.split(separator: " ").last.map(
                String.init))
        #expect(password.count == 32)
        setup.broker.reload()
        let device = try await RunningClient(setup.device("pt-0003", password: password), connect: false)
        try await device.client.waitUntilConnected(timeout: .seconds(20))
        try await device.client.publish(MQTTMessage(topic: "bins/v1/pt-0003/events", text: "{}", qos: .atLeastOnce))
        try await device.stop()
        // Existing devices keep working, and ids that are not topic-safe are refused.
        let existing = try await RunningClient(setup.device("pt-0001"))
        try await existing.stop()
        await #expect(throws: TestSupportError.self) {
            try await ChildProcess.run(
                script, ["pt/0004", "--password-file", setup.directory.file("etc/passwd"), "--no-reload"],
                in: setup.directory)
        }
    }

    @Test("the aggregator commands a device; devices cannot command each other")
    func commands() async throws {
        let setup = try await start()
        let device = try await RunningClient(setup.device("pt-0001"))
        let commands = try await device.client.subscribe("bins/v1/pt-0001/cmd", qos: .atLeastOnce)
        let other = try await RunningClient(setup.device("pt-0002"))
        try await other.client.publish(
            MQTTMessage(topic: "bins/v1/pt-0001/cmd", text: "{\"id\":\"x\",\"op\":\"tare\"}", qos: .atLeastOnce))
        let aggregator = try await RunningClient(setup.aggregator(clientID: "bins-aggregator-cmd"))
        try await aggregator.client.publish(
            MQTTMessage(topic: "bins/v1/pt-0001/cmd", text: "{\"id\":\"a1\",\"op\":\"rebirth\"}", qos: .atLeastOnce))
        // The first command to arrive is the aggregator's: the other device's was dropped.
        #expect(try await nextMessage(commands).text == "{\"id\":\"a1\",\"op\":\"rebirth\"}")
        try await aggregator.stop()
        try await other.stop()
        try await device.stop()
    }

    @Test(
        "bad credentials and anonymous clients are refused with the broker's reason",
        arguments: [MQTTProtocolVersion.v311, .v5])
    func credentials(protocolVersion: MQTTProtocolVersion) async throws {
        let setup = try await start()
        let wrong = try await RunningClient(
            setup.device("pt-0001", password: "guess", protocolVersion: protocolVersion), connect: false)
        try await waitUntil(timeout: .seconds(20), "a refusal") { wrong.client.lastError != nil }
        let error = try #require(wrong.client.lastError)
        #expect(error.code == .connectionRefused, "\(error)")
        // 3.1.1: 5 "not authorised"; MQTT 5: mosquitto 2.0.11 answers 0x87 "not authorized" (0x86 elsewhere).
        #expect((protocolVersion == .v5 ? [0x86, 0x87] : [4, 5]).contains(error.reasonCode ?? -1), "\(error)")
        #expect(!error.description.contains("guess"))
        try await wrong.stop()

        var anonymous = setup.aggregator(protocolVersion: protocolVersion)
        anonymous.username = nil
        anonymous.password = nil
        let nobody = try await RunningClient(anonymous, connect: false)
        try await waitUntil(timeout: .seconds(20), "a refusal") { nobody.client.lastError != nil }
        #expect(nobody.client.lastError?.code == .connectionRefused)
        try await nobody.stop()
    }

    @Test("an aggregator outage longer than mosquitto's default queue: all 1,500 events are kept and arrive in order")
    func aggregatorOutage() async throws {
        let setup = try await start()
        let first = try await RunningClient(setup.aggregator(clientID: "bins-aggregator-outage"))
        try await first.client.subscribe(["bins/v1/+/events"], qos: .atLeastOnce, handler: MessageCollector())
        try await first.stop()

        let outbox = try Outbox(
            path: setup.directory.file("outbox.sqlite"), capacity: 10_000,
            syncPolicy: .batched(interval: .milliseconds(100)),
            logger: testLogger)
        let device = try MQTTClient(configuration: setup.device("pt-0001"), logger: testLogger)
        let publisher = OutboxPublisher(
            outbox: outbox, client: device, logger: testLogger, markHistorical: markHistorical)
        let deviceTask = Task { try await device.run() }
        let publisherTask = Task { try await publisher.run() }
        for _ in 0..<1500 {
            try outbox.append(topic: "bins/v1/pt-0001/events", qos: .atLeastOnce) { Array("{\"seq\":\($0)}".utf8) }
        }
        #expect(await publisher.waitUntilDrained(timeout: .seconds(60)))
        // The broker holds them for the absent aggregator, across a restart of its own.
        try await setup.broker.restart()

        let collector = MessageCollector()
        let back = try MQTTClient(
            configuration: setup.aggregator(clientID: "bins-aggregator-outage"), logger: testLogger)
        try await back.subscribe(["bins/v1/+/events"], qos: .atLeastOnce, handler: collector)
        let backTask = Task { try await back.run() }
        try await collector.wait(timeout: .seconds(60), "1,500 queued events") { $0.count >= 1500 }
        #expect(ReceivedEvents(collector.received).seqs == Array(1...1500))

        publisherTask.cancel()
        try await publisherTask.value
        await device.disconnect()
        try await deviceTask.value
        await back.disconnect()
        try await backTask.value
    }

    @Test("control: with mosquitto's defaults the same outage loses messages (why the shipped limits exist)")
    func defaultsLoseMessages() async throws {
        let broker = try await MosquittoBroker.start(.init(maxQueuedMessages: 1000))
        let away = try await RunningClient(
            clientConfiguration(broker, clientID: "default-aggregator", cleanSession: false))
        try await away.client.subscribe(["bins/v1/+/events"], qos: .atLeastOnce, handler: MessageCollector())
        try await away.stop()
        let device = try await RunningClient(clientConfiguration(broker))
        for seq in 1...1500 {
            try await device.client.publish(
                MQTTMessage(topic: "bins/v1/pt-9/events", text: "{\"seq\":\(seq)}", qos: .atLeastOnce))
        }
        let collector = MessageCollector()
        let back = try MQTTClient(
            configuration: clientConfiguration(broker, clientID: "default-aggregator", cleanSession: false),
            logger: testLogger)
        try await back.subscribe(["bins/v1/+/events"], qos: .atLeastOnce, handler: collector)
        let backTask = Task { try await back.run() }
        try await back.waitUntilConnected(timeout: .seconds(20))
        // Published after the reconnect, so it arrives after everything the broker kept.
        try await device.client.publish(
            MQTTMessage(topic: "bins/v1/pt-9/events", text: "{\"seq\":9999}", qos: .atLeastOnce))
        try await collector.wait("marker") { ReceivedEvents($0).seqs.contains(9999) }
        let kept = ReceivedEvents(collector.received).seqs.filter { $0 != 9999 }
        #expect(kept.count < 1500, "mosquitto's default max_queued_messages kept \(kept.count) of 1500")
        await back.disconnect()
        try await backTask.value
        try await device.stop()
    }
}
