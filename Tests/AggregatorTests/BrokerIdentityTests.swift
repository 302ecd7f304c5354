import Aggregator
import BinProtocol
import BinsTestSupport
import Foundation
import Logging
import MQTT
import Metrics
import Synchronization
import Testing

/// The aggregator behind the shipped broker configuration (deploy/mosquitto): a device account cannot
/// take the aggregator's session, several aggregator instances share one account with their own ids, and
/// each device reads its own receipts. Part of the standing security suite (docs/testing.md).
@Suite("Aggregator identity and receipts on the shipped broker", .serialized)
struct BrokerIdentityTests {
    static let devices = [
        (user: "pt-0001", password: "device-one-secret"), (user: "pt-0002", password: "device-two-secret"),
    ]

    struct District {
        let directory: TemporaryDirectory
        let authority: CertificateAuthority
        let broker: MosquittoBroker

        static func start() async throws -> District {
            let directory = try TemporaryDirectory(prefix: "identity")
            let authority = try await CertificateAuthority.generate(in: directory)
            let broker = try await MosquittoBroker.startShipped(
                users: .init(devices: BrokerIdentityTests.devices), certificates: authority, in: directory)
            return District(directory: directory, authority: authority, broker: broker)
        }

        /// A device over TLS with its own account; `clientID` is what it asks for.
        func device(
            _ user: String, clientID: String? = nil, cleanSession: Bool = true,
            protocolVersion: MQTTProtocolVersion = .v5
        )
            -> MQTTConfiguration
        {
            MQTTConfiguration(
                host: broker.host, port: broker.tlsPort!, clientID: clientID ?? user, username: user,
                password: BrokerIdentityTests.devices.first { $0.user == user }?.password, cleanSession: cleanSession,
                protocolVersion: protocolVersion, tls: MQTTTLSConfiguration(caFile: authority.caFile),
                reconnectDelayMin: .milliseconds(50), reconnectDelayMax: .milliseconds(400))
        }

        func configuration(
            clientID: String, storage: String, sharedGroup: String? = nil, instance: String = "identity-test"
        )
            throws -> AggregatorConfiguration
        {
            let group = sharedGroup.map { ", shared_group: \($0)" } ?? ""
            let yaml = """
                time_zone: Asia/Shanghai
                instance: \(instance)
                broker: {host: \(broker.host), port: \(broker.port), client_id: \(clientID), username: bins-aggregator, password: aggregator-secret, protocol: v5, reconnect_min_ms: 50, reconnect_max_ms: 500, receipt_interval_ms: 50\(group)}
                storage: \(storage)
                district: {id: d1, name: District}
                streets:
                  - id: s1
                    communities:
                      - {id: c1, kind: property, households: 10, points: [pt-0001, pt-0002]}
                """
            return try AggregatorConfiguration.parse(
                yaml: yaml, source: "aggregator.yaml", baseDirectory: directory.path)
        }
    }

    /// Publishes `count` events of `device` from seq `from` through its own client, one PUBACK at a time.
    static func publish(_ district: District, device: String, seqs: ClosedRange<Int64>) async throws {
        let client = try MQTTClient(configuration: district.device(device), logger: Fixtures.logger)
        let task = Task { try await client.run() }
        try await client.waitUntilConnected(timeout: .seconds(20))
        for seq in seqs {
            let event = IngestBrokerTests.event(device, index: device == "pt-0001" ? 0 : 1, seq: seq)
            try await client.publish(MQTTMessage(topic: Topics.events(device), payload: Fixtures.json(event)))
        }
        await client.disconnect()
        try await task.value
    }

