import Aggregator
import BinProtocol
import BinsTestSupport
import Foundation
import Logging
import MQTT
import Metrics
import Synchronization

/// The benchmark itself: one backlog, two consumers.
///
/// 1. Two persistent sessions are registered with the broker (a plain subscriber's and the aggregator's)
///    and go offline, so the broker queues for both.
/// 2. `devices` device clients publish `events` QoS 1 events (deposits and collections, `seq` 1, 2, ...
///    per device), each publish waiting for its PUBACK.
/// 3. The plain subscriber reconnects and drains its copy, doing nothing per message: the broker's and
///    the MQTT client's ceiling.
/// 4. The aggregator reconnects and drains its copy: validate, dedupe, book, commit, per message.
/// 5. The ledger is checked against what was published.
/// 6. With `--python`, a third session, registered in step 1, is drained by `scripts/ingest-baseline.py`
///    (paho-mqtt and sqlite3, one transaction per batch, acknowledged after the commit): the ordinary
///    implementation the aggregator is compared with.
struct IngestBenchmark {
    struct Options {
        var events: Int
        var devices: Int
        var synchronous: SQLiteSettings.Synchronous
        var postgresURL: String?
        var broker: String?
        /// The Python baseline: an interpreter with paho-mqtt and the consumer script.
        var python: (interpreter: String, script: String)?
        /// Aggregator instances splitting the events through a shared subscription (PostgreSQL only).
        var instances: Int = 1
    }

    let options: Options
    let logger: Logger

