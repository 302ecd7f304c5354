import Aggregator
import BinProtocol
import BinsTestSupport
import Foundation
import MQTT
import Synchronization
import Testing

/// `bins-aggregator serve` as operators run it: a child process with its own configuration, SQLite
/// ledger and HTTP port, against a real mosquitto, stopped with SIGTERM while the broker hangs, dies or
/// stops at the same moment, while a reconnect backoff is pending, and while ingest is stuck in a commit.
/// Every stop must end on its own within the shutdown limits (offline status 5 s, graceful 20 s,
/// cancellation 5 s), and a second signal must end a stop that is stuck.
@Suite("bins-aggregator serve stops when told", .serialized)
struct ServeShutdownTests {
    /// One broker and one `bins-aggregator serve` configuration in a directory of their own.
    struct Harness {
        let directory: TemporaryDirectory
        let broker: MosquittoBroker
        let configPath: String
        let databasePath: String
        let httpPort: Int

        init(prefix: String, reconnectMinMs: Int = 200, reconnectMaxMs: Int = 2000) async throws {
            directory = try TemporaryDirectory(prefix: prefix)
            broker = try await MosquittoBroker.start(in: try TemporaryDirectory(prefix: "\(prefix)-broker"))
            httpPort = try freeLoopbackPort()
            databasePath = directory.file("ledger.sqlite")
            // Keepalive is long so that only the test decides when the aggregator learns of a hung broker.
            configPath = try directory.write(
                "aggregator.yaml",
                """
                time_zone: Asia/Shanghai
                instance: serve-test
                broker: {host: \(broker.host), port: \(broker.port), client_id: agg-\(UUID().uuidString.prefix(8)), protocol: v5, keep_alive_s: 60, reconnect_min_ms: \(reconnectMinMs), reconnect_max_ms: \(reconnectMaxMs)}
                storage: {sqlite: ledger.sqlite, synchronous: normal}
                http: {listen: "127.0.0.1:\(httpPort)"}
                district: {id: d1, name: District}
                streets:
                  - id: s1
                    communities:
                      - {id: c1, kind: property, households: 10, points: [pt-1]}
                """)
        }

        /// Starts `bins-aggregator serve` and waits until it listens and is connected to the broker.
        func startAggregator(run: Int = 1) async throws -> ChildProcess {
            let aggregator = try ChildProcess(
                try TestExecutables.path("bins-aggregator"), ["serve", "--config", configPath],
                outputPath: directory.file("aggregator-\(run).log"))
            try await aggregator.waitForOutput(containing: "http.listening", timeout: .seconds(30))
            // All three connections: the events' session, the device-state session and the publishing one.
            // The first to connect may not be the one the test's events go to.
            try await waitUntil(timeout: .seconds(30), "the aggregator's three broker connections are up") {
                aggregator.output.components(separatedBy: "mqtt.connected").count - 1 >= 3
            }
            return aggregator
        }

        /// Publishes `seqs` of pt-1 with the project's client, as binsd would.
        func publish(_ seqs: ClosedRange<Int64>) async throws {
            let events = seqs.map { IngestBrokerTests.event("pt-1", index: 0, seq: $0) }
            try await IngestBrokerTests.withDeviceClient(broker, id: "pt-1") { client in
                for event in events {
                    try await client.publish(MQTTMessage(topic: Topics.events("pt-1"), payload: Fixtures.json(event)))
                }
            }
        }

        /// Events in the ledger, read through a store of the test's own on the same file (WAL allows it).
        func bookedEvents() async throws -> Int {
            let store = try SQLiteStore(settings: SQLiteSettings(path: databasePath, synchronous: .normal))
            do {
                let count = try await store.bookedEventCount()
                await store.close()
                return count
            } catch {
                await store.close()
                throw error
            }
        }

        func waitForBookedEvents(_ count: Int, timeout: Duration = .seconds(30)) async throws {
            try await waitUntil(timeout: timeout, "\(count) events booked") { try await bookedEvents() == count }
        }

        /// Brings the aggregator up and has it book some events, as in the demo before its cleanup.
        func startIngesting() async throws -> ChildProcess {
            let aggregator = try await startAggregator()
            try await publish(1...40)
            try await waitForBookedEvents(40)
            return aggregator
        }
    }

