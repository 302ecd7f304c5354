import Aggregator
import BinProtocol
import BinsTestSupport
import Foundation
import Logging
import MQTT
import Synchronization

/// City scale: a fleet of sorting points, each its own device account on the shipped broker's TLS
/// listener (per-device password, the shipped ACL), against `bins-aggregator` run as the program an
/// operator runs: one instance on SQLite, or several on one PostgreSQL sharing a subscription.
///
/// 1. The shipped broker starts with one account per point; the aggregator processes start and connect.
/// 2. Every point connects and publishes its status, birth and bins' states (retained).
/// 3. For `seconds`, each point deposits at `depositsPerBinHour × speed` per bin: an event and the
///    bin's new state; a bin at 80 % is collected next. A third of the way in, a street of
///    `burstPoints` points that was offline comes back with `burstEvents` events each, all at once.
/// 4. The run ends when every event is receipted. Printed: events booked per second, commit latency
///    (send → the receipt that covers it), alert latency (the state that crossed bin_full → the raise on
///    `sanitation/v1/alerts`), CPU and memory of every process, and the ledger against what was sent.
struct FleetBenchmark {
    struct Options {
        var points: Int
        var binsPerPoint: Int
        var speed: Double
        var seconds: Int
        var depositsPerBinHour: Double
        var burstPoints: Int
        var burstEvents: Int
        var postgresURL: String?
        var instances: Int
        var receiptIntervalMs: Int
        /// A directory to copy the aggregators' logs (and a SQLite ledger) to, for a look afterwards.
        var keepLogs: String?
    }

    let options: Options
    let logger: Logger

