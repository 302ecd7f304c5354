import Aggregator
import AggregatorHTTP
import ArgumentParser
import BinProtocol
import Foundation
import GRDB
import Logging
import Metrics

/// How long the console takes to render each page on the server, for a district of `--bins` bins with
/// `--days` days of ledger: prints the median, 95th percentile and worst time per page. The target is
/// under 200 ms per page (docs/console.md). A benchmark, not a test: it prints figures and judges nothing.
///
/// The district is made up in a temporary SQLite database: `--bins` ÷ 4 points (wet, dry, recyclable,
/// hazardous each) in streets of 50 points and communities of 10, every bin with a ledger row per stream
/// and day, a bin state and a birth per point, the last 60 events of every point, and open alerts on one
/// bin in twenty. Pages are rendered in-process the way a GET renders them, without the network.
@main
struct ConsoleBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bins-console-bench",
        abstract: "Server-side render times of the console's pages for a large district.")

    @Option(help: "Bins in the district (4 per point).")
    var bins = 2000

    @Option(help: "Days of ledger, ending today.")
    var days = 365

    @Option(help: "Renders per page.")
    var repeats = 15

    @Option(help: "Keep the database in this directory instead of a temporary one.")
    var directory: String?

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .warning
            return handler
        }
        let logger = Logger(label: "bins-console-bench")
        let home = directory ?? NSTemporaryDirectory() + "bins-console-bench-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        defer { if directory == nil { try? FileManager.default.removeItem(atPath: home) } }

        let points = max(1, bins / 4)
        let district = District(points: points)
        let configuration = try AggregatorConfiguration.parse(
            yaml: district.yaml(database: "\(home)/ledger.sqlite"), source: "bench.yaml")
        let store = try await AggregatorRuntime.openStore(configuration.storage, logger: logger)
        let runtime = try AggregatorRuntime(
            configuration: configuration, store: store, metricsFactory: NOOPMetricsHandler.instance, logger: logger)
        let nowMs = Int64(Date().timeIntervalSince1970 * 1000)
        let today = runtime.calendar.today(nowMilliseconds: nowMs)

        print("building a district of \(points) points, \(points * 4) bins and \(days) days of ledger in \(home) ...")
        let started = Date()
        try district.fillLedger(path: "\(home)/ledger.sqlite", today: today, days: days)
        try await district.fillDevices(runtime: runtime, nowMs: nowMs)
        print(
            String(
                format: "  built in %.1f s (%d ledger rows, %d events)", Date().timeIntervalSince(started),
                points * 4 * days, points * 60))

        let console = Console(runtime: runtime, logger: logger, clock: { nowMs })
        let yearAgo = today.adding(days: Int64(1 - days)).description
        let pages: [(String, [String: String])] = [
            ("/", [:]),
            ("/bins", [:]),
            ("/bins", ["show": "full", "sort": "fill"]),
            ("/bins", ["view": "map"]),
            ("/alerts", [:]),
            ("/alerts", ["state": "all"]),
            ("/targets", [:]),
            ("/ledger", [:]),
            ("/ledger", ["from": yearAgo, "period": "day"]),
            ("/ledger", ["from": yearAgo, "period": "month"]),
            ("/ledger", ["entity": "street:st-01", "from": yearAgo, "period": "week"]),
            ("/ledger.csv", ["from": yearAgo, "period": "day"]),
            ("/reports", [:]),
            ("/points/pt-00001", [:]),
        ]
        print("")
        // Wall time depends on what else the machine runs; the process's CPU time (this process does nothing
        // else meanwhile) is the work itself, so both are printed.
        print("page                                           wall median   p95     max   CPU median    size")
        var worstWall = 0.0
        var worstCPU = 0.0
        for (path, query) in pages {
            var times: [Double] = []
            var cpu: [Double] = []
            var size = 0
            for _ in 0..<repeats {
                let clock = ContinuousClock()
                let cpuStart = Self.processCPUMilliseconds()
                let start = clock.now
                let html = try await console.renderPage(path: path, query: query)
                let elapsed = clock.now - start
                cpu.append(Self.processCPUMilliseconds() - cpuStart)
                times.append(Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15)
                size = html.utf8.count
            }
            times.sort()
            cpu.sort()
            let median = times[times.count / 2]
            let p95 = times[min(times.count - 1, Int((Double(times.count) * 0.95).rounded(.up)) - 1)]
            worstWall = max(worstWall, median)
            worstCPU = max(worstCPU, cpu[cpu.count / 2])
            let name =
                path
                + (query.isEmpty
                    ? ""
                    : "?" + query.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "&"))
            print(
                name.padding(toLength: 46, withPad: " ", startingAt: 0)
                    + String(
                        format: " %8.1f ms %6.1f %7.1f %9.1f ms %6.0f KB", median, p95, times.last ?? 0,
                        cpu[cpu.count / 2],
                        Double(size) / 1024))
        }
        print("")
        print(
            String(
                format: "slowest median: %.1f ms wall, %.1f ms CPU (target: under 200 ms per page)", worstWall, worstCPU
            ))
        await store.close()
    }
}