    @Test("a stolen device account cannot take the aggregator's session: 300 events are booked while it keeps trying")
    func takeoverRefused() async throws {
        let district = try await District.start()
        let configuration = try district.configuration(
            clientID: "bins-aggregator", storage: "{sqlite: ledger.sqlite, synchronous: normal}")
        let store = try await AggregatorRuntime.openStore(configuration.storage, logger: Fixtures.logger)
        let runtime = try AggregatorRuntime(
            configuration: configuration, store: store, metricsFactory: NOOPMetricsHandler.instance,
            logger: Fixtures.logger)
        let states = Mutex<[MQTTConnectionState]>([])
        let changes = runtime.mqtt.stateChanges()
        let watcher = Task { for await state in changes { states.withLock { $0.append(state) } } }
        try await runtime.whileRunning(connectTimeout: .seconds(20)) { runtime in
            let done = Atomic<Bool>(false)
            // The attacker: pt-0001's valid password, the aggregator's client id, a persistent session, over
            // and over, with both protocol versions, while pt-0002 sends its events.
            let attacker = Task {
                var attempts = 0
                while !done.load(ordering: .relaxed) {
                    let version: MQTTProtocolVersion = attempts % 2 == 0 ? .v5 : .v311
                    let client = try MQTTClient(
                        configuration: district.device(
                            "pt-0001", clientID: "bins-aggregator", cleanSession: false, protocolVersion: version),
                        logger: Fixtures.logger)
                    let task = Task { try await client.run() }
                    try await client.waitUntilConnected(timeout: .seconds(20))
                    await client.disconnect()
                    try await task.value
                    attempts += 1
                }
                return attempts
            }
            try await Self.publish(district, device: "pt-0002", seqs: 1...300)
            done.store(true, ordering: .relaxed)
            let attempts = try await attacker.value
            #expect(attempts >= 3, "the attacker connected \(attempts) times")
            try await waitUntil(timeout: .seconds(30), "300 events booked") {
                try await store.bookedEventCount() == 300
            }
            #expect(runtime.ingestMetrics.snapshot.duplicates == 0)
            #expect(try await store.sequenceGaps(device: "pt-0002").isEmpty)
        }
        watcher.cancel()
        #expect(
            states.withLock { $0 }.filter { $0 == .connected }.count == 1,
            "the aggregator's connection was never broken: \(states.withLock { $0 })")
        #expect(!district.broker.log.contains("Client bins-aggregator already connected"))
        #expect(
            try await IngestBrokerTests.ledgerSums(store)
                == IngestBrokerTests.expected((1...300).map { IngestBrokerTests.event("pt-0002", index: 1, seq: $0) }))
        await store.close()
    }

    @Test(
        "two aggregator instances share the aggregator account with their own ids and a shared subscription; both book")
    func secondInstanceBooks() async throws {
        let district = try await District.start()
        let url = try await PostgresServer.makeDatabase()
        defer { PostgresServer.dropDatabase(url: url) }
        let configurations = try ["1", "2"].map {
            try district.configuration(
                clientID: "bins-aggregator-\($0)", storage: "{postgres: \"\(url)\"}", sharedGroup: "aggregators",
                instance: "center-\($0)")
        }
        let stores = [
            try await AggregatorRuntime.openStore(configurations[0].storage, logger: Fixtures.logger),
            try await AggregatorRuntime.openStore(configurations[1].storage, logger: Fixtures.logger),
        ]
        let snapshots = try await IngestBrokerTests.withRunningAggregator(configurations[0], store: stores[0]) {
            first in
            try await IngestBrokerTests.withRunningAggregator(configurations[1], store: stores[1]) { second in
                try await Self.publish(district, device: "pt-0001", seqs: 1...150)
                try await Self.publish(district, device: "pt-0002", seqs: 1...150)
                // Booked in the database, and counted by the instances (which count after the commit returns).
                var booked = 0
                var counted = 0
                try await waitUntil(
                    timeout: .seconds(90), "300 booked and counted (\(booked) booked, \(counted) counted so far)"
                ) {
                    booked = try await stores[0].bookedEventCount()
                    counted = first.ingestMetrics.snapshot.totalMessages + second.ingestMetrics.snapshot.totalMessages
                    return booked == 300 && counted == 300
                }
                return [first.ingestMetrics.snapshot, second.ingestMetrics.snapshot]
            }
        }
        #expect(
            snapshots.allSatisfy { $0.totalMessages > 0 }, "both instances booked: \(snapshots.map(\.totalMessages))")
        #expect(snapshots.reduce(0) { $0 + $1.totalMessages } == 300)
        #expect(!district.broker.log.contains("already connected"))
        for store in stores { await store.close() }
    }

    @Test("each device reads its own receipt: it follows what is booked, passes refused events and ignores far jumps")
    func receiptsToDevices() async throws {
        let district = try await District.start()
        let configuration = try district.configuration(
            clientID: "bins-aggregator", storage: "{sqlite: ledger.sqlite, synchronous: normal}")
        let store = try await AggregatorRuntime.openStore(configuration.storage, logger: Fixtures.logger)
        try await IngestBrokerTests.withRunningAggregator(configuration, store: store) { _ in
            let device = try MQTTClient(configuration: district.device("pt-0001"), logger: Fixtures.logger)
            let receipts = try await device.subscribe(Topics.receipt("pt-0001"), qos: .atLeastOnce)
            let others = try await device.subscribe(Topics.receipt("pt-0002"), qos: .atLeastOnce)
            let task = Task { try await device.run() }
            try await device.waitUntilConnected(timeout: .seconds(20))
            let latest = Mutex<ReceiptPayload?>(nil)
            let reader = Task {
                for await message in receipts {
                    if let receipt = try? WireCodec.decode(
                        ReceiptPayload.self, from: message.payload, topicDevice: "pt-0001")
                    {
                        latest.withLock { $0 = receipt }
                    }
                }
            }
            let foreign = Mutex(0)
            let otherReader = Task { for await _ in others { foreign.withLock { $0 += 1 } } }

            func send(_ payload: [UInt8]) async throws {
                try await device.publish(MQTTMessage(topic: Topics.events("pt-0001"), payload: payload))
            }
            // pt-0002's receipts are published while pt-0001 listens on them: none may reach it.
            try await Self.publish(district, device: "pt-0002", seqs: 1...3)
            for seq: Int64 in 1...20 {
                try await send(Fixtures.json(IngestBrokerTests.event("pt-0001", index: 0, seq: seq)))
            }
            try await waitUntil(timeout: .seconds(20), "receipt through 20") { latest.withLock { $0?.through } == 20 }
            // 21 is refused (a mass beyond every limit) yet counted as handled; 23 arrives before 22.
            var broken = IngestBrokerTests.event("pt-0001", index: 0, seq: 21)
            if case .deposit(var deposit) = broken.body {
                deposit.massKg = 1e9
                broken.body = .deposit(deposit)
            }
            try await send(Fixtures.json(broken))
            try await send(Fixtures.json(IngestBrokerTests.event("pt-0001", index: 0, seq: 23)))
            try await waitUntil(timeout: .seconds(20), "receipt through 21, highest 23") {
                latest.withLock { $0.map { ($0.through, $0.highest) } } ?? (0, 0) == (21, 23)
            }
            try await send(Fixtures.json(IngestBrokerTests.event("pt-0001", index: 0, seq: 22)))
            try await waitUntil(timeout: .seconds(20), "receipt through 23") { latest.withLock { $0?.through } == 23 }
            // A jump far beyond the window is refused and moves nothing.
            try await send(
                Fixtures.json(IngestBrokerTests.event("pt-0001", index: 0, seq: 23 + WireLimits.maxSeqJump + 1)))
            try await send(Fixtures.json(IngestBrokerTests.event("pt-0001", index: 0, seq: 24)))
            try await waitUntil(timeout: .seconds(20), "receipt through 24") { latest.withLock { $0?.through } == 24 }
            #expect(latest.withLock { $0?.highest } == 24)
            #expect(foreign.withLock { $0 } == 0, "another device's receipts are not readable")
            reader.cancel()
            otherReader.cancel()
            await device.disconnect()
            try await task.value
        }
        await store.close()
    }
}
