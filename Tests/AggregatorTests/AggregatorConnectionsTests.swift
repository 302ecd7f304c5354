import Aggregator
import BinProtocol
import BinsTestSupport
import Foundation
import MQTT
import Testing

/// What must not wait for ingest's event commits: the events' session writes nothing while a batch it
/// handed over is uncommitted, and reads the devices' states in no other order than the events queued
/// before them. So alerts and receipts leave on a connection of their own, and states arrive on a session
/// of their own. Each test holds an event batch's commit on a PostgreSQL table lock and watches what still
/// gets through.
@Suite("The aggregator's connections", .serialized)
struct AggregatorConnectionsTests {
    /// The first alert of `kind` on `subject` among `alerts`, or nil after `timeout`.
    static func firstAlert(
        _ kind: AlertKind, subject: String, in alerts: AsyncStream<MQTTMessage>, timeout: Duration = .seconds(20)
    ) async throws -> AlertPayload? {
        try await withThrowingTaskGroup(of: AlertPayload?.self) { group in
            group.addTask {
                for await message in alerts {
                    let alert = try WireCodec.decode(AlertPayload.self, from: message.payload)
                    if alert.kind == kind, alert.subject == subject { return alert }
                }
                return nil
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            let first = try await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }

    static func publish(_ broker: MosquittoBroker, device: String, topic: String, payload: [UInt8]) async throws {
        try await IngestBrokerTests.withDeviceClient(broker, id: device) { client in
            try await client.publish(MQTTMessage(topic: topic, payload: payload))
        }
    }

    /// Runs `body` with a console's subscription to `sanitation/v1/alerts` on `broker`.
    static func withConsoleAlerts<T>(_ broker: MosquittoBroker, _ body: (AsyncStream<MQTTMessage>) async throws -> T)
        async throws -> T
    {
        let console = try MQTTClient(
            configuration: MQTTConfiguration(host: broker.host, port: broker.port, clientID: "console"),
            logger: Fixtures.logger)
        let alerts = try await console.subscribe(Topics.alerts, qos: .atLeastOnce)
        let consoleTask = Task { try await console.run() }
        defer { consoleTask.cancel() }
        try await console.waitUntilConnected(timeout: .seconds(10))
        return try await body(alerts)
    }

    /// An aggregator on a PostgreSQL database of its own for `devices` (configuration adjusted by `adjust`),
    /// running while `body` runs, with the broker, a console's subscription to `sanitation/v1/alerts`, the
    /// database's URL, the aggregator's store and a directory for the psql sessions' output.
    static func withAggregatorOnPostgres(
        devices: [String], adjust: (inout AggregatorConfiguration) -> Void,
        _ body: (MosquittoBroker, AsyncStream<MQTTMessage>, String, any AggregatorStore, TemporaryDirectory)
            async throws -> Void
    ) async throws {
        let directory = try TemporaryDirectory(prefix: "aggregator-connections")
        let broker = try await MosquittoBroker.start()
        let url = try await PostgresServer.makeDatabase()
        defer { PostgresServer.dropDatabase(url: url) }
        var configuration = try IngestBrokerTests.configuration(
            broker: broker, directory: directory.path, devices: devices,
            clientID: "bins-aggregator-\(UUID().uuidString.prefix(6))", storage: "{postgres: \"\(url)\"}")
        adjust(&configuration)
        let store = try await AggregatorRuntime.openStore(configuration.storage, logger: Fixtures.logger)
        try await IngestBrokerTests.withRunningAggregator(configuration, store: store) { _ in
            try await Self.withConsoleAlerts(broker) { alerts in
                try await body(broker, alerts, url, store, directory)
            }
        }
        await store.close()
    }

    /// `bin_full` raised at 80 % with no hold time, so a state above it raises at once.
    static func binFullAtOnce(_ configuration: inout AggregatorConfiguration) {
        configuration.alerts.rules[.binFull] = AlertRule(
            severity: .warning, raise: 0.8, clear: 0.6, minimumDurationSeconds: 0)
    }

    /// pt-1's wet bin at 90 %, now.
    static func fullState() -> StatePayload {
        StatePayload(
            device: "pt-1", ts: .now(in: TimeZone(identifier: "Asia/Shanghai")!), bin: "wet", stream: .wet,
            fill: 0.9, massKg: 45, lidOpen: false, quality: .good, temperatureC: 20)
    }

    /// An aggregator on PostgreSQL whose ledger has pt-1's first event; then a session locks the events
    /// table and pt-2 sends an event, whose commit waits for the lock. `body` runs while it waits, with
    /// the broker, a console's subscription to `sanitation/v1/alerts`, and the database's URL; afterwards
    /// the lock goes and pt-2's event must be booked.
    static func withEventsCommitHeld(
        adjust: (inout AggregatorConfiguration) -> Void,
        _ body: (MosquittoBroker, AsyncStream<MQTTMessage>, String) async throws -> Void
    ) async throws {
        try await Self.withAggregatorOnPostgres(devices: ["pt-1", "pt-2"], adjust: adjust) {
            broker, alerts, url, store, directory in
            try await Self.publish(
                broker, device: "pt-1", topic: Topics.events("pt-1"),
                payload: Fixtures.json(IngestBrokerTests.event("pt-1", index: 0, seq: 1)))
            try await waitUntil(timeout: .seconds(20), "pt-1's event is booked") {
                try await store.bookedEventCount() == 1
            }

            let session = "aggregator-connections-lock"
            let holder = try await PostgresServer.holdLock(
                .table("events"), url: url, applicationName: session, outputPath: directory.file("lock.log"))
            defer { holder.send(SIGKILL) }
            try await Self.publish(
                broker, device: "pt-2", topic: Topics.events("pt-2"),
                payload: Fixtures.json(IngestBrokerTests.event("pt-2", index: 1, seq: 1)))
            try await waitUntil(timeout: .seconds(20), "pt-2's event commit waits on the lock") {
                try await PostgresServer.sessionsWaitingOnLocks(url: url) > 0
            }

            try await body(broker, alerts, url)

            #expect(
                try await PostgresServer.sessionsWaitingOnLocks(url: url) > 0,
                "the commit was still waiting at the end")
            #expect(try await store.bookedEventCount() == 1)
            // The lock goes; the held event is booked, nothing lost.
            try await PostgresServer.terminateSessions(url: url, applicationName: session)
            try await waitUntil(timeout: .seconds(20), "pt-2's event is booked") {
                try await store.bookedEventCount() == 2
            }
        }
    }

    @Test("an alert is delivered while an event commit waits on a lock (alerts leave on their own connection)")
    func alertWhileCommitHeld() async throws {
        try await Self.withEventsCommitHeld { configuration in
            configuration.alerts.evaluateEverySeconds = 1
            configuration.alerts.rules[.deviceOffline] = AlertRule(
                severity: .critical, raise: 2, clear: 1, minimumDurationSeconds: 0)
        } _: { _, alerts, _ in
            // pt-1 has been silent since its event; its silence passes the raise level meanwhile.
            let raised = try await Self.firstAlert(.deviceOffline, subject: "device:pt-1", in: alerts)
            #expect(raised?.state == .raised, "device_offline for pt-1 was not delivered while the commit waited")
        }
    }

    @Test(
        "a state crossing bin_full raises its alert while an event commit waits on a lock (states have their own session)"
    )
    func stateWhileCommitHeld() async throws {
        try await Self.withEventsCommitHeld(adjust: Self.binFullAtOnce) { broker, alerts, _ in
            try await Self.publish(
                broker, device: "pt-1", topic: Topics.state("pt-1", bin: "wet"),
                payload: WireCodec.encode(Self.fullState()))
            let raised = try await Self.firstAlert(.binFull, subject: "bin:pt-1/wet", in: alerts)
            #expect(raised?.state == .raised, "bin_full for pt-1/wet was not raised while the event commit waited")
        }
    }

    @Test(
        "a state crossing bin_full raises its alert while the state's own commit waits on a lock (states are judged as they arrive)"
    )
    func stateJudgedBeforeItsCommit() async throws {
        try await Self.withAggregatorOnPostgres(devices: ["pt-1"], adjust: Self.binFullAtOnce) {
            broker, alerts, url, store, directory in
            let session = "aggregator-state-lock"
            let holder = try await PostgresServer.holdLock(
                .table("bin_states"), url: url, applicationName: session, outputPath: directory.file("lock.log"))
            defer { holder.send(SIGKILL) }
            try await Self.publish(
                broker, device: "pt-1", topic: Topics.state("pt-1", bin: "wet"),
                payload: WireCodec.encode(Self.fullState()))
            try await waitUntil(timeout: .seconds(20), "the state's commit waits on the lock") {
                try await PostgresServer.sessionsWaitingOnLocks(url: url) > 0
            }
            // Judged after its commit, the state would raise nothing until the lock goes.
            let raised = try await Self.firstAlert(.binFull, subject: "bin:pt-1/wet", in: alerts)
            #expect(raised?.state == .raised, "bin_full for pt-1/wet was not raised while the state's commit waited")
            #expect(try await PostgresServer.sessionsWaitingOnLocks(url: url) > 0, "the commit was still waiting")
            #expect(try await store.binStates().isEmpty)
            // The lock goes; the state is booked, nothing lost.
            try await PostgresServer.terminateSessions(url: url, applicationName: session)
            try await waitUntil(timeout: .seconds(20), "the state is booked") {
                try await store.binStates().map(\.state.fill) == [0.9]
            }
        }
    }
}
