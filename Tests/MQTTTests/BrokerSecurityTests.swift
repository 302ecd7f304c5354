import BinsTestSupport
import Foundation
import MQTT
import Synchronization
import Testing

/// The shipped broker configuration (deploy/mosquitto) against an attacker holding one device's valid
/// credentials: what every account may write and read, topic family by topic family, under MQTT 3.1.1
/// and 5, and which client ids it can take. Part of the standing security suite (docs/testing.md).
@Suite("Broker security: ACL matrix and client identity (shipped configuration)", .serialized)
struct BrokerSecurityTests {
    typealias Setup = ShippedBrokerConfigurationTests.Setup

    /// Every topic family of the wire contract for `device`, plus near misses.
    static func families(_ device: String) -> [String] {
        [
            "bins/v1/\(device)/status", "bins/v1/\(device)/birth", "bins/v1/\(device)/state/wet",
            "bins/v1/\(device)/events",
            "bins/v1/\(device)/health", "bins/v1/\(device)/cmd", "bins/v1/\(device)/cmd/reply",
            "bins/v1/\(device)/receipt",
            "bins/v1/\(device)", "bins/v1/\(device)/other", "bins/v1/\(device)/state/wet/extra",
        ]
    }

    static let sanitation = ["sanitation/v1/alerts", "sanitation/v1/aggregator/status", "sanitation/v1/other"]

    /// What a device may publish: the contract's topics under its own prefix, nothing else.
    static func deviceMayWrite(_ topic: String, device: String) -> Bool {
        ["status", "birth", "state/wet", "events", "health", "cmd/reply"].map { "bins/v1/\(device)/\($0)" }.contains(
            topic)
    }

    /// What the aggregator may publish: commands and receipts to devices, its own sanitation topics.
    static func aggregatorMayWrite(_ topic: String) -> Bool {
        (topic.hasPrefix("bins/v1/") && (topic.hasSuffix("/cmd") || topic.hasSuffix("/receipt"))
            && topic.split(separator: "/").count == 4)
            || topic.hasPrefix("sanitation/v1/")
    }

