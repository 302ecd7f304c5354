import BinProtocol
import BinsTestSupport
import Foundation
import Synchronization

/// The district's registry as the aggregator's configuration lists it: streets → communities → points.
struct DistrictRegistry: Sendable {
    struct Community: Sendable {
        var id: String
        var kind: String
        var households: Int
        var points: [String]
    }

    struct Street: Sendable {
        var id: String
        var communities: [Community]
        /// The transfer station the street's points deliver to.
        var deliversTo: String? = nil
    }

    /// A point's name and coordinates, for tests that show points to a person (the console).
    struct PointDetail: Sendable {
        var name: String
        var latitude: Double
        var longitude: Double
    }

    var districtID = "d-test"
    var districtName = "Test District"
    var streets: [Street]
    var details: [String: PointDetail] = [:]

    /// One street with one community holding `points`.
    static func single(_ points: [String]) -> DistrictRegistry {
        DistrictRegistry(streets: [
            Street(
                id: "st-main", communities: [Community(id: "c-main", kind: "property", households: 500, points: points)]
            )
        ])
    }

    /// Display names of streets and communities by id (the id when absent).
    var names: [String: String] = [:]

    var devices: [String] { streets.flatMap { $0.communities.flatMap(\.points) } }

    /// A YAML double-quoted scalar (JSON's string syntax is valid YAML).
    static func quoted(_ text: String) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: [text])) ?? Data("[\"\"]".utf8)
        return String(decoding: data, as: UTF8.self).dropFirst().dropLast().description
    }

    var yaml: String {
        var lines = ["district: {id: \(districtID), name: \(Self.quoted(districtName))}", "streets:"]
        for street in streets {
            lines += ["  - id: \(street.id)", "    name: \(Self.quoted(names[street.id] ?? street.id))"]
            if let station = street.deliversTo { lines.append("    delivers_to: \(station)") }
            lines.append("    communities:")
            for community in street.communities {
                let points = community.points.map { device in
                    guard let detail = details[device] else { return device }
                    return
                        "{device: \(device), name: \(Self.quoted(detail.name)), lat: \(detail.latitude), lon: \(detail.longitude)}"
                }
                lines += [
                    "      - id: \(community.id)", "        name: \(Self.quoted(names[community.id] ?? community.id))",
                    "        kind: \(community.kind)", "        households: \(community.households)",
                    "        points: [\(points.joined(separator: ", "))]",
                ]
            }
        }
        return lines.joined(separator: "\n")
    }
}

/// Alert rules of the test configuration: those of config/aggregator.example.yaml, except that tests
/// judging liveness use a raise threshold of seconds instead of 15 minutes, and evaluate every second.
struct AlertRules: Sendable {
    var offlineRaiseS = 900.0
    var offlineClearS = 120.0
    /// More rules, indented under `alerts:`.
    var extra = ""

    var yaml: String {
        """
        alerts:
          evaluate_every_s: 1
          contamination_min_kg: 5
          bin_full:         {raise: 0.8,  clear: 0.6, for_s: 300, severity: warning}
          bin_overflow:     {raise: 0.98, clear: 0.9, for_s: 60,  severity: critical}
          device_offline:   {raise: \(offlineRaiseS), clear: \(offlineClearS), for_s: 0, severity: critical}
          sensor_fault:     {raise: 1,    clear: 0,   for_s: 0,   severity: warning}
          contamination:    {raise: 0.2,  clear: 0.1, for_s: 0,   severity: warning}
        \(extra)
        """
    }
}

/// `bins-aggregator serve` as a child process on a SQLite ledger, with the HTTP API on a loopback port.
/// It can be SIGKILLed and started again on the same database and broker session, as a crash and a
/// systemd restart would.
final class AggregatorProcess: Sendable {
    let configPath: String
    let databasePath: String
    let logPath: String
    let httpPort: Int
    private let executable: String
    private let child = Mutex<ChildProcess?>(nil)

    /// `http` adds settings under `http:` (tokens, say); `extra` adds top-level settings (targets).
    init(
        district: DistrictBroker, registry: DistrictRegistry, alerts: AlertRules = AlertRules(), http: [String] = [],
        extra: String = "",
        in directory: TemporaryDirectory
    ) throws {
        executable = try TestExecutables.path("bins-aggregator")
        let home = try directory.directory("aggregator")
        httpPort = try freeLoopbackPort()
        databasePath = "\(home)/ledger.sqlite"
        logPath = "\(home)/aggregator.log"
        let yaml = """
            # Written by Tests/SystemTests for one test district.
            time_zone: Asia/Shanghai
            instance: system-test
            broker:
              url: mqtt://\(district.broker.host):\(district.broker.port)
              client_id: bins-aggregator
              username: bins-aggregator
              password_file: \(district.aggregatorPasswordFile)
              protocol: v5
              reconnect_min_ms: 200
              reconnect_max_ms: 1000
            storage:
              sqlite: ledger.sqlite
              synchronous: full
            http:
              listen: 127.0.0.1:\(httpPort)
            \(http.map { "  " + $0 }.joined(separator: "\n"))
            liveness:
              stale_after_s: 900
            \(registry.yaml)
            \(alerts.yaml)
            \(extra)

            """
        configPath = try directory.write("aggregator/aggregator.yaml", yaml)
    }

