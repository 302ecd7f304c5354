import BinProtocol
import Foundation
import MQTT
import YAMLConfig

/// Everything `bins-aggregator` reads from its YAML file (documented in config/aggregator.example.yaml):
/// where the broker and the database are, who may call the API, where alerts go, the district's
/// hierarchy of streets, communities and points, its targets, and how alerts and reports behave.
///
/// Secrets (broker password, database password, API tokens, webhook secrets) are held as ``Secret`` so
/// they never print.
public struct AggregatorConfiguration: Sendable {
    /// File name used in messages (`aggregator.yaml: ...`).
    public var source: String
    public var timeZone: TimeZone
    /// Names this instance in `sanitation/v1/aggregator/status` and in logs.
    public var instance: String
    public var broker: BrokerSettings
    public var storage: StorageSettings
    public var http: HTTPSettings
    public var webhooks: [WebhookSettings]
    public var liveness: LivenessSettings
    public var district: DistrictSettings
    public var streets: [StreetSettings]
    public var targets: TargetSettings
    public var alerts: AlertSettings
    public var reports: ReportSettings
    /// How transfer stations' mass balances are judged (`balance`).
    public var balance = BalanceSettings()
    /// How bins' fill is forecast (`forecast`).
    public var forecast = ForecastSettings()
    /// The daily collection plan (`plan`).
    public var plan = PlanSettings()
    /// Settings that work but are probably not what was meant (e.g. a PostgreSQL setting with SQLite),
    /// for `check-config` and the start-up log.
    public var warnings: [ConfigIssue] = []

    public init(
        source: String, timeZone: TimeZone, instance: String, broker: BrokerSettings, storage: StorageSettings,
        http: HTTPSettings, webhooks: [WebhookSettings], liveness: LivenessSettings, district: DistrictSettings,
        streets: [StreetSettings], targets: TargetSettings, alerts: AlertSettings, reports: ReportSettings
    ) {
        self.source = source
        self.timeZone = timeZone
        self.instance = instance
        self.broker = broker
        self.storage = storage
        self.http = http
        self.webhooks = webhooks
        self.liveness = liveness
        self.district = district
        self.streets = streets
        self.targets = targets
        self.alerts = alerts
        self.reports = reports
    }
}

public struct BrokerSettings: Sendable {
    public enum ProtocolVersion: String, Sendable, Codable, CaseIterable { case v311, v5 }

    /// The same TLS settings binsd's broker connection has.
    public typealias TLS = MQTTTLSConfiguration

    public var host: String
    public var port: Int
    /// Fixed, so the broker keeps the aggregator's persistent session (and its queued messages) while
    /// the aggregator is down.
    public var clientID: String
    public var username: String?
    public var password: Secret?
    public var tls: TLS?
    public var protocolVersion: ProtocolVersion
    /// With a group, events arrive through `$share/{group}/bins/v1/+/events` so several instances split
    /// them (MQTT v5 only).
    public var sharedGroup: String?
    public var keepAliveSeconds: Int
    public var reconnectDelayMinMilliseconds: Int
    public var reconnectDelayMaxMilliseconds: Int
    /// Publish end-to-end receipts to the devices (`receipts`, default true). Off makes this aggregator
    /// look like one from before receipts: devices fall back to the broker's PUBACK.
    public var receipts = true
    /// At most one receipt per device per this interval (`receipt_interval_ms`).
    public var receiptIntervalMilliseconds = 500
    /// Ingest commits what arrives in one transaction per batch: at most `batch_max_messages` messages,
    /// read for at most `batch_max_delay_ms` after the first; a batch also ends when the broker has sent
    /// nothing more, so a lone message is committed at once. No message of a batch is acknowledged to
    /// the broker before the batch is committed (docs/mqtt.md).
    public var batchMaxMessages = 500
    public var batchMaxDelayMilliseconds = 5