    /// Waits for the end of a stopped aggregator; fails with its log if it does not end within `bound`.
    static func expectExit(
        _ aggregator: ChildProcess, within bound: Duration, status: Int32 = 0,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let termination: ChildProcess.Termination
        do {
            termination = try await aggregator.waitForExit(timeout: bound)
        } catch {
            Issue.record(
                "bins-aggregator still running \(bound) after SIGTERM; log:\n\(aggregator.output.suffix(3000))",
                sourceLocation: sourceLocation)
            throw error
        }
        #expect(
            termination == .exited(status), "log:\n\(aggregator.output.suffix(3000))", sourceLocation: sourceLocation)
    }

    @Test("SIGTERM while the broker hangs: the offline status is given up after its bound, the process exits 0")
    func hungBroker() async throws {
        let harness = try await Harness(prefix: "serve-hung")
        let aggregator = try await harness.startIngesting()
        harness.broker.suspend()
        aggregator.send(SIGTERM)
        try await Self.expectExit(aggregator, within: .seconds(20))
        #expect(aggregator.output.contains("aggregator.status_offline_not_published"))
        #expect(aggregator.output.contains("mqtt.stopped"))
        #expect(aggregator.output.contains("aggregator.stopped"))
        harness.broker.resume()
    }

    @Test("the broker dies while the offline status waits for its acknowledgement (the demo's hang)")
    func brokerDiesDuringOfflineStatus() async throws {
        let harness = try await Harness(prefix: "serve-dies")
        let aggregator = try await harness.startIngesting()
        // Frozen, the broker cannot answer, but the kernel still takes what the aggregator sends: once the
        // offline status is in the broker's receive queue, the aggregator is waiting for its PUBACK.
        harness.broker.suspend()
        let unreadBefore = loopbackUnreadBytes(toPort: harness.broker.port)
        aggregator.send(SIGTERM)
        try await waitUntil(timeout: .seconds(15), "the offline status sent to the frozen broker") {
            if !aggregator.isRunning {
                let connections = loopbackConnections(port: harness.broker.port)
                throw TestSupportError(
                    "bins-aggregator ended before the offline status reached the broker (unread before: \(unreadBefore), connections: \(connections)); log:\n\(aggregator.output.suffix(3000))"
                )
            }
            return loopbackUnreadBytes(toPort: harness.broker.port) >= unreadBefore + 64
        }
        try await harness.broker.kill()
        try await Self.expectExit(aggregator, within: .seconds(20))
        #expect(aggregator.output.contains("aggregator.status_offline_not_published"))
        #expect(aggregator.output.contains("aggregator.stopped"))
    }

    enum StopOrder: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case brokerFirst, aggregatorFirst, together
        var testDescription: String { rawValue }
    }

    @Test("broker and aggregator sent SIGTERM at nearly the same moment, in any order", arguments: StopOrder.allCases)
    func stoppedTogether(order: StopOrder) async throws {
        let harness = try await Harness(prefix: "serve-together")
        let aggregator = try await harness.startIngesting()
        let brokerPID = try #require(harness.broker.pid)
        switch order {
        case .brokerFirst:
            kill(brokerPID, SIGTERM)
            try await waitUntil(timeout: .seconds(15), "mosquitto exited") { !harness.broker.isRunning }
            aggregator.send(SIGTERM)
        case .aggregatorFirst:
            aggregator.send(SIGTERM)
            try await aggregator.waitForOutput(containing: "aggregator.stopping", timeout: .seconds(10))
            kill(brokerPID, SIGTERM)
        case .together:
            aggregator.send(SIGTERM)
            kill(brokerPID, SIGTERM)
        }
        try await Self.expectExit(aggregator, within: .seconds(20))
        #expect(aggregator.output.contains("aggregator.stopped"))
        try await waitUntil(timeout: .seconds(15), "mosquitto exited") { !harness.broker.isRunning }
    }

    @Test("SIGTERM during a reconnect backoff ends the wait at once")
    func duringReconnectBackoff() async throws {
        // Backoff delays of 10 to 20 s: a stop that waited one out would miss the 8 s bound below.
        let harness = try await Harness(prefix: "serve-backoff", reconnectMinMs: 20_000, reconnectMaxMs: 40_000)
        let aggregator = try await harness.startIngesting()
        try await harness.broker.kill()
        try await aggregator.waitForOutput(containing: "mqtt.reconnect.scheduled", timeout: .seconds(15))
        aggregator.send(SIGTERM)
        try await Self.expectExit(aggregator, within: .seconds(8))
        #expect(aggregator.output.contains("aggregator.status_offline_not_published"))
        #expect(aggregator.output.contains("aggregator.stopped"))
    }

    /// How a stop that found ingest stuck in a failing commit ends.
    enum StuckCommitEnding: String, CaseIterable, Sendable, CustomTestStringConvertible {
        /// The database comes back during the stop: the message is committed and the stop completes.
        case databaseReturns
        /// It does not: the shutdown limits end the process (exit 1) without acknowledging the message.
        case limitsEndIt
        /// An operator presses Ctrl-C after the SIGTERM: cancellation, then the cancellation limit, ends it
        /// (exit 1).
        case secondSignal
        var testDescription: String { rawValue }
    }

    @Test(
        "SIGTERM while ingest is stuck committing: the message is never acknowledged uncommitted, and the stop is bounded",
        arguments: StuckCommitEnding.allCases)
    func whileIngestIsCommitting(ending: StuckCommitEnding) async throws {
        let harness = try await Harness(prefix: "serve-commit")
        let aggregator = try await harness.startIngesting()
        // Another process holds the database's write lock, so the next commit waits (busy timeout) and
        // fails, and the handler keeps retrying with the message unacknowledged.
        let lock = try await DatabaseWriteLock(database: harness.databasePath, in: harness.directory)
        try await harness.publish(41...41)
        try await aggregator.waitForOutput(containing: "ingest.storage_failed", timeout: .seconds(30))
        aggregator.send(SIGTERM)
        try await aggregator.waitForOutput(containing: "aggregator.stopping", timeout: .seconds(10))
        switch ending {
        case .databaseReturns:
            try await lock.release()
            try await Self.expectExit(aggregator, within: .seconds(20))
            #expect(aggregator.output.contains("aggregator.stopped"))
            #expect(try await harness.bookedEvents() == 41)
            return
        case .limitsEndIt:
            try await Self.expectExit(aggregator, within: .seconds(30), status: 1)
        case .secondSignal:
            aggregator.send(SIGINT)
            try await Self.expectExit(aggregator, within: .seconds(12), status: 1)
            #expect(aggregator.output.contains("aggregator.stop_forced"))
        }
        #expect(aggregator.output.contains("aggregator.stop_abandoned"))
        try await lock.release()
        #expect(try await harness.bookedEvents() == 40)

        // The broker never got the PUBACK: it delivers the message to the restarted aggregator.
        let restarted = try await harness.startAggregator(run: 2)
        try await harness.waitForBookedEvents(41)
        restarted.send(SIGTERM)
        try await Self.expectExit(restarted, within: .seconds(20))
        #expect(try await harness.bookedEvents() == 41)
    }
}