extension ConsoleBench {
    /// CPU time this process has used, user and system, in milliseconds.
    static func processCPUMilliseconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now)
        return Double(now.tv_sec) * 1000 + Double(now.tv_nsec) / 1e6
    }
}

/// A made-up district with streets of 50 points and communities of 10, every point with four bins.
struct District {
    let points: Int

    func device(_ index: Int) -> String { String(format: "pt-%05d", index + 1) }

    func yaml(database: String) -> String {
        var lines = [
            "time_zone: Asia/Shanghai", "instance: bench", "broker: {host: 127.0.0.1, port: 1, client_id: bench}",
            "storage: {sqlite: \(database), synchronous: normal}", "district: {id: bench, name: Benchmark District}",
            "streets:",
        ]
        let streets = (points + 49) / 50
        for street in 0..<streets {
            lines += [
                String(format: "  - id: st-%02d", street + 1), String(format: "    name: Street %d", street + 1),
                "    communities:",
            ]
            let first = street * 50
            for community in stride(from: first, to: min(first + 50, points), by: 10) {
                lines += [
                    String(format: "      - id: c-%04d", community / 10 + 1),
                    String(format: "        name: Community %d", community / 10 + 1),
                    "        kind: property", "        households: 800", "        points:",
                ]
                for index in community..<min(community + 10, points) {
                    let latitude = 31.20 + Double(street) * 0.01 + Double(index % 50) * 0.0002
                    let longitude = 121.44 + Double(index % 50) * 0.0008
                    lines.append(
                        "          - {device: \(device(index)), name: Point \(index + 1), lat: \(String(format: "%.5f", latitude)), lon: \(String(format: "%.5f", longitude))}"
                    )
                }
            }
        }
        lines += [
            "targets:", "  start: 2026-01-01", "  baseline: {dry_kg_per_day: \(points * 20)}",
            "  separation_rate: {target: 0.35, by: 2027-12-31}", "  recovery_rate: {target: 0.4, by: 2027-12-31}",
            "  dry_reduction: {target: 0.15, by: 2027-12-31}", "  contamination_rate: {ceiling: 0.1, by: 2027-12-31}",
            "  coverage:", "    - {id: all, name: Every community, communities: 1.0, by: 2027-06-30}",
        ]
        return lines.joined(separator: "\n") + "\n"
    }