    /// The client ids the shipped broker configuration reserves to aggregator accounts: device accounts
    /// are given their user name as client id, and add-device refuses names with this prefix.
    public static let reservedClientIDPrefix = "bins-aggregator"

    /// `host:port` for messages.
    public var endpoint: String { "\(host):\(port)" }
}

public enum StorageSettings: Sendable {
    case sqlite(SQLiteSettings)
    case postgres(PostgresSettings)
}

public struct SQLiteSettings: Sendable, Equatable {
    /// `full` makes every commit durable across power loss (one fsync per event); `normal` (WAL) is
    /// durable across a crash of the aggregator and much faster.
    public enum Synchronous: String, Sendable, Codable, CaseIterable { case normal, full }
    public var path: String
    public var synchronous: Synchronous

    public init(path: String, synchronous: Synchronous = .full) {
        self.path = path
        self.synchronous = synchronous
    }
}

public struct PostgresSettings: Sendable {
    public enum TLSMode: String, Sendable { case disable, prefer, require }
    public var host: String
    public var port: Int
    public var username: String
    public var password: Secret?
    public var database: String
    public var tls: TLSMode
    /// Connections in the pool.
    public var maxConnections: Int

    public init(
        host: String, port: Int = 5432, username: String, password: Secret?, database: String, tls: TLSMode = .disable,
        maxConnections: Int = 8
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.tls = tls
        self.maxConnections = maxConnections
    }

    /// `postgres://user@host:port/database`, without the password.
    public var redactedURL: String { "postgres://\(username)@\(host):\(port)/\(database)" }

    /// Parses `postgres://user[:password]@host[:port]/database[?sslmode=disable|prefer|require]`.
    public static func parse(url text: String) -> PostgresSettings? {
        guard let components = URLComponents(string: text),
            components.scheme == "postgres" || components.scheme == "postgresql",
            let host = components.host, !host.isEmpty, let user = components.user, !user.isEmpty
        else { return nil }
        let database = String(components.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty else { return nil }
        var tls = TLSMode.disable
        for item in components.queryItems ?? [] where item.name == "sslmode" {
            switch item.value {
            case "disable": tls = .disable
            case "prefer", "allow": tls = .prefer
            case "require", "verify-ca", "verify-full": tls = .require
            default: return nil
            }
        }
        return PostgresSettings(
            host: host, port: components.port ?? 5432, username: user.removingPercentEncoding ?? user,
            password: components.password.map { Secret($0.removingPercentEncoding ?? $0) }, database: database, tls: tls
        )
    }
}

public struct HTTPSettings: Sendable {
    public struct Token: Sendable {
        /// Recorded as `acknowledged_by`.
        public var name: String
        public var token: Secret
    }
    public var host: String
    public var port: Int
    /// Operators' tokens: they may acknowledge alerts (API and console) and read everything.
    public var tokens: [Token]
    /// Tokens that may read the console and the read API but acknowledge nothing.
    public var readTokens: [Token] = []
    /// Tokens that may only book loads at transfer stations (`POST /api/v1/loads`): a weighbridge's
    /// terminal, which has no business reading the district's figures or acknowledging alerts.
    public var loadTokens: [Token] = []
    /// Whether every read (console pages, the read API, `/metrics`) needs a token or a console session.
    /// Off by default (the listening address defaults to loopback); on by default once `read_tokens` are
    /// configured.
    public var requireTokenForReads: Bool = false
    public var console = ConsoleSettings()
    /// Connections served at once (`max_connections`); more wait in the listen backlog.
    public var maxConnections = 256
    /// From a connection's start, or the end of its last response, the next request must have arrived
    /// whole within this (`request_timeout_s`), or the connection is closed: idle keep-alive connections
    /// and clients trickling a request byte by byte do not hold a slot.
    public var requestTimeoutSeconds = 15.0
}

/// The web console served at `/` (docs/console.md).
public struct ConsoleSettings: Sendable {
    public var enabled = true
    /// A map tile URL with `{z}`, `{x}` and `{y}` (for instance a tile server on the district's network),
    /// drawn under the points on the bins map; without one the map is a plain projection of the points.
    public var mapTiles: String?
    /// Credit line shown under a tiled map.
    public var mapAttribution: String?
    /// How long a console sign-in lasts.
    public var sessionHours = 12