/// Holds SQLite's write lock on a database from another process (`sqlite3`, in an open `BEGIN
/// IMMEDIATE`) until `release()`: the transaction's end is read from a FIFO, so releasing is writing
/// `COMMIT` to it, and nothing is left running afterwards.
struct DatabaseWriteLock {
    let process: ChildProcess
    let fifo: String

    init(database: String, in directory: TemporaryDirectory) async throws {
        fifo = directory.file("sqlite-lock-\(UUID().uuidString.prefix(8)).fifo")
        guard mkfifo(fifo, 0o600) == 0 else { throw TestSupportError("mkfifo \(fifo) failed: errno \(errno)") }
        // sqlite3 buffers its standard output in a file, so the lock is announced by a marker file.
        let marker = directory.file("sqlite-lock-\(UUID().uuidString.prefix(8)).held")
        process = try ChildProcess(
            "sqlite3", [database, "BEGIN IMMEDIATE;", ".shell touch \(marker)", ".read \(fifo)"],
            outputPath: directory.file("sqlite-lock.log"))
        try await waitUntil(timeout: .seconds(10), "sqlite3 holding the write lock") {
            if !process.isRunning { throw TestSupportError("sqlite3 ended: \(process.output)") }
            return FileManager.default.fileExists(atPath: marker)
        }
    }

    func release() async throws {
        let descriptor = open(fifo, O_WRONLY)
        guard descriptor >= 0 else { throw TestSupportError("open \(fifo) for writing failed: errno \(errno)") }
        let text = Array("COMMIT;\n".utf8)
        let written = write(descriptor, text, text.count)
        close(descriptor)
        guard written == text.count else { throw TestSupportError("write to \(fifo) failed: errno \(errno)") }
        #expect(try await process.waitForExit(timeout: .seconds(10)) == .exited(0), "sqlite3: \(process.output)")
    }
}