    /// A ledger row per bin and day, written straight into the database in one transaction (booking a
    /// year of events one by one would take longer than the benchmark).
    func fillLedger(path: String, today: LocalDate, days: Int) throws {
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in
            let statement = try db.makeStatement(
                sql: """
                    INSERT INTO ledger (device, bin, day, stream, deposited_kg, collected_kg, deposits, collections, contaminated_kg,
                                        unknown_kg, deposited_l) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """)
            var random = SystemRandomNumberGenerator()
            for index in 0..<points {
                for stream in WasteStream.allCases {
                    for offset in 0..<days {
                        let day = today.adding(days: -Int64(offset)).dayNumber
                        let base: Double = stream == .wet ? 38 : stream == .dry ? 22 : stream == .recyclable ? 9 : 0.4
                        let kg = base * Double.random(in: 0.6...1.4, using: &random)
                        let deposits = max(1, Int(kg / 1.3))
                        try statement.execute(arguments: [
                            device(index), stream.rawValue, day, stream.rawValue, kg, offset % 2 == 0 ? kg * 1.9 : 0,
                            deposits,
                            offset % 2 == 0 ? 1 : 0, kg * 0.04, kg * 0.06, kg * 5,
                        ])
                    }
                }
            }
            // Booking keeps the district's per-day totals with the ledger; rows written here directly are
            // summed into them the way the migration fills them for a ledger booked before they existed.
            try db.execute(
                sql: """
                    DELETE FROM ledger_days;
                    INSERT INTO ledger_days (day, stream, deposited_kg, collected_kg, deposits, collections, contaminated_kg,
                                             unknown_kg, deposited_l)
                    SELECT day, stream, SUM(deposited_kg), SUM(collected_kg), SUM(deposits), SUM(collections), SUM(contaminated_kg),
                           SUM(unknown_kg), SUM(deposited_l)
                    FROM ledger GROUP BY day, stream
                    """)
        }
    }

    /// Births, statuses, bin states, the last 60 events of every point, health, and open alerts on one
    /// bin in twenty, through the store as ingest would write them.
    func fillDevices(runtime: AggregatorRuntime, nowMs: Int64) async throws {
        let store = runtime.store
        let zone = runtime.configuration.timeZone
        func at(_ ms: Int64) -> WireTimestamp {
            WireTimestamp(millisecondsSinceEpoch: ms, utcOffsetSeconds: Int32(zone.secondsFromGMT()))
        }
        for index in 0..<points {
            let id = device(index)
            try await store.recordStatus(
                StatusPayload(device: id, ts: at(nowMs - 3_600_000), online: index % 40 != 7, session: 3),
                receivedAtMs: nowMs - 60_000)
            try await store.recordBirth(
                BirthPayload(
                    device: id, ts: at(nowMs - 3_600_000), session: 3, version: "binsd 1.4.2",
                    configHash: "9f2c4e1a7b3d5f60", board: "rpi4",
                    bins: WasteStream.allCases.map { BinDescriptor(id: $0.rawValue, stream: $0, capacityL: 240) }),
                receivedAtMs: nowMs - 60_000)
            for (number, stream) in WasteStream.allCases.enumerated() {
                let fill = Double((index * 7 + number * 13) % 100) / 100
                try await store.recordState(
                    StatePayload(
                        device: id, ts: at(nowMs - 120_000), bin: stream.rawValue, stream: stream, fill: fill,
                        massKg: fill * 80,
                        lidOpen: false, quality: .good, temperatureC: 21.5),
                    receivedAtMs: nowMs - 120_000)
                if (index * 4 + number) % 20 == 0 {
                    let alert = AlertRecord(
                        id: UUID().uuidString.lowercased(), kind: .binFull, severity: .warning,
                        subject: "bin:\(id)/\(stream.rawValue)", value: 0.86,
                        threshold: 0.8, message: "bin:\(id)/\(stream.rawValue) (\(stream.rawValue)) is 86% full",
                        raisedAtMs: nowMs - 900_000)
                    _ = try await store.raiseAlert(alert, deliveries: [])
                }
            }
            for seq in Int64(1)...60 {
                let stream = WasteStream.allCases[Int(seq) % 4]
                let event = EventPayload(
                    device: id, ts: at(nowMs - (61 - seq) * 600_000), seq: seq,
                    body: seq % 15 == 0
                        ? .collection(Collection(bin: stream.rawValue, stream: stream, massKg: 42, fillBefore: 0.8))
                        : .deposit(
                            Deposit(
                                bin: stream.rawValue, stream: stream, massKg: 1.2, volumeL: 3, densityKgL: 0.4,
                                observed: .wet, confidence: 0.8,
                                contaminated: seq % 11 == 0, quality: .good)))
                _ = try await store.book(
                    EventBooking(
                        event: event, day: runtime.calendar.localDate(of: event.ts),
                        receivedAtMs: event.ts.millisecondsSinceEpoch,
                        payload: try WireCodec.encodeString(event)))
            }
            let health = HealthPayload(
                device: id, ts: at(nowMs - 30_000), session: 3, uptimeS: 86_400 * 3, samplesTotal: 1_000_000,
                sampleErrorsTotal: 2,
                hx711RetriesTotal: 40, publishFailuresTotal: 0, reconnectsTotal: 1, outboxDepth: 0, droppedTotal: 0,
                activeFaults: [])
            runtime.live.committed(
                topic: Topics.health(id), payload: try WireCodec.encode(health), type: .health,
                receivedAtMs: nowMs - 30_000)
        }
    }
}