    public init(enabled: Bool = true, mapTiles: String? = nil, mapAttribution: String? = nil, sessionHours: Int = 12) {
        self.enabled = enabled
        self.mapTiles = mapTiles
        self.mapAttribution = mapAttribution
        self.sessionHours = sessionHours
    }

    /// `scheme://host[:port]` of the tile URL, for the Content-Security-Policy.
    public var mapTilesOrigin: String? {
        guard let mapTiles,
            let components = URLComponents(
                string: mapTiles.replacingOccurrences(of: "{", with: "%7B").replacingOccurrences(of: "}", with: "%7D")),
            let scheme = components.scheme, let host = components.host
        else { return nil }
        return "\(scheme)://\(host)\(components.port.map { ":\($0)" } ?? "")"
    }
}

public struct WebhookSettings: Sendable {
    public var name: String
    public var url: String
    /// Key of the HMAC-SHA256 signature in the `X-Bins-Signature` header.
    public var secret: Secret
    /// Alert kinds delivered; all when empty.
    public var kinds: Set<AlertKind>
    public var minimumSeverity: AlertSeverity
    public var timeoutSeconds: Int
}

public struct LivenessSettings: Sendable {
    /// A device not heard from for this long counts as offline even if its last status said online.
    public var staleAfterSeconds: Int
}

public struct DistrictSettings: Sendable {
    public var id: String
    public var name: String
}

public struct StreetSettings: Sendable {
    public var id: String
    public var name: String
    public var communities: [CommunitySettings]
    /// The transfer station (a community of kind `transfer_station`) the street's points deliver to,
    /// unless a community or point says otherwise.
    public var deliversTo: String? = nil
}

public enum CommunityKind: String, Sendable, Codable, CaseIterable {
    case property, open, office, institution
    case transferStation = "transfer_station"
}

public struct CommunitySettings: Sendable {
    public var id: String
    public var name: String
    public var kind: CommunityKind
    public var households: Int
    public var points: [PointSettings]
    /// Overrides the street's `delivers_to` for this community's points.
    public var deliversTo: String? = nil
    /// For a transfer station: the streams it receives, which its mass balance covers (the points'
    /// other streams go elsewhere, a recycler for instance).
    public var receives: [WasteStream] = BalanceSettings.defaultStreams
}

public struct PointSettings: Sendable {
    /// The device id: its MQTT client id and topic level.
    public var device: String
    public var name: String
    /// Counted by coverage milestones that ask for demonstration points.
    public var demonstration: Bool
    /// Where the point stands (WGS 84), for the console's map and the collection route.
    public var location: GeoLocation? = nil
    /// Overrides the community's and street's `delivers_to`.
    public var deliversTo: String? = nil
}

/// The transfer stations' stream mass balance (docs/aggregator.md, "Transfer stations").
public struct BalanceSettings: Sendable, Equatable {
    /// What a station receives unless its community says `receives`.
    public static let defaultStreams: [WasteStream] = [.wet, .dry]
    /// A station's day is judged once the day is over and nothing touching it (a collection at one of its
    /// points, a deposit or load at the station) has been booked for this long (`settle_s`): collections
    /// are booked in the morning and the loads they become arrive later.
    public var settleSeconds = 600
    /// Days before today that a restarted aggregator judges again (`lookback_days`).
    public var lookbackDays = 3
    /// A day is judged only when the station's points collected at least this much (`minimum_kg`).
    public var minimumKg = 1.0

