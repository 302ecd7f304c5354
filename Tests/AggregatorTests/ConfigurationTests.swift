import Aggregator
import BinProtocol
import BinsTestSupport
import Foundation
import Testing

@Suite("Configuration")
struct ConfigurationTests {
    static let examplePath: String = {
        // Tests/AggregatorTests/ConfigurationTests.swift -> repository root
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return root.appendingPathComponent("config/aggregator.example.yaml").path
    }()

    static let minimal = """
        time_zone: Asia/Shanghai
        instance: test
        broker: {host: 127.0.0.1, port: 1883}
        storage: {sqlite: ledger.sqlite}
        district: {id: d1, name: District One}
        streets:
          - id: s1
            communities:
              - id: c1
                kind: property
                households: 100
                points: [pt-1, pt-2]
        """

    func parse(_ yaml: String) throws -> AggregatorConfiguration {
        try AggregatorConfiguration.parse(yaml: yaml, source: "aggregator.yaml", baseDirectory: "/etc/bins")
    }

    /// The problems parsing `yaml` reports, one a line as `check-config` prints them.
    func error(_ yaml: String) -> String {
        do {
            _ = try parse(yaml)
            return "no error"
        } catch let error as AggregatorError {
            #expect(error.code == .configuration)
            return error.issues.map(\.description).joined(separator: "\n")
        } catch {
            return "unexpected \(error)"
        }
    }

