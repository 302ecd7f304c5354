import Aggregator
import BinProtocol
import Foundation
import Logging
import Metrics
import Synchronization
import Testing

/// Ingest without a broker: topic and payload in, committed rows and counted outcomes out.
@Suite("Ingest")
struct IngestProcessorTests {
    final class Observations: Sendable {
        let items = Mutex<[AlertObservation]>([])
        func append(_ observation: AlertObservation) { items.withLock { $0.append(observation) } }
        var all: [AlertObservation] { items.withLock { $0 } }
    }

    static func withProcessor(
        _ body: (IngestProcessor, any AggregatorStore, Observations) async throws -> Void
    ) async throws {
        let configuration = try AggregatorConfiguration.parse(
            yaml: ConfigurationTests.minimal, source: "aggregator.yaml")
        try await Fixtures.withStore(.sqlite) { store in
            let observations = Observations()
            let processor = IngestProcessor(
                registry: Registry(configuration), calendar: LedgerCalendar(timeZone: configuration.timeZone),
                store: store,
                metrics: IngestMetrics(factory: NOOPMetricsHandler.instance), logger: Fixtures.logger,
                observe: { observations.append($0) })
            try await body(processor, store, observations)
        }
    }

    /// A wet bin's state of pt-2 at `minute`.
    static func state(bin: String = "wet", minute: Int64, fill: Double) -> StatePayload {
        StatePayload(
            device: "pt-2", ts: Fixtures.time(minute), bin: bin, stream: .wet, fill: fill, massKg: 40, lidOpen: false,
            quality: .good, temperatureC: nil)
    }

