import Aggregator
import BinProtocol
import BinsTestSupport
import Foundation
import MQTT
import Testing

/// Alerts and receipts leave on a connection of their own: the session ingest reads from writes nothing
/// while a batch it handed over is uncommitted, and an alert must not wait for a commit.
@Suite("The aggregator's publishing connection", .serialized)
struct PublisherConnectionTests {
    /// Polls `condition` (a query on the database) until it holds; fails after `timeout`.
    static func waitUntil(
        _ what: String, timeout: Duration = .seconds(20), _ condition: () async throws -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + timeout
        while try await !condition() {
            guard ContinuousClock.now < deadline else { throw TestSupportError("timed out waiting until \(what)") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    @Test("an alert is delivered while ingest's commit waits on a lock, and the held event is booked after")
    func alertWhileCommitHeld() async throws {
        let directory = try TemporaryDirectory(prefix: "publisher-connection")
        let broker = try await MosquittoBroker.start()
        let url = try await PostgresServer.makeDatabase()
        defer { PostgresServer.dropDatabase(url: url) }
        var configuration = try IngestBrokerTests.configuration(
            broker: broker, directory: directory.path, devices: ["pt-1", "pt-2"],
            clientID: "bins-aggregator-\(UUID().uuidString.prefix(6))", storage: "{postgres: \"\(url)\"}")
        configuration.alerts.evaluateEverySeconds = 1
        configuration.alerts.rules[.deviceOffline] = AlertRule(
            severity: .critical, raise: 2, clear: 1, minimumDurationSeconds: 0)
        let store = try await AggregatorRuntime.openStore(configuration.storage, logger: Fixtures.logger)
        try await IngestBrokerTests.withRunningAggregator(configuration, store: store) { _ in
            let console = try MQTTClient(
                configuration: MQTTConfiguration(host: broker.host, port: broker.port, clientID: "console"),
                logger: Fixtures.logger)
            let alerts = try await console.subscribe(Topics.alerts, qos: .atLeastOnce)
            let consoleTask = Task { try await console.run() }
            defer { consoleTask.cancel() }
            try await console.waitUntilConnected(timeout: .seconds(10))

            // pt-1 is heard from once, and then falls silent.
            try await IngestBrokerTests.withDeviceClient(broker, id: "pt-1") { client in
                try await client.publish(
                    MQTTMessage(
                        topic: Topics.events("pt-1"),
                        payload: Fixtures.json(IngestBrokerTests.event("pt-1", index: 0, seq: 1))))
            }
            try await Self.waitUntil("pt-1's event is booked") { try await store.bookedEventCount() == 1 }

            // A session holds the events table, so ingest's next commit waits for it.
            let session = "publisher-connection-lock"
            let holder = try PostgresServer.startSession(
                url: url, applicationName: session,
                sql: "BEGIN; LOCK TABLE events IN EXCLUSIVE MODE; SELECT pg_sleep(120); COMMIT;",
                outputPath: directory.file("lock.log"))
            defer { holder.send(SIGKILL) }
            try await Self.waitUntil("the lock is held") {
                try await PostgresServer.query(
                    url: url,
                    sql:
                        "SELECT count(*) FROM pg_locks WHERE relation = 'events'::regclass AND granted AND mode = 'ExclusiveLock'"
                ) == ["1"]
            }
            try await IngestBrokerTests.withDeviceClient(broker, id: "pt-2") { client in
                try await client.publish(
                    MQTTMessage(
                        topic: Topics.events("pt-2"),
                        payload: Fixtures.json(IngestBrokerTests.event("pt-2", index: 1, seq: 1))))
            }
            try await Self.waitUntil("ingest's commit waits on the lock") {
                try await PostgresServer.query(
                    url: url,
                    sql:
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
                ) != ["0"]
            }

            // pt-1's silence passes the raise level; the alert goes out while the commit still waits.
            let raised = try await withThrowingTaskGroup(of: AlertPayload?.self) { group in
                group.addTask {
                    for await message in alerts {
                        let alert = try WireCodec.decode(AlertPayload.self, from: message.payload)
                        if alert.kind == .deviceOffline, alert.subject == "device:pt-1" { return alert }
                    }
                    return nil
                }
                group.addTask {
                    try await Task.sleep(for: .seconds(20))
                    return nil
                }
                let first = try await group.next() ?? nil
                group.cancelAll()
                return first
            }
            #expect(raised?.state == .raised, "device_offline for pt-1 was not delivered while the commit waited")
            #expect(
                try await PostgresServer.query(
                    url: url,
                    sql:
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
                ) != ["0"], "the commit was still waiting when the alert arrived")
            #expect(try await store.bookedEventCount() == 1)

            // The lock goes; the held event is booked, nothing lost.
            try await PostgresServer.terminateSessions(url: url, applicationName: session)
            try await Self.waitUntil("pt-2's event is booked") { try await store.bookedEventCount() == 2 }
        }
        await store.close()
    }
}