    @Test("the shipped example configuration is valid and means what it says")
    func example() throws {
        let configuration = try AggregatorConfiguration.load(path: Self.examplePath)
        #expect(configuration.timeZone.identifier == "Asia/Shanghai")
        #expect(configuration.broker.host == "127.0.0.1")
        #expect(configuration.broker.port == 1883)
        #expect(configuration.broker.clientID == "bins-aggregator")
        guard case .sqlite(let sqlite) = configuration.storage else {
            Issue.record("expected SQLite storage")
            return
        }
        #expect(sqlite.path == "/var/lib/bins-aggregator/ledger.sqlite")
        #expect(configuration.http.port == 8080)
        #expect(configuration.http.tokens.map(\.name) == ["duty-officer"])
        #expect(configuration.webhooks.first?.minimumSeverity == .warning)
        let registry = Registry(configuration)
        #expect(registry.streets.map(\.id) == ["st-east", "st-west"])
        #expect(registry.point(device: "pt-0002")?.community == "c-garden")
        #expect(registry.point(device: "pt-0101")?.demonstration == true)
        #expect(registry.street("st-east")?.households == 1250)
        #expect(registry.devices(level: .community, id: "c-garden") == ["pt-0001", "pt-0002"])
        // The street's and the district's figures are the sorting points'; the transfer station's own
        // device weighs what they collected (docs/aggregator.md, "Transfer stations").
        #expect(registry.devices(level: .street, id: "st-west") == ["pt-0101"])
        #expect(registry.devices(level: .district, id: nil)?.count == 4)
        #expect(registry.allDevices.count == 5 && registry.station(ofDevice: "ts-0001") != nil)
        #expect(registry.devices(level: .bin, id: "pt-0003/wet") == ["pt-0003"])
        #expect(registry.devices(level: .community, id: "nowhere") == nil)
        #expect(configuration.targets.separationRate?.target == 0.35)
        #expect(
            configuration.targets.coverage.map(\.rule) == [
                .pointsPerStreet(count: 3, demonstrationOnly: true), .communities(fraction: 1),
            ])
        #expect(
            configuration.alerts.rule(.binFull)
                == AlertRule(severity: .warning, raise: 0.8, clear: 0.6, minimumDurationSeconds: 300))
        #expect(configuration.reports.fundingPool == 1_000_000)
    }

    @Test("an invalid device id is named with its file and field")
    func invalidDeviceID() {
        let yaml = Self.minimal.replacingOccurrences(of: "points: [pt-1, pt-2]", with: "points: [pt-1, pt-2, \"pt 7\"]")
        #expect(
            error(yaml)
                == #"aggregator.yaml:12:30: streets[0].communities[0].points[2]: "pt 7" is not a valid device id (1 to 64 letters, digits, '-', '_' or '.')"#
        )
    }

    @Test("unknown settings are errors, not silently ignored")
    func unknownSetting() {
        let yaml = Self.minimal.replacingOccurrences(of: "households: 100", with: "housholds: 100")
        #expect(
            error(yaml)
                == "aggregator.yaml:11:9: streets[0].communities[0].housholds: unknown key (did you mean 'households'?)"
        )
    }

    @Test("a device listed twice, a bad time zone, bad storage and bad thresholds are refused")
    func invalidConfigurations() {
        #expect(
            error(Self.minimal.replacingOccurrences(of: "[pt-1, pt-2]", with: "[pt-1, pt-1]"))
                == #"aggregator.yaml:12:24: streets[0].communities[0].points[1]: device id "pt-1" is listed twice"#)
        #expect(
            error(Self.minimal.replacingOccurrences(of: "Asia/Shanghai", with: "Mars/Olympus"))
                == #"aggregator.yaml:1:12: time_zone: "Mars/Olympus" is not a known time zone (e.g. Asia/Shanghai)"#)
        #expect(
            error(
                Self.minimal.replacingOccurrences(
                    of: "{sqlite: ledger.sqlite}", with: "{sqlite: a.db, postgres: postgres://u@h/db}"))
                == #"aggregator.yaml:4:10: storage: set only one of "sqlite" and "postgres""#)
        #expect(
            error(Self.minimal.replacingOccurrences(of: "{sqlite: ledger.sqlite}", with: "{postgres: mysql://x}"))
                .hasPrefix(
                    "aggregator.yaml:4:21: storage.postgres: not a URL"))
        #expect(
            error(Self.minimal + "\nalerts:\n  bin_full: {raise: 0.5, clear: 0.7}\n")
                == "aggregator.yaml:14:13: alerts.bin_full: clear (0.7) must be below raise (0.5)")
        #expect(
            error(Self.minimal.replacingOccurrences(of: "households: 100", with: "households: many"))
                == #"aggregator.yaml:11:21: streets[0].communities[0].households: expected a whole number, got "many""#)
        #expect(
            error(Self.minimal.replacingOccurrences(of: "kind: property", with: "kind: palace"))
                == #"aggregator.yaml:10:15: streets[0].communities[0].kind: "palace" is not one of property | open | office | institution | transfer_station"#
        )
        #expect(
            error(
                Self.minimal.replacingOccurrences(
                    of: "broker: {host: 127.0.0.1, port: 1883}",
                    with: "broker: {host: h, protocol: v311, shared_group: g}"))
                == "aggregator.yaml:3:49: broker.shared_group: shared subscriptions need protocol: v5")
        #expect(
            error(
                Self.minimal.replacingOccurrences(
                    of: "broker: {host: 127.0.0.1, port: 1883}", with: "broker: {host: h, batch_max_messages: 0}")
            )
            .hasPrefix("aggregator.yaml:3:39: broker.batch_max_messages: "))
        #expect(error("time_zone: [unclosed").hasPrefix("aggregator.yaml:2:1: "))
        #expect(
            error(Self.minimal + "\ntargets:\n  dry_reduction: {target: 0.2, by: 2026-12-31}\n")
                == "aggregator.yaml:14:3: targets: dry_reduction needs baseline.dry_kg_per_day")
    }

    @Test("every problem in the file is reported at once, each with its line and column")
    func everyProblemAtOnce() {
        let yaml =
            Self.minimal
            .replacingOccurrences(
                of: "broker: {host: 127.0.0.1, port: 1883}", with: "broker: {host: 127.0.0.1, port: 99999}"
            )
            .replacingOccurrences(of: "households: 100", with: "housholds: 100")
            .replacingOccurrences(of: "kind: property", with: "kind: palace")
            + "\nalerts:\n  bin_ful: {raise: 0.9}\n"
        #expect(
            error(yaml).split(separator: "\n") == [
                "aggregator.yaml:3:33: broker.port: must be between 1 and 65535, got 99999",
                #"aggregator.yaml:10:15: streets[0].communities[0].kind: "palace" is not one of property | open | office | institution | transfer_station"#,
                "aggregator.yaml:11:9: streets[0].communities[0].housholds: unknown key (did you mean 'households'?)",
                "aggregator.yaml:14:3: alerts.bin_ful: unknown key (did you mean 'bin_full'?)",
            ])
    }

    @Test("settings of the other database are warnings, not errors; an unreadable file names errno")
    func warningsAndUnreadableFiles() throws {
        let configuration = try parse(
            Self.minimal.replacingOccurrences(
                of: "storage: {sqlite: ledger.sqlite}",
                with: "storage: {postgres: \"postgres://bins@db/ledger\", synchronous: full}"))
        #expect(
            configuration.warnings.map(\.description) == [
                "aggregator.yaml:4:63: warning: storage.synchronous: applies to SQLite only; ignored with postgres"
            ])
        do {
            _ = try AggregatorConfiguration.load(path: "/nonexistent/aggregator.yaml")
            Issue.record("loaded a missing file")
        } catch {
            #expect(error.code == .configuration)
            #expect(error.message == "/nonexistent/aggregator.yaml: open failed: No such file or directory (errno 2)")
        }
    }

    @Test("secrets never appear in descriptions or errors")
    func secrets() throws {
        let yaml =
            Self.minimal
            .replacingOccurrences(
                of: "broker: {host: 127.0.0.1, port: 1883}", with: "broker: {host: 127.0.0.1, password: hunter2-secret}"
            )
            .replacingOccurrences(
                of: "storage: {sqlite: ledger.sqlite}",
                with: "storage: {postgres: \"postgres://bins:pg-secret@db:5433/ledger\"}")
            + "\nhttp:\n  tokens:\n    - {name: ops, token: short}\n"
        let message = error(yaml)
        #expect(message == "aggregator.yaml:15:7: http.tokens[0]: the token is shorter than 16 characters")
        let valid = try parse(yaml.replacingOccurrences(of: "token: short", with: "token: a-long-enough-token-value"))
        #expect("\(valid.broker)".contains("hunter2") == false)
        #expect(valid.broker.password?.revealed == "hunter2-secret")
        guard case .postgres(let postgres) = valid.storage else {
            Issue.record("expected PostgreSQL storage")
            return
        }
        #expect(postgres.password?.revealed == "pg-secret")
        #expect(postgres.port == 5433)
        #expect(postgres.redactedURL == "postgres://bins@db:5433/ledger")
        #expect("\(postgres)".contains("pg-secret") == false)
        #expect("\(valid.http.tokens)".contains("a-long-enough") == false)
    }

    @Test("relative paths resolve against the configuration's directory; URLs set host, port and TLS")
    func pathsAndURLs() throws {
        let configuration = try parse(
            Self.minimal.replacingOccurrences(
                of: "broker: {host: 127.0.0.1, port: 1883}", with: "broker: {url: \"mqtts://broker.example\"}"))
        guard case .sqlite(let sqlite) = configuration.storage else {
            Issue.record("expected SQLite storage")
            return
        }
        #expect(sqlite.path == "/etc/bins/ledger.sqlite")
        #expect(sqlite.synchronous == .full)
        #expect(configuration.broker.host == "broker.example")
        #expect(configuration.broker.port == 8883)
        #expect(configuration.broker.tls?.caFile == "/etc/ssl/certs/ca-certificates.crt")
        #expect(configuration.http.host == "127.0.0.1")
        #expect(configuration.liveness.staleAfterSeconds == 900)
    }

    @Test("secret files are read and trimmed; a missing one is an error naming the field")
    func secretFiles() throws {
        let directory = try TemporaryDirectory(prefix: "aggregator-tests")
        try directory.write("broker.password", "from-file-secret\n")
        let yaml = Self.minimal.replacingOccurrences(
            of: "broker: {host: 127.0.0.1, port: 1883}",
            with: "broker: {host: 127.0.0.1, password_file: broker.password}")
        let configuration = try AggregatorConfiguration.parse(
            yaml: yaml, source: "aggregator.yaml", baseDirectory: directory.path)
        #expect(configuration.broker.password?.revealed == "from-file-secret")
        #expect(throws: AggregatorError.self) {
            try AggregatorConfiguration.parse(
                yaml: yaml.replacingOccurrences(of: "broker.password", with: "missing.password"),
                source: "aggregator.yaml",
                baseDirectory: directory.path)
        }
    }

    @Test("console settings: point coordinates, read tokens, the read switch and map tiles")
    func consoleSettings() throws {
        let located = Self.minimal.replacingOccurrences(
            of: "points: [pt-1, pt-2]", with: "points: [{device: pt-1, lat: 31.2304, lon: 121.4737}, pt-2]")
        let configuration = try parse(located)
        let point = try #require(Registry(configuration).point(device: "pt-1"))
        #expect(point.location == GeoLocation(latitude: 31.2304, longitude: 121.4737))
        #expect(Registry(configuration).point(device: "pt-2")?.location == nil)
        // Reads are open by default, as before.
        #expect(configuration.http.requireTokenForReads == false && configuration.http.console.enabled)

        let readers = try parse(
            Self.minimal + """

                http:
                  tokens: [{name: duty, token: 0123456789abcdef0}]
                  read_tokens: [{name: inspector, token: fedcba98765432100}]
                  console: {map_tiles: "http://tiles.district.lan:8081/{z}/{x}/{y}.png", map_attribution: District GIS, session_hours: 8}
                """)
        #expect(readers.http.readTokens.map(\.name) == ["inspector"])
        #expect(readers.http.requireTokenForReads, "read tokens make reads need a token unless said otherwise")
        #expect(readers.http.console.mapTilesOrigin == "http://tiles.district.lan:8081")
        #expect(readers.http.console.sessionHours == 8)
        #expect(!readers.summary.contains("fedcba98765432100") && readers.summary.contains("reads need a token"))

        let switchOnly = try parse(
            Self.minimal + "\nhttp: {tokens: [{name: duty, token: 0123456789abcdef0}], require_token_for_reads: true}")
        #expect(switchOnly.http.requireTokenForReads && switchOnly.http.readTokens.isEmpty)

        let problems = error(
            Self.minimal.replacingOccurrences(
                of: "points: [pt-1, pt-2]", with: "points: [{device: pt-1, lat: 95, lon: 121}, {device: pt-2, lat: 31}]"
            )
                + """

                http:
                  require_token_for_reads: true
                  console: {map_tiles: "ftp://tiles/{z}.png"}
                """)
        #expect(problems.contains("points[0].lat"), "\(problems)")
        #expect(problems.contains("lat and lon go together"), "\(problems)")
        #expect(problems.contains("reads need a token but no tokens or read_tokens are configured"), "\(problems)")
        #expect(problems.contains("map_tiles"), "\(problems)")
        let repeated = error(
            Self.minimal
                + "\nhttp: {tokens: [{name: duty, token: 0123456789abcdef0}], read_tokens: [{name: duty, token: 0123456789abcdef1}]}"
        )
        #expect(repeated.contains("token name \"duty\" repeats"), "\(repeated)")
    }
}

