import Aggregator
import BinProtocol
import BinsTestSupport
import Foundation
import MQTT
import Metrics
import Testing

/// Thousands of hostile messages of every kind in ``MalformedCorpus`` through a real broker into the
/// aggregator, with valid events of three devices interleaved: each bad one is refused and counted under
/// its reason, every valid one is booked exactly once, and nothing else changes. Part of the standing
/// security suite (docs/testing.md).
@Suite("Malformed-payload corpus through a real broker", .serialized)
struct MalformedCorpusTests {
    static let instancesPerKind = 80

    @Test("at least 30 kinds of bad messages are counted under their reasons while valid events are booked once")
    func corpus() async throws {
        #expect(MalformedCorpus.kinds.count >= 30)
        let directory = try TemporaryDirectory(prefix: "malformed")
        let broker = try await MosquittoBroker.start()
        let configuration = try IngestBrokerTests.configuration(
            broker: broker, directory: directory.path, devices: ["pt-1", "pt-2", "pt-3"],
            clientID: "bins-aggregator-corpus")
        let store = try await AggregatorRuntime.openStore(configuration.storage, logger: Fixtures.logger)

        // Valid events: 3 devices, seqs 1...N, sent in rounds between the bad messages.
        let validPerDevice = 200
        var valid: [(topic: String, event: EventPayload)] = []
        for (index, device) in ["pt-1", "pt-2", "pt-3"].enumerated() {
            for seq in 1...validPerDevice {
                valid.append((Topics.events(device), IngestBrokerTests.event(device, index: index, seq: Int64(seq))))
            }
        }
        var expected: [RejectReason: Int] = [:]
        var bad: [(topic: String, payload: [UInt8])] = []
        for n in 0..<Self.instancesPerKind {
            for kind in MalformedCorpus.kinds {
                bad.append((kind.topic, kind.payload(n)))
                expected[kind.reason, default: 0] += 1
            }
        }

        let snapshot = try await IngestBrokerTests.withRunningAggregator(configuration, store: store) { runtime in
            let client = try MQTTClient(
                configuration: MQTTConfiguration(host: broker.host, port: broker.port, clientID: "corpus-sender"),
                logger: Fixtures.logger)
            let task = Task { try await client.run() }
            try await client.waitUntilConnected(timeout: .seconds(10))
            // Each device's first events go first, so every device has a high mark before the far jumps.
            let (head, tail) = (valid.filter { $0.event.seq <= 5 }, valid.filter { $0.event.seq > 5 })
            for item in head {
                try await client.publish(MQTTMessage(topic: item.topic, payload: Fixtures.json(item.event)))
            }
            var validIterator = tail.makeIterator()
            let stride = max(1, bad.count / tail.count)
            for (index, message) in bad.enumerated() {
                try await client.publish(MQTTMessage(topic: message.topic, payload: message.payload))
                if index % stride == 0, let item = validIterator.next() {
                    try await client.publish(MQTTMessage(topic: item.topic, payload: Fixtures.json(item.event)))
                }
            }
            while let item = validIterator.next() {
                try await client.publish(MQTTMessage(topic: item.topic, payload: Fixtures.json(item.event)))
            }
            await client.disconnect()
            try await task.value
            try await waitUntil(timeout: .seconds(60), "every message handled") {
                let snapshot = runtime.ingestMetrics.snapshot
                return snapshot.totalRejected == bad.count && snapshot.totalMessages == valid.count
            }
            return runtime.ingestMetrics.snapshot
        }
        #expect(bad.count >= 3000, "\(bad.count) bad messages")
        #expect(snapshot.rejected == expected, "counted \(snapshot.rejected), expected \(expected)")
        #expect(snapshot.duplicates == 0)
        #expect(snapshot.storageFailures == 0)
        #expect(try await store.bookedEventCount() == valid.count)
        #expect(try await IngestBrokerTests.ledgerSums(store) == IngestBrokerTests.expected(valid.map(\.event)))
        let devices = try await store.devices()
        #expect(
            devices.map(\.highestSeq) == [Int64(validPerDevice), Int64(validPerDevice), Int64(validPerDevice)],
            "no bad seq moved a high mark")
        #expect(try await store.sequenceGaps(device: nil).isEmpty)
        await store.close()
    }

    /// Each kind on its own, through the ingest processor and a real SQLite store, so a failure names the
    /// kind whose reason changed.
    @Test("each kind is refused under its documented reason", arguments: MalformedCorpus.kinds.map(\.name))
    func eachKind(name: String) async throws {
        let kind = try #require(MalformedCorpus.kinds.first { $0.name == name })
        let directory = try TemporaryDirectory(prefix: "malformed-kind")
        let configuration = try AggregatorConfiguration.parse(
            yaml: """
                time_zone: Asia/Shanghai
                broker: {host: 127.0.0.1}
                storage: {sqlite: ledger.sqlite, synchronous: normal}
                district: {id: d1, name: D}
                streets: [{id: s1, communities: [{id: c1, kind: property, points: [pt-1, pt-2, pt-3]}]}]
                """, source: "test.yaml", baseDirectory: directory.path)
        let store = try await AggregatorRuntime.openStore(configuration.storage, logger: Fixtures.logger)
        let processor = IngestProcessor(
            registry: Registry(configuration), calendar: LedgerCalendar(timeZone: configuration.timeZone), store: store,
            metrics: IngestMetrics(factory: NOOPMetricsHandler.instance), logger: Fixtures.logger)
        // A first event gives pt-1 a high mark, as in the run above.
        let first = IngestBrokerTests.event("pt-1", index: 0, seq: 1)
        #expect(
            await processor.process(topic: Topics.events("pt-1"), payload: Fixtures.json(first), receivedAtMs: 0)
                == .accepted(.deposit))
        let outcome = await processor.process(topic: kind.topic, payload: kind.payload(3), receivedAtMs: 0)
        #expect(outcome == .rejected(kind.reason), "\(kind.name)")
        await store.close()
    }
}