    public init(settleSeconds: Int = 600, lookbackDays: Int = 3, minimumKg: Double = 1.0) {
        self.settleSeconds = settleSeconds
        self.lookbackDays = lookbackDays
        self.minimumKg = minimumKg
    }
}

/// Fill forecasts (`forecast`).
public struct ForecastSettings: Sendable, Equatable {
    /// Deposits of this many past days teach each bin its fill rate (`history_days`).
    public var historyDays = 28
    /// `bin_full_soon` is raised for a bin forecast to be full within this many hours (`full_soon_horizon_h`).
    public var fullSoonHorizonHours = 6.0
    /// How often the learned rates are refreshed from the ledger (`refresh_s`).
    public var refreshSeconds = 300

    public init(historyDays: Int = 28, fullSoonHorizonHours: Double = 6, refreshSeconds: Int = 300) {
        self.historyDays = historyDays
        self.fullSoonHorizonHours = fullSoonHorizonHours
        self.refreshSeconds = refreshSeconds
    }
}

/// The daily collection plan (`plan`).
public struct PlanSettings: Sendable, Equatable {
    /// Where routes start and end: a community id (its first located point, normally the transfer
    /// station) (`depot`); without one a route starts at its first stop.
    public var depot: String?
    /// The local hour at which the daily round starts (`round_hour`): a plan for a day empties what
    /// would reach the collection fill before the next day's round.
    public var roundHour = 7

    public init(depot: String? = nil, roundHour: Int = 7) {
        self.depot = depot
        self.roundHour = roundHour
    }
}

/// A position in WGS 84 degrees.
public struct GeoLocation: Sendable, Hashable {
    public var latitude: Double
    public var longitude: Double

    public init(latitude: Double, longitude: Double) {
        self.latitude = latitude
        self.longitude = longitude
    }
}

public struct TargetSettings: Sendable {
    public struct RateTarget: Sendable {
        public var target: Double
        public var by: LocalDate

        public init(target: Double, by: LocalDate) {
            self.target = target
            self.by = by
        }
    }

    public enum CoverageRule: Sendable, Equatable {
        /// This fraction of communities covered.
        case communities(fraction: Double)
        /// Every street has this many covered points (only points marked `demonstration` if asked).
        case pointsPerStreet(count: Int, demonstrationOnly: Bool)
    }

    public struct CoverageMilestone: Sendable {
        public var id: String
        public var name: String
        public var rule: CoverageRule
        public var by: LocalDate

        public init(id: String, name: String, rule: CoverageRule, by: LocalDate) {
            self.id = id
            self.name = name
            self.rule = rule
            self.by = by
        }
    }

    /// Start of the programme: coverage milestones are planned linearly from here to their date.
    public var start: LocalDate?
    /// Dry waste per day before the programme, for the points the registry lists.
    public var baselineDryKgPerDay: Double?
    /// Fractional reduction of dry kg/day against the baseline (0.2 = 20 % less).
    public var dryReduction: RateTarget?
    public var separationRate: RateTarget?
    public var recoveryRate: RateTarget?
    /// A ceiling: the contamination rate should stay at or below `target`.
    public var contaminationRate: RateTarget?
    public var coverage: [CoverageMilestone]
    /// A projection short of its target by at most this fraction of the target is `at_risk`.
    public var atRiskMargin: Double
    /// Days of history the projection's trend is fitted over.
    public var trendDays: Int
    /// Days the current value averages over.
    public var currentDays: Int
    /// A point counts towards coverage when it reported within this window.
    public var coverageWindowHours: Int