@Suite("Calendar")
struct CalendarTests {
    @Test("local dates parse, print and know their weekday")
    func dates() throws {
        let date = try #require(LocalDate("2026-06-01"))
        #expect(date.description == "2026-06-01")
        #expect(date.weekday == 1)  // a Monday
        #expect(LocalDate("2026-02-29") == nil)
        #expect(LocalDate("2024-02-29") != nil)
        #expect(LocalDate("2026-6-1") == nil)
        #expect(date.adding(days: 30).description == "2026-07-01")
    }

    @Test("periods: ISO weeks, months, quarters, years")
    func periods() throws {
        let date = try #require(LocalDate("2026-06-03"))
        #expect(LedgerPeriod.week.range(containing: date) == LocalDate("2026-06-01")!...LocalDate("2026-06-07")!)
        #expect(LedgerPeriod.week.label(containing: date) == "2026-W23")
        #expect(LedgerPeriod.month.range(containing: date) == LocalDate("2026-06-01")!...LocalDate("2026-06-30")!)
        #expect(LedgerPeriod.quarter.range(containing: date) == LocalDate("2026-04-01")!...LocalDate("2026-06-30")!)
        #expect(LedgerPeriod.quarter.label(containing: date) == "2026-Q2")
        #expect(LedgerPeriod.year.label(containing: date) == "2026")
        // 2027-01-01 is a Friday: it belongs to ISO week 53 of 2026.
        #expect(LedgerPeriod.week.label(containing: LocalDate("2027-01-01")!) == "2026-W53")
        #expect(LedgerPeriod.month.range(containing: LocalDate("2028-02-10")!).upperBound == LocalDate("2028-02-29")!)
    }

    @Test("instants map to local days in the registry's zone")
    func localDays() throws {
        let calendar = LedgerCalendar(timeZone: try #require(TimeZone(identifier: "Asia/Shanghai")))
        let lateUTC = try #require(WireTimestamp(rfc3339: "2026-05-31T16:00:00.000Z"))  // 00:00 in Shanghai
        #expect(calendar.localDate(of: lateUTC).description == "2026-06-01")
        #expect(calendar.localDate(of: lateUTC.adding(milliseconds: -1)).description == "2026-05-31")
        #expect(calendar.startOfDay(LocalDate("2026-06-01")!) == lateUTC.millisecondsSinceEpoch)
        let newYork = LedgerCalendar(timeZone: try #require(TimeZone(identifier: "America/New_York")))
        // The day daylight saving starts has 23 hours; its start is still local midnight.
        let start = newYork.startOfDay(LocalDate("2026-03-08")!)
        #expect(newYork.timestamp(millisecondsSinceEpoch: start).rfc3339 == "2026-03-08T00:00:00.000-05:00")
        #expect(newYork.startOfDay(LocalDate("2026-03-09")!) - start == 23 * 3_600_000)
    }
}