    func run() async throws {
        // Configured as the project ships it for the aggregator's side (queues sized for hours, not the
        // 1000-message default), without persistence so the broker's own fsyncs stay out of the figures.
        let endpoint = try await BrokerEndpoint.resolve(
            options.broker,
            orStart: MosquittoBroker.Configuration(
                persistence: false, maxQueuedMessages: 0, extraLines: ["max_queued_bytes 0", "set_tcp_nodelay true"]))
        let (host, port) = (endpoint.host, endpoint.port)
        let directory = NSTemporaryDirectory() + "bins-ingest-bench-ledger-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }

        let devices = (0..<options.devices).map { String(format: "bench-%04d", $0) }
        let configurations = try (0..<options.instances).map {
            try aggregatorConfiguration(host: host, port: port, devices: devices, directory: directory, instance: $0)
        }
        let configuration = configurations[0]
        let plainID = "bench-plain-\(getpid())"
        BenchOutput.say(
            "bins-ingest-bench: \(options.events) events from \(options.devices) devices via \(host):\(port)")
        BenchOutput.say("  ledger: \(BenchOutput.describe(configuration.storage))")
        if options.instances > 1 {
            BenchOutput.say("  \(options.instances) aggregator instances sharing the events (shared subscription)")
        }

        // 1. Register the sessions.
        try await withPlainSubscriber(host: host, port: port, id: plainID, expecting: 0) { _ in }
        let baselineID = "bench-python-\(getpid())"
        if options.python != nil {
            _ = try await runBaseline(host: host, port: port, id: baselineID, directory: directory, expect: nil)
        }
        let store = try await AggregatorRuntime.openStore(configuration.storage, logger: logger)
        var otherStores: [any AggregatorStore] = []
        do {
            for other in configurations.dropFirst() {
                otherStores.append(try await AggregatorRuntime.openStore(other.storage, logger: logger))
            }
            let stores = [store] + otherStores
            // A database that holds events already would turn the run into a count of duplicates.
            let alreadyBooked = try await store.bookedEventCount()
            guard alreadyBooked == 0 else {
                throw BenchError(
                    "the ledger already holds \(alreadyBooked) events: give the benchmark a fresh database")
            }
            for (other, otherStore) in zip(configurations, stores) {
                try await withAggregator(other, store: otherStore) { _ in }
            }

            BenchOutput.progress("sessions registered")
            // 2. Publish the backlog.
            let (plan, expected) = Self.plan(devices: devices, total: options.events)
            let publishStart = ContinuousClock.now
            try await publish(plan, host: host, port: port)
            let publishSeconds = BenchOutput.seconds(ContinuousClock.now - publishStart)
            BenchOutput.say(
                String(
                    format: "  published: %d events in %.2f s (%.0f events/s, QoS 1, each awaiting its PUBACK)",
                    options.events, publishSeconds, Double(options.events) / publishSeconds))

            BenchOutput.progress("backlog published")
            // 3. The plain subscriber drains.
            let plainSeconds = try await withPlainSubscriber(
                host: host, port: port, id: plainID, expecting: options.events
            ) { drained in
                try await drained()
            }
            // Forget the plain session so it stops queueing.
            try await withPlainSubscriber(host: host, port: port, id: plainID, expecting: 0, clean: true) { _ in }

            BenchOutput.progress("plain subscriber drained")
            // 4. The aggregator drains into the ledger.
            let ingestSeconds = try await withAggregators(Array(zip(configurations, stores))) { runtimes in
                let start = ContinuousClock.now
                while true {
                    let snapshots = runtimes.map(\.ingestMetrics.snapshot)
                    if snapshots.map({ $0.totalMessages + $0.duplicates }).reduce(0, +) >= options.events { break }
                    if let failing = snapshots.first(where: { $0.totalRejected > 0 || $0.storageFailures > 0 }) {
                        throw BenchError(
                            "ingest rejected \(failing.totalRejected) and failed to store \(failing.storageFailures) events"
                        )
                    }
                    if start.duration(to: .now) > .seconds(900) {
                        throw BenchError("the aggregator did not drain the backlog within 900 s")
                    }
                    try await Task.sleep(for: .milliseconds(5))
                }
                if runtimes.count > 1 {
                    let shares = runtimes.map { "\($0.ingestMetrics.snapshot.totalMessages)" }.joined(separator: " + ")
                    BenchOutput.say("  events booked per instance: \(shares)")
                }
                return BenchOutput.seconds(ContinuousClock.now - start)
            }

            // For reference: the same events through validation and the ledger alone, no broker.
            let alone = try await processorAlone(plan: plan, configuration: configuration, directory: directory)

            // 5. Check the ledger.
            let booked = try await store.bookedEventCount()
            var sums = LedgerFigures.zero
            for row in try await store.ledger(
                devices: nil, from: LocalDate("2026-01-01")!, to: LocalDate("2026-12-31")!)
            {
                sums += row.figures
            }
            let ledgerMatches = booked == options.events && sums == expected
            let plainRate = Double(options.events) / plainSeconds
            let ingestRate = Double(options.events) / ingestSeconds
            BenchOutput.say(String(format: "  plain subscriber drain: %.2f s, %.0f events/s", plainSeconds, plainRate))
            BenchOutput.say(
                String(
                    format: "  aggregator ingest:      %.2f s, %.0f events/s into the ledger", ingestSeconds, ingestRate
                ))
            BenchOutput.say(String(format: "  ratio ingest / drain:   %.3f", ingestRate / plainRate))
            if alone.validation.isFinite {
                let events = Double(options.events)
                BenchOutput.say(
                    String(
                        format:
                            "  (validation + ledger commit alone, no broker: %.0f events/s; validation alone %.0f, commit alone %.0f)",
                        events / (alone.validation + alone.commit), events / alone.validation, events / alone.commit))
            }
            BenchOutput.say(
                "  ledger check: \(booked) events booked, totals \(ledgerMatches ? "equal" : "DIFFER FROM") what was published"
            )
            if options.python != nil {
                BenchOutput.progress("python baseline draining")
                let baselineSeconds = try await runBaseline(
                    host: host, port: port, id: baselineID, directory: directory, expect: options.events)
                let baselineRate = Double(options.events) / baselineSeconds
                BenchOutput.say(
                    String(
                        format:
                            "  python baseline (paho-mqtt + sqlite3, a transaction per batch): %.2f s, %.0f events/s; aggregator / python: %.2f",
                        baselineSeconds, baselineRate, ingestRate / baselineRate))
            }
            await store.close()
            for other in otherStores { await other.close() }
            await endpoint.stop()
            guard ledgerMatches else { throw BenchError("the ledger does not match what was published") }
        } catch {
            await store.close()
            for other in otherStores { await other.close() }
            await endpoint.stop()
            throw error
        }
    }

