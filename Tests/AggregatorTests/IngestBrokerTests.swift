import Aggregator
import BinProtocol
import BinsTestSupport
import Foundation
import Logging
import MQTT
import Metrics
import Testing

/// Ingest end to end: a real mosquitto, real publishers (the project's MQTT client and `mosquitto_pub`),
/// the aggregator's runtime with a SQLite ledger. What goes in must come out of the ledger exactly.
@Suite("Ingest over a real broker", .serialized)
struct IngestBrokerTests {
    /// A registry of `devices` in one community, the broker on loopback, SQLite in `directory`.
    static func configuration(
        broker: MosquittoBroker, directory: String, devices: [String], clientID: String,
        storage: String = "{sqlite: ledger.sqlite, synchronous: normal}", sharedGroup: String? = nil,
        instance: String = "ingest-test"
    ) throws -> AggregatorConfiguration {
        let group = sharedGroup.map { ", shared_group: \($0)" } ?? ""
        let yaml = """
            time_zone: Asia/Shanghai
            instance: \(instance)
            broker: {host: \(broker.host), port: \(broker.port), client_id: \(clientID), protocol: v5, reconnect_min_ms: 50, reconnect_max_ms: 500\(group)}
            storage: \(storage)
            district: {id: d1, name: District}
            streets:
              - id: s1
                communities:
                  - {id: c1, kind: property, households: 10, points: [\(devices.joined(separator: ", "))]}
            """
        return try AggregatorConfiguration.parse(yaml: yaml, source: "aggregator.yaml", baseDirectory: directory)
    }

    /// Runs the aggregator's services until `body` returns, then shuts them down gracefully.
    static func withRunningAggregator<T: Sendable>(
        _ configuration: AggregatorConfiguration, store: any AggregatorStore,
        _ body: (AggregatorRuntime) async throws -> T
    ) async throws -> T {
        let runtime = try AggregatorRuntime(
            configuration: configuration, store: store, metricsFactory: NOOPMetricsHandler.instance,
            logger: Fixtures.logger)
        return try await runtime.whileRunning(connectTimeout: .seconds(15), body)
    }

    /// A device's own MQTT client, as binsd would use it.
    static func withDeviceClient<T>(_ broker: MosquittoBroker, id: String, _ body: (MQTTClient) async throws -> T)
        async throws -> T
    {
        let client = try MQTTClient(
            configuration: MQTTConfiguration(host: broker.host, port: broker.port, clientID: id),
            logger: Fixtures.logger)
        let running = Task { try await client.run() }
        defer { running.cancel() }
        try await client.waitUntilConnected(timeout: .seconds(10))
        let result = try await body(client)
        await client.disconnect()
        return result
    }

    static func mosquittoPub(_ broker: MosquittoBroker, topic: String, payload: [UInt8], directory: TemporaryDirectory)
        async throws
    {
        let file = directory.file("payload-\(UUID().uuidString.prefix(8))")
        try Data(payload).write(to: URL(fileURLWithPath: file))
        let process = try ChildProcess(
            "mosquitto_pub", ["-h", broker.host, "-p", "\(broker.port)", "-q", "1", "-t", topic, "-f", file],
            outputPath: directory.file("mosquitto_pub.log"))
        #expect(try await process.waitForExit(timeout: .seconds(10)) == .exited(0))
    }

    /// Masses in eighths of a kilogram add up exactly in binary floating point, so totals compare with `==`.
    static func mass(_ seq: Int64, _ device: Int) -> Double { Double((seq * 7 + Int64(device) * 3) % 40 + 1) / 8 }

    static func event(_ device: String, index: Int, seq: Int64) -> EventPayload {
        let ts = Fixtures.time(seq)
        if seq % 5 == 0 {
            return Fixtures.collection(device, seq: seq, at: ts, bin: "dry", stream: .dry, kg: mass(seq, index) * 3)
        }
        let wet = seq % 2 == 0
        return Fixtures.deposit(
            device, seq: seq, at: ts, bin: wet ? "wet" : "dry", stream: wet ? .wet : .dry, kg: mass(seq, index),
            observed: wet ? .wet : .dry)
    }

    /// Sums of what was published, per device and stream: (deposited, collected, deposits, collections).
    static func expected(_ events: [EventPayload]) -> [String: LedgerFigures] {
        var unique: [String: EventPayload] = [:]
        for event in events { unique["\(event.device)/\(event.seq)"] = unique["\(event.device)/\(event.seq)"] ?? event }
        var sums: [String: LedgerFigures] = [:]
        for event in unique.values {
            guard let figures = LedgerFigures(event: event.body), let stream = streamOf(event) else { continue }
            sums["\(event.device)/\(stream.rawValue)", default: .zero] += figures
        }
        return sums
    }