    /// Publishes every topic as `publisher`, then a marker the observer may read, and returns the texts the
    /// observer received (in order, the marker excluded). Under MQTT 5 a refusal is also checked on the
    /// publish itself.
    func publishMatrix(
        publisher: MQTTClient, version: MQTTProtocolVersion, topics: [String], allowed: (String) -> Bool,
        marker: String,
        observer: MessageCollector
    ) async throws -> [String] {
        for topic in topics {
            let message = MQTTMessage(topic: topic, text: "w:\(topic)", qos: .atLeastOnce)
            if version == .v5 && !allowed(topic) {
                let error = await #expect(throws: MQTTError.self, "publish to \(topic) must be refused") {
                    try await publisher.publish(message)
                }
                #expect(error?.reasonCode == 0x87, "\(topic): \(String(describing: error))")
            } else {
                try await publisher.publish(message)
            }
        }
        try await publisher.publish(MQTTMessage(topic: marker, text: "marker", qos: .atLeastOnce))
        try await observer.wait("the marker") { $0.contains { $0.text == "marker" } }
        return observer.texts.filter { $0 != "marker" }
    }

    @Test(
        "a device writes only its own contract topics; everything else is refused",
        arguments: [MQTTProtocolVersion.v311, .v5])
    func deviceWrites(version: MQTTProtocolVersion) async throws {
        let setup = try await ShippedBrokerConfigurationTests().start()
        let observer = MessageCollector()
        let aggregator = try MQTTClient(
            configuration: setup.aggregator(clientID: "bins-aggregator-observer"), logger: testLogger)
        try await aggregator.subscribe(["bins/v1/#", "sanitation/v1/#"], qos: .atLeastOnce, handler: observer)
        let aggregatorTask = Task { try await aggregator.run() }
        try await aggregator.waitUntilConnected(timeout: .seconds(20))

        let device = try await RunningClient(setup.device("pt-0001", protocolVersion: version))
        let topics = Self.families("pt-0001") + Self.families("pt-0002") + Self.sanitation
        let received = try await publishMatrix(
            publisher: device.client, version: version, topics: topics,
            allowed: { Self.deviceMayWrite($0, device: "pt-0001") },
            marker: "bins/v1/pt-0001/health", observer: observer)
        #expect(received == topics.filter { Self.deviceMayWrite($0, device: "pt-0001") }.map { "w:\($0)" })
        try await device.stop()
        await aggregator.disconnect()
        try await aggregatorTask.value
    }

    @Test(
        "the aggregator cannot forge device data: it writes commands, receipts and its own topics only",
        arguments: [MQTTProtocolVersion.v311, .v5])
    func aggregatorWrites(version: MQTTProtocolVersion) async throws {
        let setup = try await ShippedBrokerConfigurationTests().start()
        let observer = MessageCollector()
        let watcher = try MQTTClient(
            configuration: setup.aggregator(clientID: "bins-aggregator-watch"), logger: testLogger)
        try await watcher.subscribe(["bins/v1/#", "sanitation/v1/#"], qos: .atLeastOnce, handler: observer)
        let watcherTask = Task { try await watcher.run() }
        try await watcher.waitUntilConnected(timeout: .seconds(20))
        let aggregator = try await RunningClient(
            setup.aggregator(clientID: "bins-aggregator-writer", protocolVersion: version))
        let topics = Self.families("pt-0001") + Self.sanitation
        let received = try await publishMatrix(
            publisher: aggregator.client, version: version, topics: topics, allowed: Self.aggregatorMayWrite,
            marker: "sanitation/v1/other", observer: observer)
        #expect(received == topics.filter(Self.aggregatorMayWrite).map { "w:\($0)" })
        try await aggregator.stop()
        await watcher.disconnect()
        try await watcherTask.value
    }

    @Test(
        "a device reads its own commands and receipts and the aggregator's status, nothing of anyone else",
        arguments: [MQTTProtocolVersion.v311, .v5])
    func deviceReads(version: MQTTProtocolVersion) async throws {
        let setup = try await ShippedBrokerConfigurationTests().start()
        let device = try await RunningClient(setup.device("pt-0001", protocolVersion: version))
        let seen = MessageCollector()
        // Wide filters: the broker grants them and filters each message at delivery.
        try await device.client.subscribe(["bins/v1/#", "sanitation/v1/#", "#"], qos: .atLeastOnce, handler: seen)
        // Another device's own traffic first, and its arrival at the aggregator awaited, so ordering is known.
        let aggregatorSeen = MessageCollector()
        let aggregator = try MQTTClient(
            configuration: setup.aggregator(clientID: "bins-aggregator-reads"), logger: testLogger)
        try await aggregator.subscribe(["bins/v1/#"], qos: .atLeastOnce, handler: aggregatorSeen)
        let aggregatorTask = Task { try await aggregator.run() }
        try await aggregator.waitUntilConnected(timeout: .seconds(20))
        let other = try await RunningClient(setup.device("pt-0002"))
        for topic in Self.families("pt-0002") where Self.deviceMayWrite(topic, device: "pt-0002") {
            try await other.client.publish(MQTTMessage(topic: topic, text: "o:\(topic)", qos: .atLeastOnce))
        }
        try await aggregatorSeen.wait("pt-0002's traffic") { $0.contains { $0.topic == "bins/v1/pt-0002/cmd/reply" } }
        for topic in [
            "bins/v1/pt-0002/cmd", "bins/v1/pt-0002/receipt", "sanitation/v1/alerts", "bins/v1/pt-0001/cmd",
            "bins/v1/pt-0001/receipt",
            "sanitation/v1/aggregator/status",
        ] {
            try await aggregator.publish(MQTTMessage(topic: topic, text: "a:\(topic)", qos: .atLeastOnce))
        }
        try await seen.wait("the aggregator's status") { $0.contains { $0.topic == "sanitation/v1/aggregator/status" } }
        #expect(
            Set(seen.texts) == [
                "a:bins/v1/pt-0001/cmd", "a:bins/v1/pt-0001/receipt", "a:sanitation/v1/aggregator/status",
            ],
            "\(seen.texts)")
        try await other.stop()
        try await device.stop()
        await aggregator.disconnect()
        try await aggregatorTask.value
    }

    @Test(
        "a device account gets its own name as client id whatever it asks for, and cannot log in where the aggregator does",
        arguments: [MQTTProtocolVersion.v311, .v5])
    func clientIdentity(version: MQTTProtocolVersion) async throws {
        let setup = try await ShippedBrokerConfigurationTests().start()
        let states = Mutex<[MQTTConnectionState]>([])
        let aggregator = try MQTTClient(
            configuration: setup.aggregator(clientID: "bins-aggregator"), logger: testLogger)
        let changes = aggregator.stateChanges()
        let watch = Task { for await state in changes { states.withLock { $0.append(state) } } }
        let aggregatorTask = Task { try await aggregator.run() }
        try await aggregator.waitUntilConnected(timeout: .seconds(20))

        // The stolen-bin attacker: pt-0001's valid credentials, the aggregator's client id, a persistent session.
        var attack = setup.device("pt-0001", protocolVersion: version)
        attack.clientID = "bins-aggregator"
        attack.cleanSession = false
        for _ in 0..<5 {
            let attacker = try await RunningClient(attack)
            try await attacker.stop()
        }
        // Another device's id is not available either: pt-0002's session is pt-0002's.
        attack.clientID = "pt-0002"
        let victim = try await RunningClient(setup.device("pt-0002", protocolVersion: version))
        let impostor = try await RunningClient(attack)
        try await victim.client.publish(
            MQTTMessage(topic: "bins/v1/pt-0002/health", text: "still here", qos: .atLeastOnce))
        #expect(victim.client.state == .connected)
        try await impostor.stop()
        try await victim.stop()

        // The aggregator's listener does not know device accounts at all.
        var wrongListener = setup.device("pt-0001", protocolVersion: version)
        wrongListener.port = setup.broker.port
        wrongListener.tls = nil
        let refused = try await RunningClient(wrongListener, connect: false)
        try await waitUntil(timeout: .seconds(20), "a refusal") { refused.client.lastError != nil }
        #expect(refused.client.lastError?.code == .connectionRefused, "\(String(describing: refused.client.lastError))")
        try await refused.stop()

        #expect(aggregator.state == .connected)
        #expect(
            states.withLock { $0 }.filter { $0 == .connected }.count == 1,
            "the aggregator's session was never taken: \(states.withLock { $0 })")
        let log = setup.broker.log
        #expect(
            !log.contains("Client bins-aggregator already connected"), "mosquitto closed the aggregator's connection")
        #expect(!log.contains("Client pt-0002 already connected"), "mosquitto closed pt-0002's connection")
        #expect(log.contains("as pt-0001"), "the attacker's connections were named after its account")
        await aggregator.disconnect()
        try await aggregatorTask.value
        watch.cancel()
    }
}