    deinit {
        child.withLock { $0?.send(SIGKILL) }
    }

    var baseURL: String { "http://127.0.0.1:\(httpPort)" }

    /// Everything the aggregator logged, over all its lives.
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    var isRunning: Bool { child.withLock { $0?.isRunning ?? false } }

    /// Starts `serve` and waits until `/healthz` says `ok`: database open and broker connected with
    /// every subscription acknowledged.
    func start() async throws {
        let process = try ChildProcess(executable, ["serve", "--config", configPath], outputPath: logPath)
        child.withLock { $0 = process }
        try await waitFor("bins-aggregator /healthz to answer status ok", timeout: .seconds(60)) {
            guard process.isRunning else {
                throw SystemTestError(
                    "bins-aggregator exited (\(process.termination.map { "\($0)" } ?? "?")):\n\(log.suffix(3000))")
            }
            let health = try await HTTPClient.getJSON(Health.self, "\(baseURL)/healthz")
            return (health.status == "ok", "status \(health.status), broker \(health.broker)")
        }
    }

    /// SIGKILL: no goodbye, no flush beyond what each committed transaction already made durable.
    func kill() async throws {
        guard let process = child.withLock({ $0 }) else { return }
        try await process.killAndWait()
    }

    /// Cleanup at a test's end: SIGTERM and a bounded wait, then SIGKILL. Tests that assert a clean
    /// shutdown do not use this.
    func stop() async {
        guard let process = child.withLock({ $0 }), process.isRunning else { return }
        process.send(SIGTERM)
        if (try? await process.waitForExit(timeout: .seconds(20))) == nil {
            print("note: bins-aggregator (pid \(process.pid)) ignored SIGTERM for 20 s; killed with SIGKILL")
            try? await process.killAndWait()
        }
    }

    // MARK: The HTTP API

    struct Health: Decodable {
        var status: String
        var broker: String
    }

    func ledger(level: String, id: String, from: String, to: String, period: String = "day") async throws -> Ledger {
        let query =
            "level=\(level)&id=\(id.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(.init(charactersIn: "-_."))) ?? id)"
        return try await HTTPClient.getJSON(
            Ledger.self, "\(baseURL)/api/v1/ledger?\(query)&from=\(from)&to=\(to)&period=\(period)")
    }

    /// Every alert, newest first (`state=all`).
    func alerts() async throws -> [AlertPayload] {
        struct Body: Decodable { var alerts: [AlertPayload] }
        return try await HTTPClient.getJSON(
            Body.self, "\(baseURL)/api/v1/alerts?state=all&limit=1000", snakeCase: false
        ).alerts
    }

    struct BinView: Decodable {
        var device: String
        var bin: String
        var stream: String
        var deviceOnline: Bool
    }

    func bins() async throws -> [BinView] {
        struct Body: Decodable { var bins: [BinView] }
        return try await HTTPClient.getJSON(Body.self, "\(baseURL)/api/v1/bins").bins
    }

    /// One series of `/metrics` (Prometheus text), e.g. `bins_ingest_duplicates_total`.
    func metric(_ series: String) async throws -> Double? {
        let text = try await HTTPClient.get("\(baseURL)/metrics").text
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1).trimmingCharacters(in: .whitespaces))
        }
        return nil
    }

    // MARK: The SQLite file

    /// Per device, the events the ledger has booked (the `events` table, whose primary key is
    /// `(device, seq)`), read with the `sqlite3` command.
    func bookedEvents(in directory: TemporaryDirectory) async throws -> [String: BookedEvents] {
        let rows = try await SQLiteQuery.rows(
            BookedEvents.self, database: databasePath,
            "SELECT device, count(*) AS count, min(seq) AS first_seq, max(seq) AS last_seq FROM events GROUP BY device",
            in: directory)
        return Dictionary(uniqueKeysWithValues: rows.map { ($0.device, $0) })
    }

    /// Every booked event in `(device, seq)` order, its payload without the `historical` flag (which says
    /// how it travelled, not what happened).
    func eventRecords(in directory: TemporaryDirectory) async throws -> [EventRecord] {
        try await SQLiteQuery.rows(
            EventRecord.self, database: databasePath,
            "SELECT device, seq, type, bin, json_remove(payload, '$.historical') AS body FROM events ORDER BY device, seq",
            in: directory)
    }

    /// Waits until the ledger has booked `lastSeq[device]` events of every device, seqs 1 to that.
    func waitUntilBooked(_ lastSeq: [String: Int], in directory: TemporaryDirectory, timeout: Duration = .seconds(120))
        async throws
    {
        try await waitFor("the ledger to book events 1...N of \(lastSeq.sorted { $0.key < $1.key })", timeout: timeout)
        {
            let booked = try await bookedEvents(in: directory)
            let done = lastSeq.allSatisfy { device, last in booked[device]?.count ?? 0 >= last }
            return (done, "\(booked.values.sorted { $0.device < $1.device }.map(\.summary))")
        }
    }
}

struct BookedEvents: Decodable, Sendable {
    var device: String
    var count: Int
    var firstSeq: Int
    var lastSeq: Int

    var summary: String { "\(device): \(count) events, seq \(firstSeq)...\(lastSeq)" }
}

struct EventRecord: Decodable, Sendable, Equatable {
    var device: String
    var seq: Int
    var type: String
    var bin: String?
    var body: String
}