    func run() async throws {
        raiseDescriptorLimit()
        let directory = try TemporaryDirectory(prefix: "bins-fleet")
        let authority = try await CertificateAuthority.generate(in: directory)
        let points = (0..<options.points).map { index in
            FleetPoint(
                id: String(format: "fp-%05d", index), password: Self.randomSecret(), binsPerPoint: options.binsPerPoint,
                seed: UInt64(index + 1))
        }
        let aggregatorPassword = Self.randomSecret()
        BenchOutput.progress("writing \(points.count) device accounts and starting the shipped broker")
        let broker = try await MosquittoBroker.startShipped(
            users: .init(aggregatorPassword: aggregatorPassword, devices: points.map { ($0.id, $0.password) }),
            certificates: authority,
            in: directory)
        defer { if let pid = broker.pid { kill(pid, SIGKILL) } }
        guard let tlsPort = broker.tlsPort else { throw BenchError("the shipped broker has no TLS listener") }
        let offered = Double(options.points * options.binsPerPoint) * options.depositsPerBinHour * options.speed / 3600
        BenchOutput.say(
            "bins-ingest-bench --fleet: \(options.points) points × \(options.binsPerPoint) bins = \(options.points * options.binsPerPoint) bins, "
                + "each its own device account on the shipped broker's TLS listener (127.0.0.1:\(tlsPort))")
        BenchOutput.say(
            String(
                format:
                    "  traffic: %.0f deposits per bin-hour × speed %.0f = %.0f events/s offered (plus a state each), for %d s; "
                    + "burst: %d points × %d events at once", options.depositsPerBinHour, options.speed, offered,
                options.seconds,
                options.burstPoints, options.burstEvents))

        // The aggregator(s), as the installed program.
        let configurations = try (0..<options.instances).map {
            try writeConfiguration(
                instance: $0, brokerPort: broker.port, password: aggregatorPassword, points: points, in: directory)
        }
        BenchOutput.say(
            "  ledger: \(BenchOutput.describe(configurations[0].configuration.storage)), \(options.instances) aggregator instance(s)"
        )
        let store = try await AggregatorRuntime.openStore(configurations[0].configuration.storage, logger: logger)
        guard try await store.bookedEventCount() == 0 else {
            throw BenchError("the ledger already holds events: give the fleet a fresh database")
        }

        let monitor = AlertMonitor()
        let monitorClient = try MQTTClient(
            configuration: MQTTConfiguration(
                host: broker.host, port: broker.port, clientID: "bins-aggregator-fleet-monitor",
                username: "bins-aggregator",
                password: aggregatorPassword, protocolVersion: .v5),
            logger: logger)
        try await monitorClient.subscribe([Topics.alerts], qos: .atLeastOnce, handler: monitor)
        let monitorRun = Task { try await monitorClient.run() }
        defer { monitorRun.cancel() }
        try await monitorClient.waitUntilConnected(timeout: .seconds(30))

        let aggregatorPath = try TestExecutables.path("bins-aggregator")
        var aggregators: [ChildProcess] = []
        defer { for aggregator in aggregators { aggregator.send(SIGKILL) } }
        for (index, written) in configurations.enumerated() {
            let process = try ChildProcess(
                aggregatorPath, ["serve", "--config", written.path, "--log-level", "info"],
                outputPath: directory.file("aggregator-\(index).log"))
            aggregators.append(process)
            try await process.waitForOutput(containing: "mqtt.connected", timeout: .seconds(60))
        }

        // The fleet comes online; the street that will burst stays away.
        let burstCount = min(options.burstPoints, points.count)
        let burstPoints = Array(points.prefix(burstCount))
        let livePoints = Array(points.dropFirst(burstCount))
        let tls = MQTTTLSConfiguration(caFile: authority.caFile)
        let connections = FleetConnections()
        defer { connections.cancelAll() }
        @Sendable func connect(_ point: FleetPoint) async throws {
            let client = try MQTTClient(
                configuration: MQTTConfiguration(
                    host: broker.host, port: tlsPort, clientID: point.id, username: point.id, password: point.password,
                    keepAliveSeconds: 60, tls: tls,
                    will: MQTTMessage(
                        topic: Topics.status(point.id),
                        payload: try WireCodec.encode(
                            StatusPayload(device: point.id, ts: .now(), online: false, session: 1)), retain: true)),
                logger: logger)
            try await client.subscribe([Topics.receipt(point.id)], qos: .atLeastOnce, handler: point)
            connections.add(client, for: point.id)
            try await client.waitUntilConnected(timeout: .seconds(120))
            for message in try point.onlineMessages(now: .now()) { try await client.publish(message) }
        }
        let connectStart = ContinuousClock.now
        try await forEach(livePoints, concurrency: 64) { try await connect($0) }
        BenchOutput.say(
            String(
                format: "  %d points connected over TLS and published status, birth and states in %.1f s",
                livePoints.count,
                BenchOutput.seconds(connectStart.duration(to: .now))))

        // Traffic.
        let meter = ProcessMeter(
            processes: [("broker", broker.pid)]
                + aggregators.enumerated().map { ("aggregator-\($0.offset)", Optional($0.element.pid)) }
                + [("fleet generator (this process)", getpid())],
            includePostgres: options.postgresURL != nil)
        let postgresActivity: PostgresActivity? =
            if let url = options.postgresURL { try await PostgresActivity(url: url, in: directory) } else { nil }
        let start = ContinuousClock.now
        let end = start.advanced(by: .seconds(options.seconds))
        let burstAt = start.advanced(by: .seconds(Double(options.seconds) / 3))
        let ratePerPoint = Double(options.binsPerPoint) * options.depositsPerBinHour * options.speed / 3600
        BenchOutput.progress("traffic for \(options.seconds) s")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for point in livePoints {
                guard let client = connections.client(point.id) else { continue }
                group.addTask { try await Self.deposit(point, client: client, ratePerPoint: ratePerPoint, until: end) }
            }
            group.addTask {
                try await Task.sleep(until: burstAt)
                BenchOutput.progress("a street of \(burstPoints.count) points comes back with its backlog")
                try await forEach(burstPoints, concurrency: 64) { point in
                    try await connect(point)
                    guard let client = connections.client(point.id) else { return }
                    // The backlog: events recorded while away, sent in order, each as soon as the broker
                    // acknowledged the one before.
                    let backlogStart = WireTimestamp.now().adding(milliseconds: -3_600_000)
                    for index in 0..<options.burstEvents {
                        let (event, _) = try point.nextStep(
                            ts: backlogStart.adding(milliseconds: Int64(index) * 1000), now: .now, burst: true)
                        try await client.publish(event)
                    }
                }
                connections.burstDone.withLock { $0 = .now }
                try await Self.deposit(
                    burstPoints, clients: connections.clients, ratePerPoint: ratePerPoint, until: end)
            }
            try await group.waitForAll()
        }
        let published = points.reduce(0) { $0 + Int($1.lastSeq) }
        BenchOutput.progress("traffic over: \(published) events sent; waiting for every receipt")
        let drainDeadline = ContinuousClock.now.advanced(by: .seconds(600))
        while points.contains(where: { $0.through < $0.lastSeq }) {
            if ContinuousClock.now > drainDeadline {
                let missing = points.filter { $0.through < $0.lastSeq }.count
                throw BenchError("\(missing) points still wait for receipts 600 s after the traffic ended")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        let lastReceipt = points.compactMap { $0.state.withLock { $0.lastReceiptAt } }.max() ?? .now
        let elapsed = BenchOutput.seconds(start.duration(to: lastReceipt))
        let usage = meter.finish() + [try await postgresActivity?.finish()].compactMap { $0 }

        // Alerts: each crossing is matched with the first raise of its subject that arrived after it.
        let alertDeadline = ContinuousClock.now.advanced(by: .seconds(30))
        var alertLatencies: [Duration] = []
        var unmatched = 0
        while true {
            alertLatencies = []
            unmatched = 0
            let raised = monitor.raised.withLock { $0 }
            for point in points {
                var used: [String: Int] = [:]
                for crossing in point.state.withLock({ $0.crossings }) {
                    let arrivals = raised[crossing.subject] ?? []
                    let from = used[crossing.subject] ?? 0
                    if let index = arrivals[from...].firstIndex(where: { $0 >= crossing.at }) {
                        alertLatencies.append(crossing.at.duration(to: arrivals[index]))
                        used[crossing.subject] = index + 1
                    } else {
                        unmatched += 1
                    }
                }
            }
            if unmatched == 0 || ContinuousClock.now > alertDeadline { break }
            try await Task.sleep(for: .milliseconds(50))
        }

        // The ledger against what was sent.
        let booked = try await store.bookedEventCount()
        var sums = LedgerFigures.zero
        for row in try await store.ledger(devices: nil, from: LocalDate("2000-01-01")!, to: LocalDate("2099-12-31")!) {
            sums += row.figures
        }
        let expected = points.reduce(LedgerFigures.zero) { $0 + $1.state.withLock { $0.expected } }
        let latencies = points.flatMap { $0.state.withLock { $0.latencies } }
        let burstLatencies = points.flatMap { $0.state.withLock { $0.burstLatencies } }
        let burstEvents = burstPoints.count * options.burstEvents

        BenchOutput.say(
            String(
                format:
                    "  booked: %d events in %.1f s from the first send to the last receipt (%.0f events/s; offered %.0f)",
                booked, elapsed, Double(booked) / elapsed, offered))
        BenchOutput.say(
            "  commit latency, send → receipt (receipt_interval_ms \(options.receiptIntervalMs)): \(Self.summary(latencies))"
        )
        if burstEvents > 0, let done = connections.burstDone.withLock({ $0 }) {
            let burstStart = burstAt
            BenchOutput.say(
                String(
                    format: "  burst: %d events from %d points handed over in %.2f s; commit latency %@",
                    burstEvents, burstPoints.count, BenchOutput.seconds(burstStart.duration(to: done)),
                    Self.summary(burstLatencies)))
        }
        BenchOutput.say(
            "  alert latency, crossing state sent → bin_full raise on \(Topics.alerts): \(Self.summary(alertLatencies))"
                + " (\(alertLatencies.count) raised, \(unmatched) crossings without a raise)")
        let stages = monitor.stages.withLock { $0 }
        BenchOutput.say(
            "    of which ingest and the engine's decision: \(Self.summary(stages.decided)); delivery: \(Self.summary(stages.delivered))"
        )
        for line in usage { BenchOutput.say("  \(line)") }
        let ledgerMatches = booked == published && sums == expected
        BenchOutput.say(
            "  ledger check: \(booked) events booked of \(published) sent, totals \(ledgerMatches ? "equal" : "DIFFER FROM") what was sent"
        )
        for aggregator in aggregators { aggregator.send(SIGTERM) }
        for aggregator in aggregators { _ = try? await aggregator.waitForExit(timeout: .seconds(30)) }
        if let keep = options.keepLogs {
            for index in aggregators.indices {
                try? FileManager.default.copyItem(
                    atPath: directory.file("aggregator-\(index).log"), toPath: "\(keep)/aggregator-\(index).log")
            }
            try? FileManager.default.copyItem(atPath: directory.file("ledger.sqlite"), toPath: "\(keep)/ledger.sqlite")
        }
        await store.close()
        guard ledgerMatches else { throw BenchError("the ledger does not match what was sent") }
    }

    /// A point's deposits at Poisson times until `end`, each event followed by the bin's state.
    static func deposit(
        _ point: FleetPoint, client: MQTTClient, ratePerPoint: Double, until end: ContinuousClock.Instant
    ) async throws {
        var random = SystemRandomNumberGenerator()
        var next = ContinuousClock.now
        while true {
            next = next.advanced(
                by: .seconds(-log(Double.random(in: Double.ulpOfOne..<1, using: &random)) / ratePerPoint))
            guard next < end else { return }
            try await Task.sleep(until: next)
            let (event, state) = try point.nextStep(ts: .now(), now: .now, burst: false)
            try await client.publish(event)
            if let state { try await client.publish(state) }
        }
    }

    static func deposit(
        _ points: [FleetPoint], clients: [String: MQTTClient], ratePerPoint: Double, until end: ContinuousClock.Instant
    ) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for point in points {
                guard let client = clients[point.id] else { continue }
                group.addTask { try await deposit(point, client: client, ratePerPoint: ratePerPoint, until: end) }
            }
            try await group.waitForAll()
        }
    }

    /// The aggregator's configuration for one instance: the fleet's registry (50 points to a community, 10
    /// communities to a street), bin_full without a hold time so its latency is the system's, receipts at
    /// `receiptIntervalMs`.
    func writeConfiguration(
        instance: Int, brokerPort: Int, password: String, points: [FleetPoint], in directory: TemporaryDirectory
    ) throws
        -> (path: String, configuration: AggregatorConfiguration)
    {
        let passwordFile = try directory.write("aggregator.password", password + "\n")
        chmod(passwordFile, 0o600)
        let storage =
            if let url = options.postgresURL { "{postgres: \"\(url)\"}" } else {
                "{sqlite: \(directory.file("ledger.sqlite")), synchronous: normal}"
            }
        let group = options.instances > 1 ? "\n  shared_group: fleet" : ""
        var yaml = """
            time_zone: Asia/Shanghai
            instance: fleet-\(instance)
            broker:
              url: mqtt://127.0.0.1:\(brokerPort)
              client_id: bins-aggregator-fleet-\(instance)
              username: bins-aggregator
              password_file: aggregator.password
              protocol: v5
              receipt_interval_ms: \(options.receiptIntervalMs)\(group)
            storage: \(storage)
            http:
              listen: 127.0.0.1:\(try freeLoopbackPort())
            alerts:
              evaluate_every_s: 30
              bin_full: {raise: \(FleetPoint.fullFill), clear: 0.6, for_s: 0}
            district: {id: fleet, name: Fleet}
            streets:

            """
        let communities = stride(from: 0, to: points.count, by: 50).map {
            Array(points[$0..<min($0 + 50, points.count)])
        }
        for (index, community) in communities.enumerated() {
            if index % 10 == 0 { yaml += "  - id: street-\(index / 10)\n    communities:\n" }
            yaml +=
                "      - {id: community-\(index), kind: property, households: 1000, points: [\(community.map(\.id).joined(separator: ", "))]}\n"
        }
        let path = try directory.write("aggregator-\(instance).yaml", yaml)
        do {
            return (path, try AggregatorConfiguration.parse(yaml: yaml, source: path, baseDirectory: directory.path))
        } catch {
            throw BenchError(error.message)
        }
    }

    /// Runs `body` for every element, at most `concurrency` at a time.
    func forEach<T: Sendable>(_ elements: [T], concurrency: Int, _ body: @escaping @Sendable (T) async throws -> Void)
        async throws
    {
        try await withThrowingTaskGroup(of: Void.self) { group in
            var iterator = elements.makeIterator()
            for _ in 0..<concurrency {
                guard let element = iterator.next() else { break }
                group.addTask { try await body(element) }
            }
            while try await group.next() != nil {
                guard let element = iterator.next() else { continue }
                group.addTask { try await body(element) }
            }
        }
    }

    /// Two sockets per point (the client's and the broker's end) and an eventfd each: far above the
    /// usual soft limit of 1024 descriptors. The broker, started after this, inherits it.
    func raiseDescriptorLimit() {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        limit.rlim_cur = limit.rlim_max
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }

    static func randomSecret() -> String {
        var random = SystemRandomNumberGenerator()
        return (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &random)) }.joined()
    }

    static func summary(_ durations: [Duration]) -> String {
        guard !durations.isEmpty else { return "no samples" }
        let sorted = durations.map { BenchOutput.seconds($0) * 1000 }.sorted()
        func percentile(_ p: Double) -> Double {
            sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)]
        }
        return String(
            format: "p50 %.0f ms, p99 %.0f ms, max %.0f ms (%d samples)", percentile(0.5), percentile(0.99),
            sorted.last!, sorted.count)
    }

}

/// The fleet's clients, shared by the tasks that connect and drive them.
final class FleetConnections: Sendable {
    private let state = Mutex<(clients: [String: MQTTClient], runs: [Task<Void, any Error>])>(([:], []))
    /// When the bursting street had handed over its whole backlog.
    let burstDone = Mutex<ContinuousClock.Instant?>(nil)

    func add(_ client: MQTTClient, for id: String) {
        let run = Task { try await client.run() }
        state.withLock {
            $0.clients[id] = client
            $0.runs.append(run)
        }
    }

    func client(_ id: String) -> MQTTClient? { state.withLock { $0.clients[id] } }
    var clients: [String: MQTTClient] { state.withLock { $0.clients } }

    func cancelAll() {
        for run in state.withLock({ $0.runs }) { run.cancel() }
    }
}