    @Test("valid messages of every kind are committed and counted by type")
    func validMessages() async throws {
        try await Self.withProcessor { processor, store, observations async throws in
            let deposit = Fixtures.deposit("pt-1", seq: 1, at: Fixtures.time(0), kg: 1.5)
            #expect(
                await processor.process(topic: Topics.events("pt-1"), payload: Fixtures.json(deposit), receivedAtMs: 5)
                    == .accepted(.deposit))
            let collection = Fixtures.collection("pt-1", seq: 2, at: Fixtures.time(1), kg: 1.5)
            #expect(
                await processor.process(
                    topic: Topics.events("pt-1"), payload: Fixtures.json(collection), receivedAtMs: 6)
                    == .accepted(.collection))
            let status = StatusPayload(device: "pt-1", ts: Fixtures.time(0), online: true, session: 1)
            #expect(
                await processor.process(topic: Topics.status("pt-1"), payload: Fixtures.json(status), receivedAtMs: 7)
                    == .accepted(.status))
            let state = StatePayload(
                device: "pt-2", ts: Fixtures.time(0), bin: "wet", stream: .wet, fill: 0.9, massKg: 40, lidOpen: false,
                quality: .good,
                temperatureC: nil)
            #expect(
                await processor.process(
                    topic: Topics.state("pt-2", bin: "wet"), payload: Fixtures.json(state), receivedAtMs: 8)
                    == .accepted(.state))
            let birth = BirthPayload(
                device: "pt-2", ts: Fixtures.time(0), session: 1, version: "1", configHash: "h", board: "b",
                bins: [BinDescriptor(id: "wet", stream: .wet, capacityL: 120)])
            #expect(
                await processor.process(topic: Topics.birth("pt-2"), payload: Fixtures.json(birth), receivedAtMs: 9)
                    == .accepted(.birth))

            let snapshot = processor.metrics.snapshot
            #expect(snapshot.messages == [.deposit: 1, .collection: 1, .status: 1, .state: 1, .birth: 1])
            #expect(snapshot.totalRejected == 0)
            let rows = try await store.ledger(
                devices: nil, from: Fixtures.date("2026-06-01"), to: Fixtures.date("2026-06-01"))
            #expect(rows.first?.figures.depositedKg == 1.5)
            #expect(rows.first?.figures.collectedKg == 1.5)
            #expect(observations.all.contains(.binState(state)))
            #expect(observations.all.contains(.status(device: "pt-1")))
            #expect(
                observations.all.contains(
                    .deposit(
                        device: "pt-1", bin: "wet", day: Fixtures.date("2026-06-01"), at: Fixtures.time(0),
                        contaminated: false)))
        }
    }

    @Test(
        "a bad message in the middle of a batch is counted and refused; the rest of the batch is booked in one commit")
    func badMessageInsideBatch() async throws {
        try await Self.withProcessor { processor, store, _ async throws in
            var invalid = Fixtures.deposit("pt-1", seq: 3, at: Fixtures.time(2), kg: 1)
            if case .deposit(var deposit) = invalid.body {
                deposit.massKg = -5
                invalid.body = .deposit(deposit)
            }
            let messages: [(topic: String, payload: [UInt8])] = [
                (Topics.events("pt-1"), Fixtures.json(Fixtures.deposit("pt-1", seq: 1, at: Fixtures.time(0), kg: 1.5))),
                (Topics.events("pt-1"), Array("{\"schema\":1,".utf8)),
                (Topics.events("pt-1"), Fixtures.json(Fixtures.deposit("pt-1", seq: 2, at: Fixtures.time(1), kg: 0.5))),
                (Topics.events("pt-1"), Fixtures.json(invalid)),
                (Topics.events("pt-1"), Fixtures.json(Fixtures.deposit("pt-1", seq: 2, at: Fixtures.time(1), kg: 0.5))),
            ]
            let batch = processor.prepare(messages, receivedAtMs: 10)
            #expect(batch.items.count == 4, "two deposits, the accounted seq of the invalid one, and the repeat")
            let outcomes = try (await processor.commit(batch)).get()
            #expect(outcomes.count == 5)
            #expect(outcomes[0] == .accepted(.deposit) && outcomes[2] == .accepted(.deposit))
            #expect(outcomes[1] == .rejected(.malformedJSON))
            #expect(outcomes[3] == .rejected(.outOfRange) || outcomes[3] == .rejected(.invalidField))
            #expect(outcomes[4] == .duplicate)
            #expect(try await store.bookedEventCount() == 2)
            #expect(try await store.receiptMarks(devices: ["pt-1"])["pt-1"] == ReceiptMark(through: 3, highest: 3))
            let snapshot = processor.metrics.snapshot
            #expect(snapshot.messages[.deposit] == 2 && snapshot.duplicates == 1 && snapshot.totalRejected == 2)
        }
    }

    @Test(
        "a state judged on receipt reaches the alert engine before its batch commits, once, and an older one not at all; it is booked as usual"
    )
    func stateJudgedOnReceipt() async throws {
        try await Self.withProcessor { processor, store, observations async throws in
            func state(minute: Int64, fill: Double) -> StatePayload { Self.state(minute: minute, fill: fill) }
            let topic = Topics.state("pt-2", bin: "wet")
            let full = state(minute: 5, fill: 0.9)
            let older = state(minute: 4, fill: 0.2)
            let batch = processor.prepare(
                [(topic, Fixtures.json(full)), (topic, Fixtures.json(older)), (topic, Array("{\"schema\":1,".utf8))],
                receivedAtMs: 10, stateJudging: .onReceipt)
            #expect(observations.all == [.binState(full)], "judged before the commit; the older state not at all")
            #expect(try await store.binStates().isEmpty)
            let outcomes = try (await processor.commit(batch)).get()
            #expect(outcomes == [.accepted(.state), .accepted(.state), .rejected(.malformedJSON)])
            #expect(try await store.binStates().map(\.state) == [full])
            #expect(observations.all == [.binState(full)], "the commit judges nothing again")

            // Judged after the commit (the default), only once the commit has said the state is the newest.
            let later = state(minute: 6, fill: 0.95)
            let afterCommit = processor.prepare([(topic, Fixtures.json(later))], receivedAtMs: 11)
            #expect(observations.all.count == 1)
            _ = try (await processor.commit(afterCommit)).get()
            #expect(observations.all == [.binState(full), .binState(later)])
        }
    }

    @Test(
        "a device's states of more bins than a birth may declare are refused beyond the first; an event naming a further bin is booked, but not handed to the alert engine"
    )
    func binsBeyondWhatABirthDeclaresAreRefused() async throws {
        try await Self.withProcessor { processor, store, observations async throws in
            let admitted = (0..<WireLimits.maxBins).map { Self.state(bin: "b\($0)", minute: 5, fill: 0.9) }
            let beyond = Self.state(bin: "one-too-many", minute: 5, fill: 0.95)
            let messages = (admitted + [beyond]).map { (Topics.state("pt-2", bin: $0.bin), Fixtures.json($0)) }
            let batch = processor.prepare(messages, receivedAtMs: 10, stateJudging: .onReceipt)
            #expect(observations.all == admitted.map { .binState($0) })
            let outcomes = try (await processor.commit(batch)).get()
            #expect(outcomes.last == .rejected(.outOfRange))
            #expect(outcomes.dropLast().allSatisfy { $0 == .accepted(.state) })
            #expect(try await store.binStates().count == WireLimits.maxBins)
            #expect(processor.metrics.snapshot.totalRejected == 1)

            // An event of a further bin: booked, and its seq with it, but the alert engine does not hear of it.
            let deposit = Fixtures.deposit(
                "pt-2", seq: 1, at: Fixtures.time(6), bin: "one-too-many", kg: 1.5, observed: .dry, contaminated: true)
            let observed = observations.all.count
            #expect(
                await processor.process(topic: Topics.events("pt-2"), payload: Fixtures.json(deposit), receivedAtMs: 11)
                    == .accepted(.deposit))
            #expect(try await store.bookedEventCount() == 1)
            #expect(observations.all.count == observed)
            // One of its admitted bins still is.
            let admittedDeposit = Fixtures.deposit("pt-2", seq: 2, at: Fixtures.time(7), bin: "b0", kg: 1.5)
            _ = await processor.process(
                topic: Topics.events("pt-2"), payload: Fixtures.json(admittedDeposit), receivedAtMs: 12)
            #expect(observations.all.count == observed + 1)
        }
    }

    @Test("duplicates are counted, not booked")
    func duplicates() async throws {
        try await Self.withProcessor { processor, store, _ async throws in
            let payload = Fixtures.json(Fixtures.deposit("pt-1", seq: 9, at: Fixtures.time(0), kg: 2))
            #expect(
                await processor.process(topic: Topics.events("pt-1"), payload: payload, receivedAtMs: 1)
                    == .accepted(.deposit))
            #expect(
                await processor.process(topic: Topics.events("pt-1"), payload: payload, receivedAtMs: 2) == .duplicate)
            #expect(processor.metrics.snapshot.duplicates == 1)
            #expect(try await store.bookedEventCount() == 1)
        }
    }

    @Test("malformed, oversized, spoofed and unknown messages are rejected with their reason")
    func rejections() async throws {
        try await Self.withProcessor { processor, store, _ async throws in
            let valid = Fixtures.deposit("pt-1", seq: 1, at: Fixtures.time(0), kg: 1)
            var cases: [(String, [UInt8], RejectReason)] = [
                (Topics.events("pt-1"), Array("{not json".utf8), .malformedJSON),
                (
                    Topics.events("pt-1"), Array(repeating: UInt8(ascii: " "), count: WireSchema.maxPayloadBytes + 1),
                    .oversized
                ),
                (Topics.events("pt-2"), Fixtures.json(valid), .deviceMismatch),
                (
                    Topics.events("pt-9"), Fixtures.json(Fixtures.deposit("pt-9", seq: 1, at: Fixtures.time(0), kg: 1)),
                    .unknownDevice
                ),
                ("bins/v1/pt-1/whatever", Fixtures.json(valid), .badTopic),
                ("elsewhere/pt-1/events", Fixtures.json(valid), .badTopic),
                (Topics.command("pt-1"), Fixtures.json(valid), .badTopic),
                (
                    Topics.events("pt-1"),
                    Fixtures.json(Fixtures.deposit("pt-1", seq: 2, at: Fixtures.time(0), kg: -3)), .outOfRange
                ),
                (Topics.events("pt-1"), Array(#"{"schema":2,"device":"pt-1"}"#.utf8), .invalidField),
            ]
            var wrongSchema = valid
            wrongSchema.schema = 2
            cases.append((Topics.events("pt-1"), Fixtures.json(wrongSchema), .schemaVersion))
            let state = StatePayload(
                device: "pt-1", ts: Fixtures.time(0), bin: "dry", stream: .dry, fill: 0.2, massKg: 1, lidOpen: false,
                quality: .good,
                temperatureC: nil)
            cases.append((Topics.state("pt-1", bin: "wet"), Fixtures.json(state), .invalidField))
            for (topic, payload, reason) in cases {
                let outcome = await processor.process(topic: topic, payload: payload, receivedAtMs: 1)
                #expect(
                    outcome == .rejected(reason), "\(topic): \(String(decoding: payload.prefix(60), as: UTF8.self))")
            }
            let snapshot = processor.metrics.snapshot
            #expect(snapshot.totalRejected == cases.count)
            #expect(snapshot.rejected[.badTopic] == 3)
            #expect(snapshot.totalMessages == 0)
            #expect(try await store.bookedEventCount() == 0)
            // Valid traffic still flows.
            #expect(
                await processor.process(topic: Topics.events("pt-1"), payload: Fixtures.json(valid), receivedAtMs: 2)
                    == .accepted(.deposit))
        }
    }

    @Test("arbitrary bytes never crash ingest; each is rejected or accepted, never lost track of")
    func arbitraryBytes() async throws {
        try await Self.withProcessor { processor, _, _ async throws in
            var generator = SystemRandomNumberGenerator()
            let fragments = [
                #"{"schema":1,"device":"pt-1","ts":"2026-06-01T08:00:00.000+08:00","seq":"#, #""type":"deposit""#,
                "null", "[", "]",
                "{", "}", ",", "1e999", #""\u0000""#, "\u{FFFF}", #""bin":"wet""#, "-0", "true",
            ]
            for index in 0..<500 {
                var bytes: [UInt8]
                if index % 2 == 0 {
                    bytes = (0..<Int.random(in: 0...200, using: &generator)).map { _ in
                        UInt8.random(in: 0...255, using: &generator)
                    }
                } else {
                    bytes = Array(
                        (0..<Int.random(in: 1...8, using: &generator)).map { _ in
                            fragments.randomElement(using: &generator)!
                        }.joined().utf8)
                }
                let topic = [
                    Topics.events("pt-1"), Topics.status("pt-1"), Topics.birth("pt-2"),
                    Topics.state("pt-2", bin: "wet"), Topics.health("pt-1"),
                ][index % 5]
                let outcome = await processor.process(topic: topic, payload: bytes, receivedAtMs: 1)
                if case .storageFailed = outcome { Issue.record("storage failed on garbage input") }
            }
            let snapshot = processor.metrics.snapshot
            #expect(snapshot.totalRejected + snapshot.totalMessages + snapshot.duplicates == 500)
        }
    }
}