    /// Runs the Python baseline consumer: registering its session (`expect` nil) or draining `expect`
    /// events; returns the seconds it reports from its connection to its last commit.
    func runBaseline(host: String, port: Int, id: String, directory: String, expect: Int?) async throws -> Double {
        guard let python = options.python else { return .nan }
        var arguments = [
            python.script, "--host", host, "--port", "\(port)", "--client-id", id, "--db",
            directory + "/baseline.sqlite",
        ]
        arguments += expect.map { ["--expect", "\($0)"] } ?? ["--register-only"]
        let process = try ChildProcess(
            python.interpreter, arguments,
            outputPath: directory + "/baseline-\(expect == nil ? "register" : "drain").log")
        guard try await process.waitForExit(timeout: .seconds(900)) == .exited(0) else {
            throw BenchError("the Python baseline failed: \(process.output.suffix(2000))")
        }
        guard expect != nil else { return 0 }
        guard let field = process.output.split(separator: " ").first(where: { $0.hasPrefix("seconds=") }),
            let seconds = Double(field.dropFirst("seconds=".count).trimmingCharacters(in: .whitespacesAndNewlines))
        else { throw BenchError("the Python baseline printed no time: \(process.output.suffix(2000))") }
        return seconds
    }

    func aggregatorConfiguration(host: String, port: Int, devices: [String], directory: String, instance: Int = 0)
        throws
        -> AggregatorConfiguration
    {
        let group = options.instances > 1 ? ", shared_group: bench" : ""
        let storage =
            if let url = options.postgresURL {
                "{postgres: \"\(url)\"}"
            } else {
                "{sqlite: \(directory)/ledger.sqlite, synchronous: \(options.synchronous.rawValue)}"
            }
        let points = devices.joined(separator: ", ")
        let yaml = """
            time_zone: Asia/Shanghai
            instance: ingest-bench-\(instance)
            broker: {host: "\(host)", port: \(port), client_id: bench-aggregator-\(getpid())-\(instance), protocol: v5, reconnect_min_ms: 50\(group)}
            storage: \(storage)
            district: {id: bench, name: Bench}
            alerts:
              evaluate_every_s: 3600
            streets:
              - id: s1
                communities:
                  - {id: c1, kind: property, households: 1000, points: [\(points)]}
            """
        do {
            return try AggregatorConfiguration.parse(yaml: yaml, source: "bench.yaml", baseDirectory: directory)
        } catch {
            throw BenchError(error.message)
        }
    }

    /// Every device's events in order, and the ledger totals they must add up to. Masses are multiples of
    /// 1/8 kg, so sums are exact.
    static func plan(devices: [String], total: Int) -> (events: [String: [[UInt8]]], expected: LedgerFigures) {
        var events: [String: [[UInt8]]] = [:]
        var expected = LedgerFigures.zero
        let start = WireTimestamp(rfc3339: "2026-06-01T06:00:00.000+08:00")!
        for index in 0..<total {
            let device = devices[index % devices.count]
            let seq = Int64(index / devices.count + 1)
            let ts = start.adding(milliseconds: Int64(index) * 1000)
            let mass = Double(index % 40 + 1) / 8
            let body: EventBody =
                index % 10 == 9
                ? .collection(Collection(bin: "wet", stream: .wet, massKg: mass * 4, fillBefore: 0.7))
                : .deposit(
                    Deposit(
                        bin: index % 2 == 0 ? "wet" : "dry", stream: index % 2 == 0 ? .wet : .dry, massKg: mass,
                        volumeL: mass * 3,
                        densityKgL: 1.0 / 3, observed: .unknown, confidence: 0.5, contaminated: false, quality: .good))
            let event = EventPayload(device: device, ts: ts, seq: seq, body: body)
            expected += LedgerFigures(event: body)!
            events[device, default: []].append((try? WireCodec.encode(event)) ?? [])
        }
        return (events, expected)
    }