    static func streamOf(_ event: EventPayload) -> WasteStream? {
        switch event.body {
        case .deposit(let deposit): deposit.stream
        case .collection(let collection): collection.stream
        case .fault: nil
        }
    }

    static func ledgerSums(_ store: any AggregatorStore) async throws -> [String: LedgerFigures] {
        var sums: [String: LedgerFigures] = [:]
        for row in try await store.ledger(
            devices: nil, from: Fixtures.date("2026-01-01"), to: Fixtures.date("2026-12-31"))
        {
            sums["\(row.device)/\(row.stream.rawValue)", default: .zero] += row.figures
        }
        return sums
    }

    @Test("ledger totals equal what was published; duplicates and bad messages are counted, not booked")
    func totalsDuplicatesAndRejections() async throws {
        let directory = try TemporaryDirectory(prefix: "ingest-broker")
        let broker = try await MosquittoBroker.start()
        let configuration = try Self.configuration(
            broker: broker, directory: directory.path, devices: ["pt-1", "pt-2", "pt-3"],
            clientID: "agg-\(UUID().uuidString.prefix(8))")
        let store = try await AggregatorRuntime.openStore(configuration.storage, logger: Fixtures.logger)

        var published: [EventPayload] = []
        let snapshot = try await Self.withRunningAggregator(configuration, store: store) { runtime in
            // The project's MQTT client: two devices, then a replay of the first ten events of pt-1.
            for (index, device) in ["pt-1", "pt-2"].enumerated() {
                let count: Int64 = index == 0 ? 100 : 60
                let events = (1...count).map { Self.event(device, index: index, seq: $0) }
                try await Self.withDeviceClient(broker, id: device) { client in
                    for event in events + events.prefix(10) {
                        try await client.publish(
                            MQTTMessage(topic: Topics.events(device), payload: Fixtures.json(event)))
                    }
                }
                published += events
            }
            // mosquitto_pub for pt-3, including one event sent twice.
            let third = (1...12).map { Self.event("pt-3", index: 2, seq: $0) }
            for event in third + [third[3]] {
                try await Self.mosquittoPub(
                    broker, topic: Topics.events("pt-3"), payload: Fixtures.json(event), directory: directory)
            }
            published += third
            // Malformed, oversized, spoofed, unknown device, wrong schema.
            let spoofed = Self.event("pt-2", index: 1, seq: 999)
            var wrongSchema = Self.event("pt-1", index: 0, seq: 998)
            wrongSchema.schema = 7
            let bad: [(String, [UInt8])] = [
                (Topics.events("pt-1"), Array("{\"schema\":1,\"device\":".utf8)),
                (Topics.events("pt-1"), Array(repeating: UInt8(ascii: "x"), count: 20_000)),
                (Topics.events("pt-1"), Fixtures.json(spoofed)),
                (Topics.events("pt-9"), Fixtures.json(Self.event("pt-9", index: 9, seq: 1))),
                (Topics.events("pt-1"), Fixtures.json(wrongSchema)),
            ]
            for (topic, payload) in bad {
                try await Self.mosquittoPub(broker, topic: topic, payload: payload, directory: directory)
            }
            // Valid traffic after the bad messages still flows.
            let late = (101...110).map { Self.event("pt-1", index: 0, seq: $0) }
            try await Self.withDeviceClient(broker, id: "pt-1") { client in
                for event in late {
                    try await client.publish(MQTTMessage(topic: Topics.events("pt-1"), payload: Fixtures.json(event)))
                }
            }
            published += late

            try await waitUntil(timeout: .seconds(30), "all events booked and all rejections counted") {
                let snapshot = runtime.ingestMetrics.snapshot
                return try await store.bookedEventCount() == 182 && snapshot.totalRejected == 5
                    && snapshot.duplicates == 21
            }
            return runtime.ingestMetrics.snapshot
        }
        #expect(
            snapshot.rejected == [
                .malformedJSON: 1, .oversized: 1, .deviceMismatch: 1, .unknownDevice: 1, .schemaVersion: 1,
            ])
        #expect(snapshot.duplicates == 21)
        #expect(snapshot.storageFailures == 0)
        let sums = try await Self.ledgerSums(store)
        #expect(sums == Self.expected(published))
        #expect(sums.values.reduce(0) { $0 + $1.deposits + $1.collections } == 182)
        #expect(try await store.sequenceGaps(device: nil).isEmpty)
        await store.close()
    }

    @Test("events published while the aggregator is down are booked once when it comes back")
    func persistentSessionAcrossRestart() async throws {
        let directory = try TemporaryDirectory(prefix: "ingest-restart")
        let broker = try await MosquittoBroker.start()
        let configuration = try Self.configuration(
            broker: broker, directory: directory.path, devices: ["pt-1"], clientID: "agg-\(UUID().uuidString.prefix(8))"
        )
        let store = try await AggregatorRuntime.openStore(configuration.storage, logger: Fixtures.logger)
        let events = (1...120).map { Self.event("pt-1", index: 0, seq: $0) }

        try await Self.withRunningAggregator(configuration, store: store) { _ in
            try await Self.withDeviceClient(broker, id: "pt-1") { client in
                for event in events.prefix(40) {
                    try await client.publish(MQTTMessage(topic: Topics.events("pt-1"), payload: Fixtures.json(event)))
                }
            }
            try await waitUntil(timeout: .seconds(20), "first 40 booked") { try await store.bookedEventCount() == 40 }
        }
        // The aggregator is gone; the broker queues for its persistent session. Also replay some old ones.
        try await Self.withDeviceClient(broker, id: "pt-1") { client in
            for event in events[30..<120] {
                try await client.publish(MQTTMessage(topic: Topics.events("pt-1"), payload: Fixtures.json(event)))
            }
        }
        #expect(try await store.bookedEventCount() == 40)
        try await Self.withRunningAggregator(configuration, store: store) { runtime in
            try await waitUntil(timeout: .seconds(30), "all 120 booked") { try await store.bookedEventCount() == 120 }
            try await waitUntil(timeout: .seconds(10), "the replayed ten counted as duplicates") {
                runtime.ingestMetrics.snapshot.duplicates == 10
            }
        }
        #expect(try await Self.ledgerSums(store) == Self.expected(events))
        // The retained status says the aggregator went offline cleanly.
        let status = try await Self.withDeviceClient(broker, id: "observer") { client in
            let stream = try await client.subscribe(Topics.aggregatorStatus, qos: .atLeastOnce)
            for await message in stream {
                return try WireCodec.decode(AggregatorStatusPayload.self, from: message.payload)
            }
            throw AggregatorError(.broker, "no status")
        }
        #expect(status.online == false)
        #expect(status.instance == "ingest-test")
        await store.close()
    }

    @Test("two instances on one PostgreSQL split the events through a shared subscription and book each once")
    func sharedSubscription() async throws {
        let directory = try TemporaryDirectory(prefix: "ingest-shared")
        let broker = try await MosquittoBroker.start()
        let url = try await PostgresServer.makeDatabase()
        defer { PostgresServer.dropDatabase(url: url) }
        let configurations = try ["a", "b"].map { name in
            try Self.configuration(
                broker: broker, directory: directory.path, devices: ["pt-1", "pt-2"],
                clientID: "agg-\(name)-\(UUID().uuidString.prefix(6))",
                storage: "{postgres: \"\(url)\"}", sharedGroup: "aggregators", instance: "instance-\(name)")
        }
        let stores = [
            try await AggregatorRuntime.openStore(configurations[0].storage, logger: Fixtures.logger),
            try await AggregatorRuntime.openStore(configurations[1].storage, logger: Fixtures.logger),
        ]
        let events = ["pt-1", "pt-2"].enumerated().flatMap { index, device in
            (1...100).map { Self.event(device, index: index, seq: Int64($0)) }
        }
        let snapshots = try await Self.withRunningAggregator(configurations[0], store: stores[0]) { first in
            try await Self.withRunningAggregator(configurations[1], store: stores[1]) { second in
                for device in ["pt-1", "pt-2"] {
                    let mine = events.filter { $0.device == device }
                    try await Self.withDeviceClient(broker, id: device) { client in
                        // Each event once, then the first ten again (a device replaying after a reconnect).
                        for event in mine + mine.prefix(10) {
                            try await client.publish(
                                MQTTMessage(topic: Topics.events(device), payload: Fixtures.json(event)))
                        }
                    }
                }
                func progress(_ name: String, _ snapshot: IngestMetrics.Snapshot) -> String {
                    "\(name): \(snapshot.totalMessages) accepted, \(snapshot.duplicates) duplicates, \(snapshot.totalRejected) rejected, \(snapshot.storageFailures) storage failures"
                }
                try await waitUntil(
                    timeout: .seconds(60),
                    "220 messages handled across both instances (\(progress("a", first.ingestMetrics.snapshot)); \(progress("b", second.ingestMetrics.snapshot)))"
                ) {
                    let a = first.ingestMetrics.snapshot
                    let b = second.ingestMetrics.snapshot
                    return a.totalMessages + a.duplicates + b.totalMessages + b.duplicates == 220
                }
                return [first.ingestMetrics.snapshot, second.ingestMetrics.snapshot]
            }
        }
        // Both instances took part, and between them every event was booked exactly once.
        #expect(snapshots.allSatisfy { $0.totalMessages > 0 })
        #expect(snapshots.reduce(0) { $0 + $1.totalMessages } == 200)
        #expect(snapshots.reduce(0) { $0 + $1.duplicates } == 20)
        #expect(try await stores[1].bookedEventCount() == 200)
        #expect(try await Self.ledgerSums(stores[0]) == Self.expected(events))
        for store in stores { await store.close() }
    }
}