    public init(
        start: LocalDate? = nil, baselineDryKgPerDay: Double? = nil, dryReduction: RateTarget? = nil,
        separationRate: RateTarget? = nil, recoveryRate: RateTarget? = nil, contaminationRate: RateTarget? = nil,
        coverage: [CoverageMilestone] = [], atRiskMargin: Double = 0.1, trendDays: Int = 28, currentDays: Int = 7,
        coverageWindowHours: Int = 24
    ) {
        self.start = start
        self.baselineDryKgPerDay = baselineDryKgPerDay
        self.dryReduction = dryReduction
        self.separationRate = separationRate
        self.recoveryRate = recoveryRate
        self.contaminationRate = contaminationRate
        self.coverage = coverage
        self.atRiskMargin = atRiskMargin
        self.trendDays = trendDays
        self.currentDays = currentDays
        self.coverageWindowHours = coverageWindowHours
    }
}

public struct AlertRule: Sendable, Equatable {
    public var enabled: Bool
    public var severity: AlertSeverity
    /// Raise when the value is at or above this for `minimumDurationSeconds`.
    public var raise: Double
    /// Clear when the value is at or below this (lower than `raise`: hysteresis).
    public var clear: Double
    public var minimumDurationSeconds: Int

    public init(
        enabled: Bool = true, severity: AlertSeverity, raise: Double, clear: Double, minimumDurationSeconds: Int
    ) {
        self.enabled = enabled
        self.severity = severity
        self.raise = raise
        self.clear = clear
        self.minimumDurationSeconds = minimumDurationSeconds
    }
}

public struct AlertSettings: Sendable {
    public var rules: [AlertKind: AlertRule]
    /// How often liveness, targets and coverage are evaluated (wall time).
    public var evaluateEverySeconds: Int
    /// A bin's contamination rate is judged only after this much was deposited on its local day.
    public var contaminationMinimumKg: Double

    public func rule(_ kind: AlertKind) -> AlertRule { rules[kind] ?? Self.defaults[kind]! }

    public static let defaults: [AlertKind: AlertRule] = [
        .binFull: AlertRule(severity: .warning, raise: 0.8, clear: 0.6, minimumDurationSeconds: 300),
        .binOverflow: AlertRule(severity: .critical, raise: 0.98, clear: 0.9, minimumDurationSeconds: 60),
        .deviceOffline: AlertRule(severity: .critical, raise: 900, clear: 120, minimumDurationSeconds: 0),
        .sensorFault: AlertRule(severity: .warning, raise: 1, clear: 0, minimumDurationSeconds: 0),
        .contamination: AlertRule(severity: .warning, raise: 0.2, clear: 0.1, minimumDurationSeconds: 0),
        .targetOffTrack: AlertRule(severity: .warning, raise: 2, clear: 1, minimumDurationSeconds: 0),
        .coverageBehind: AlertRule(severity: .warning, raise: 2, clear: 1, minimumDurationSeconds: 0),
        // The balance kinds compare a shortfall or excess with the stream's collected mass: 10 % allows
        // for moisture loss and spillage.
        .streamMixing: AlertRule(severity: .warning, raise: 0.1, clear: 0.05, minimumDurationSeconds: 0),
        .massMissing: AlertRule(severity: .warning, raise: 0.1, clear: 0.05, minimumDurationSeconds: 0),
        // The forecast's urgency: the horizon divided by the hours until full (1 = full at the horizon).
        .binFullSoon: AlertRule(severity: .info, raise: 1, clear: 0.8, minimumDurationSeconds: 0),
    ]
}

/// Components of the quarterly assessment score.
public enum ScoreComponent: String, Sendable, Codable, CaseIterable, Hashable {
    case separationRate = "separation_rate"
    case recoveryRate = "recovery_rate"
    case dryReduction = "dry_reduction"
    case contaminationRate = "contamination_rate"
    case coverage
}

public struct ReportSettings: Sendable {
    /// The fill at which the suggested collection frequency aims to empty a bin.
    public var collectionFill: Double
    /// Weights of the assessment score; normalised to sum to 1.
    public var weights: [ScoreComponent: Double]
    /// Funding shared among streets in proportion to their scores.
    public var fundingPool: Double
    public var currency: String

    public static let defaultWeights: [ScoreComponent: Double] = [
        .separationRate: 0.3, .recoveryRate: 0.2, .dryReduction: 0.2, .contaminationRate: 0.15, .coverage: 0.15,
    ]
}