    func publish(_ plan: [String: [[UInt8]]], host: String, port: Int) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (device, payloads) in plan {
                group.addTask {
                    let client = try MQTTClient(
                        configuration: MQTTConfiguration(
                            host: host, port: port, clientID: device, maxInflightMessages: 1), logger: logger)
                    let running = Task { try await client.run() }
                    defer { running.cancel() }
                    try await client.waitUntilConnected(timeout: .seconds(30))
                    for payload in payloads {
                        try await client.publish(
                            MQTTMessage(topic: Topics.events(device), payload: payload, qos: .atLeastOnce))
                    }
                    await client.disconnect()
                }
            }
            try await group.waitForAll()
        }
    }

    /// Seconds every event of `plan` takes through validation and through the commit into a fresh ledger of
    /// the same kind, on one thread, in batches of the configured size, without the broker: the two halves
    /// of ingest's pipeline (the network thread validates, the commit queue commits), each without the
    /// other's load. SQLite only: a second PostgreSQL database is not the benchmark's to create (NaN then).
    func processorAlone(plan: [String: [[UInt8]]], configuration: AggregatorConfiguration, directory: String)
        async throws -> (validation: Double, commit: Double)
    {
        var storage = configuration.storage
        if case .sqlite(var sqlite) = storage {
            sqlite.path = directory + "/alone.sqlite"
            storage = .sqlite(sqlite)
        } else {
            return (.nan, .nan)
        }
        let store = try await AggregatorRuntime.openStore(storage, logger: logger)
        let processor = IngestProcessor(
            registry: Registry(configuration), calendar: LedgerCalendar(timeZone: configuration.timeZone), store: store,
            metrics: IngestMetrics(factory: NOOPMetricsHandler.instance), logger: logger)
        let messages = plan.flatMap { device, payloads in payloads.map { (topic: Topics.events(device), payload: $0) } }
        let batchSize = configuration.broker.batchMaxMessages
        // On a thread of its own, like libmosquitto's, not on the concurrency pool.
        let seconds = await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                var validation = Duration.zero
                var commit = Duration.zero
                for start in stride(from: 0, to: messages.count, by: batchSize) {
                    let slice = Array(messages[start..<min(start + batchSize, messages.count)])
                    let validated = ContinuousClock.now
                    let batch = processor.prepare(slice, receivedAtMs: 0)
                    let committed = ContinuousClock.now
                    _ = processor.commitBlocking(batch)
                    validation += validated.duration(to: committed)
                    commit += committed.duration(to: .now)
                }
                continuation.resume(returning: (BenchOutput.seconds(validation), BenchOutput.seconds(commit)))
            }
        }
        await store.close()
        return seconds
    }

    /// Connects a plain subscriber with a persistent session (or a clean one, to erase it) and, when
    /// `expecting` messages, hands `body` a function that waits until they all arrived and returns the
    /// seconds since the connection was up.
    @discardableResult
    func withPlainSubscriber<T>(
        host: String, port: Int, id: String, expecting: Int, clean: Bool = false,
        _ body: (@Sendable () async throws -> Double) async throws -> T
    ) async throws -> T {
        let client = try MQTTClient(
            configuration: MQTTConfiguration(
                host: host, port: port, clientID: id, cleanSession: clean, protocolVersion: .v5),
            logger: logger)
        let counter = CountingHandler(target: expecting)
        try await client.subscribe([Topics.Filter.events], qos: .atLeastOnce, handler: counter)
        let running = Task { try await client.run() }
        defer { running.cancel() }
        try await client.waitUntilConnected(timeout: .seconds(30))
        let connected = ContinuousClock.now
        let result = try await body {
            while counter.finishedAt.withLock({ $0 }) == nil { try await Task.sleep(for: .milliseconds(2)) }
            return BenchOutput.seconds(counter.finishedAt.withLock { $0! } - connected)
        }
        await client.disconnect()
        return result
    }

    /// Runs the aggregator's services around `body`, then stops them.
    @discardableResult
    func withAggregator<T: Sendable>(
        _ configuration: AggregatorConfiguration, store: any AggregatorStore,
        _ body: (AggregatorRuntime) async throws -> T
    ) async throws -> T {
        let runtime = try AggregatorRuntime(
            configuration: configuration, store: store, metricsFactory: NOOPMetricsHandler.instance, logger: logger)
        return try await runtime.whileRunning(body)
    }

    /// Runs every aggregator of `instances` at once until `body` returns (each started once the previous
    /// one is connected).
    func withAggregators<T: Sendable>(
        _ instances: [(AggregatorConfiguration, any AggregatorStore)], running: [AggregatorRuntime] = [],
        _ body: ([AggregatorRuntime]) async throws -> T
    ) async throws -> T {
        guard let (configuration, store) = instances.first else { return try await body(running) }
        return try await withAggregator(configuration, store: store) { runtime in
            try await withAggregators(Array(instances.dropFirst()), running: running + [runtime], body)
        }
    }

}

/// Counts messages on the network thread and notes when the last expected one arrived.
final class CountingHandler: MQTTMessageHandler {
    let target: Int
    let count = Atomic<Int>(0)
    let finishedAt = Mutex<ContinuousClock.Instant?>(nil)

    init(target: Int) {
        self.target = target
    }

    func handle(_ message: MQTTMessage) {
        let (_, now) = count.add(1, ordering: .relaxed)
        if now == target { finishedAt.withLock { $0 = ContinuousClock.now } }
    }
}
