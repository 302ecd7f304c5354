import BinProtocol
import Foundation
import MQTT
import YAMLConfig

extension AggregatorConfiguration {
    /// Reads and validates a configuration file. Relative paths inside it (database file, secret files,
    /// TLS files) are resolved against the file's directory. Every problem in the file is reported at
    /// once (`AggregatorError.issues`).
    public static func load(path: String) throws(AggregatorError) -> AggregatorConfiguration {
        let text: String
        do {
            text = try TextFile.read(path)
        } catch {
            throw AggregatorError(error)
        }
        let directory = ((path as NSString).deletingLastPathComponent as NSString).standardizingPath
        return try parse(
            yaml: text, source: (path as NSString).lastPathComponent, baseDirectory: directory.isEmpty ? "." : directory
        )
    }

    /// Parses a configuration from YAML text; `source` names it in errors.
    public static func parse(yaml: String, source: String, baseDirectory: String = ".") throws(AggregatorError)
        -> AggregatorConfiguration
    {
        let loader = ConfigurationLoader(baseDirectory: baseDirectory)
        do {
            var (configuration, warnings) = try YAMLDocument.parse(
                yaml: yaml, file: source, what: "configuration", loader.configuration)
            configuration.warnings = warnings
            return configuration
        } catch {
            throw AggregatorError(error)
        }
    }
}

/// Builds an ``AggregatorConfiguration`` from a YAML document, checking every field and reporting every
/// problem (a misspelt setting silently falling back to a default is how a district ends up with the
/// wrong alerts).
struct ConfigurationLoader {
    let baseDirectory: String

    func configuration(_ root: YAMLValue) -> AggregatorConfiguration? {
        root.fields { top in
            let timeZone = top.required("time_zone").flatMap(self.timeZone)
            let instance = self.instance(top.optional("instance"), root: root)
            let broker = top.required("broker").flatMap(self.broker)
            let storage = top.required("storage").flatMap(self.storage)
            let http = self.http(top.optional("http"))
            let webhooks = self.webhooks(top.optional("webhooks"))
            let liveness = LivenessSettings(
                staleAfterSeconds: top.optional("liveness")?.fields {
                    $0.optional("stale_after_s")?.int(in: 10...86_400 * 7)
                } ?? 900)
            let district = top.required("district").flatMap(self.district)
            var hierarchy = HierarchyIDs()
            let streets = top.required("streets")?.list()?.compactMap { street($0, ids: &hierarchy) } ?? []
            let targetsValue = top.optional("targets")
            let targets = self.targets(targetsValue)
            if targets.dryReduction != nil, targets.baselineDryKgPerDay == nil {
                targetsValue?.error("dry_reduction needs baseline.dry_kg_per_day")
            }
            let alerts = self.alerts(top.optional("alerts"))
            let reports = self.reports(top.optional("reports"))
            let balance = self.balance(top.optional("balance"))
            let forecast = self.forecast(top.optional("forecast"))
            let planValue = top.optional("plan")
            let plan = self.plan(planValue)
            checkStations(hierarchy)
            if let depot = plan.depot, !hierarchy.communities.contains(depot) {
                planValue?.error("depot \(ConfigText.quote(depot)) is not a community id")
            }
            guard let timeZone, let instance, let broker, let storage, let district else { return nil }
            var configuration = AggregatorConfiguration(
                source: root.file, timeZone: timeZone, instance: instance, broker: broker, storage: storage, http: http,
                webhooks: webhooks, liveness: liveness, district: district, streets: streets, targets: targets,
                alerts: alerts, reports: reports)
            configuration.balance = balance
            configuration.forecast = forecast
            configuration.plan = plan
            return configuration
        }
    }

    func timeZone(_ value: YAMLValue) -> TimeZone? {
        guard let name = value.string() else { return nil }
        guard let zone = TimeZone(identifier: name) else {
            value.error("\(ConfigText.quote(name)) is not a known time zone (e.g. Asia/Shanghai)")
            return nil
        }
        return zone
    }

    func instance(_ value: YAMLValue?, root: YAMLValue) -> String? {
        if let value { return value.identifier("instance name") }
        let host = ProcessInfo.processInfo.hostName
        guard Topics.isValidIdentifier(host) else {
            root.error("the host name \(ConfigText.quote(host)) is not a valid instance name; set \"instance\"")
            return nil
        }
        return host
    }

    // MARK: Connection settings

    func broker(_ value: YAMLValue) -> BrokerSettings? {
        value.fields { map in
            var host = map.optional("host")?.string()
            var port = map.optional("port")?.int(in: 1...65535)
            var tlsFromScheme = false
            var urlUsable = true
            if let urlValue = map.optional("url"), let text = urlValue.string() {
                switch BrokerURL.parse(text) {
                case .success(let parts):
                    host = parts.host
                    tlsFromScheme = parts.tls
                    port = parts.port ?? port ?? (parts.tls ? 8883 : 1883)
                case .failure(.credentials):
                    urlValue.error("put credentials in username and password_file, not in the URL")
                    urlUsable = false
                case .failure(.malformed):
                    urlValue.error("\(ConfigText.quote(text)) is not an mqtt:// or mqtts:// URL")
                    urlUsable = false
                }
            }
            if urlUsable, host?.isEmpty ?? true { map.value.error("set \"url\" or \"host\"") }
            var tls: BrokerSettings.TLS?
            if let tlsValue = map.optional("tls") {
                tls = tlsValue.fields { tlsMap in
                    let caFile = tlsMap.required("ca_file").flatMap(readablePath)
                    let certValue = tlsMap.optional("cert_file")
                    let keyValue = tlsMap.optional("key_file")
                    let (cert, key) = (certValue.flatMap(readablePath), keyValue.flatMap(readablePath))
                    if (certValue == nil) != (keyValue == nil) {
                        tlsMap.value.error("cert_file and key_file go together")
                    }
                    let verify = tlsMap.optional("verify_hostname")?.bool() ?? true
                    guard let caFile else { return nil }
                    return BrokerSettings.TLS(
                        caFile: caFile, certificateFile: cert, keyFile: key, verifyHostname: verify)
                }
            } else if tlsFromScheme {
                tls = .init(
                    caFile: "/etc/ssl/certs/ca-certificates.crt", certificateFile: nil, keyFile: nil,
                    verifyHostname: true)
            }
            let clientID = map.optional("client_id").map { $0.identifier("client id") } ?? "bins-aggregator"
            let version = map.optional("protocol")?.choice(BrokerSettings.ProtocolVersion.self) ?? .v5
            var group: String?
            if let groupValue = map.optional("shared_group"), let name = groupValue.identifier("group name") {
                if version == .v5 { group = name } else { groupValue.error("shared subscriptions need protocol: v5") }
            }
            let minDelay = map.optional("reconnect_min_ms")?.int(in: 10...600_000) ?? 500
            let maxDelay = map.optional("reconnect_max_ms")?.int(in: 10...3_600_000) ?? 30_000
            if minDelay > maxDelay { map.value.error("reconnect_min_ms is larger than reconnect_max_ms") }
            let username = map.optional("username")?.string()
            let password = self.secret(&map, value: "password", file: "password_file", required: false)
            let keepAlive = map.optional("keep_alive_s")?.int(in: 5...3600) ?? 30
            let receipts = map.optional("receipts")?.bool() ?? true
            let receiptInterval = map.optional("receipt_interval_ms")?.int(in: 10...60_000) ?? 500
            let batchMessages = map.optional("batch_max_messages")?.int(in: 1...10_000) ?? 500
            let batchDelay = map.optional("batch_max_delay_ms")?.int(in: 0...1000) ?? 5
            if let clientID, !clientID.hasPrefix(BrokerSettings.reservedClientIDPrefix),
                let value = map.optional("client_id")
            {
                value.warning(
                    "the shipped broker configuration reserves client ids starting with \"\(BrokerSettings.reservedClientIDPrefix)\" to aggregator accounts; another id is protected from a device taking over this session only if no device account has that name (docs/mqtt.md)"
                )
            }
            guard let host, !host.isEmpty, let clientID else { return nil }
            var settings = BrokerSettings(
                host: host, port: port ?? (tls != nil ? 8883 : 1883), clientID: clientID, username: username,
                password: password, tls: tls, protocolVersion: version, sharedGroup: group, keepAliveSeconds: keepAlive,
                reconnectDelayMinMilliseconds: minDelay, reconnectDelayMaxMilliseconds: maxDelay)
            settings.receipts = receipts
            settings.receiptIntervalMilliseconds = receiptInterval
            settings.batchMaxMessages = batchMessages
            settings.batchMaxDelayMilliseconds = batchDelay
            return settings
        }
    }

    func storage(_ value: YAMLValue) -> StorageSettings? {
        value.fields { map in
            switch (map.optional("sqlite"), map.optional("postgres")) {
            case (let sqlite?, nil):
                for key in ["password_file", "max_connections"] {
                    map.optional(key)?.warning("applies to PostgreSQL only; ignored with sqlite")
                }
                let synchronous = map.optional("synchronous")?.choice(SQLiteSettings.Synchronous.self) ?? .full
                guard let path = sqlite.string() else { return nil }
                return .sqlite(SQLiteSettings(path: resolve(path), synchronous: synchronous))
            case (nil, let postgres?):
                map.optional("synchronous")?.warning("applies to SQLite only; ignored with postgres")
                let password = self.secret(&map, value: nil, file: "password_file", required: false)
                let maxConnections = map.optional("max_connections")?.int(in: 1...256) ?? 8
                guard let text = postgres.string() else { return nil }
                guard var settings = PostgresSettings.parse(url: text) else {
                    postgres.error("not a URL postgres://user@host:port/database[?sslmode=disable|prefer|require]")
                    return nil
                }
                if let password {
                    if settings.password != nil {
                        map.value.error("give the password in the URL or in password_file, not both")
                    }
                    settings.password = password
                }
                settings.maxConnections = maxConnections
                return .postgres(settings)
            case (nil, nil):
                map.value.error("set either \"sqlite: PATH\" or \"postgres: URL\"")
            case (_?, _?):
                map.value.error("set only one of \"sqlite\" and \"postgres\"")
            }
            map.skip("synchronous", "password_file", "max_connections")
            return nil
        }
    }

    func http(_ value: YAMLValue?) -> HTTPSettings {
        let defaults = HTTPSettings(host: "127.0.0.1", port: 8080, tokens: [])
        return value?.fields { map in
            var settings = defaults
            if let listen = map.optional("listen"), let text = listen.string() {
                if let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
                    (0...65535).contains(port)
                {
                    let host = String(text[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
                    if host.isEmpty {
                        listen.error("\(ConfigText.quote(text)) has no host (use 0.0.0.0:PORT for all)")
                    }
                    (settings.host, settings.port) = (host, port)
                } else {
                    listen.error("\(ConfigText.quote(text)) is not HOST:PORT")
                }
            }
            var names = Set<String>()
            settings.tokens = tokens(map.optional("tokens"), names: &names)
            settings.readTokens = tokens(map.optional("read_tokens"), names: &names)
            settings.loadTokens = tokens(map.optional("load_tokens"), names: &names)
            let requireValue = map.optional("require_token_for_reads")
            settings.requireTokenForReads = requireValue?.bool() ?? !settings.readTokens.isEmpty
            if settings.requireTokenForReads, settings.tokens.isEmpty, settings.readTokens.isEmpty {
                (requireValue ?? map.value).error("reads need a token but no tokens or read_tokens are configured")
            }
            if let consoleValue = map.optional("console") {
                settings.console = console(consoleValue) ?? settings.console
            }
            if let v = map.optional("max_connections")?.int(in: 1...100_000) { settings.maxConnections = v }
            if let v = map.optional("request_timeout_s")?.double(in: 0.5...3600) { settings.requestTimeoutSeconds = v }
            return settings
        } ?? defaults
    }

    /// `[{name, token | token_file}]`; names are unique across `tokens` and `read_tokens` (a console
    /// session names its token).
    func tokens(_ value: YAMLValue?, names: inout Set<String>) -> [HTTPSettings.Token] {
        var tokens: [HTTPSettings.Token] = []
        for entry in value?.list() ?? [] {
            let token = entry.fields { tokenMap -> HTTPSettings.Token? in
                let name = tokenMap.required("name")?.string()
                let secret = self.secret(&tokenMap, value: "token", file: "token_file", required: true)
                guard let name, let secret else { return nil }
                guard secret.revealed.utf8.count >= 16 else {
                    entry.error("the token is shorter than 16 characters")
                    return nil
                }
                return HTTPSettings.Token(name: name, token: secret)
            }
            guard let token else { continue }
            if !names.insert(token.name).inserted {
                entry.error("token name \(ConfigText.quote(token.name)) repeats")
            }
            tokens.append(token)
        }
        return tokens
    }

    func console(_ value: YAMLValue) -> ConsoleSettings? {
        value.fields { map in
            var settings = ConsoleSettings()
            settings.enabled = map.optional("enabled")?.bool() ?? true
            settings.sessionHours = map.optional("session_hours")?.int(in: 1...24 * 30) ?? settings.sessionHours
            settings.mapAttribution = map.optional("map_attribution")?.string()
            if let tilesValue = map.optional("map_tiles"), let text = tilesValue.string() {
                settings.mapTiles = text
                if !["{z}", "{x}", "{y}"].allSatisfy(text.contains) || settings.mapTilesOrigin == nil
                    || !(text.hasPrefix("http://") || text.hasPrefix("https://"))
                {
                    tilesValue.error("\(ConfigText.quote(text)) is not an http(s) tile URL with {z}, {x} and {y}")
                }
            }
            return settings
        }
    }

    func webhooks(_ value: YAMLValue?) -> [WebhookSettings] {
        var webhooks: [WebhookSettings] = []
        for entry in value?.list() ?? [] {
            guard let webhook = webhook(entry) else { continue }
            if webhooks.contains(where: { $0.name == webhook.name }) {
                entry.error("webhook name \(ConfigText.quote(webhook.name)) repeats")
            }
            webhooks.append(webhook)
        }
        return webhooks
    }

    func webhook(_ value: YAMLValue) -> WebhookSettings? {
        value.fields { map in
            let name = map.required("name")?.identifier("webhook name")
            var url: String?
            if let urlValue = map.required("url"), let text = urlValue.string() {
                if let components = URLComponents(string: text), ["http", "https"].contains(components.scheme ?? ""),
                    components.host?.isEmpty == false
                {
                    url = text
                } else {
                    urlValue.error("\(ConfigText.quote(text)) is not an http:// or https:// URL")
                }
            }
            let secret = self.secret(&map, value: "secret", file: "secret_file", required: true)
            let kinds = map.optional("kinds")?.list()?.compactMap { $0.choice(AlertKind.self) } ?? []
            let minimumSeverity = map.optional("min_severity")?.choice(AlertSeverity.self) ?? .info
            let timeout = map.optional("timeout_s")?.int(in: 1...300) ?? 10
            guard let name, let url, let secret else { return nil }
            return WebhookSettings(
                name: name, url: url, secret: secret, kinds: Set(kinds), minimumSeverity: minimumSeverity,
                timeoutSeconds: timeout)
        }
    }

    // MARK: Hierarchy

    /// Ids that must be unique across the whole district.
    struct HierarchyIDs {
        var streets = Set<String>()
        var communities = Set<String>()
        var devices = Set<String>()
        /// Communities of kind `transfer_station`.
        var stations = Set<String>()
        /// Every `delivers_to`, checked once the whole hierarchy is read (a station may come after the
        /// streets that deliver to it).
        var deliveries: [(station: String, value: YAMLValue)] = []
        /// `receives` set on a community that is not a station.
        var misplacedReceives: [YAMLValue] = []
    }

    /// Every `delivers_to` names a transfer station.
    func checkStations(_ ids: HierarchyIDs) {
        for (station, value) in ids.deliveries where !ids.stations.contains(station) {
            value.error(
                ids.communities.contains(station)
                    ? "\(ConfigText.quote(station)) is not a community of kind transfer_station"
                    : "\(ConfigText.quote(station)) is not a community id")
        }
        for value in ids.misplacedReceives { value.error("receives is only for a community of kind transfer_station") }
    }

    /// `delivers_to: STATION`, noted for ``checkStations(_:)``.
    func deliversTo(_ map: inout YAMLFields, ids: inout HierarchyIDs) -> String? {
        guard let value = map.optional("delivers_to"), let station = value.identifier("station id") else { return nil }
        ids.deliveries.append((station, value))
        return station
    }

    func district(_ value: YAMLValue) -> DistrictSettings? {
        value.fields { map in
            let id = map.required("id")?.identifier("district id")
            let name = map.optional("name")?.string()
            guard let id else { return nil }
            return DistrictSettings(id: id, name: name ?? id)
        }
    }

    func street(_ value: YAMLValue, ids: inout HierarchyIDs) -> StreetSettings? {
        value.fields { map in
            let id = map.required("id")?.identifier("street id")
            if let id, !ids.streets.insert(id).inserted { value.error("street id \(ConfigText.quote(id)) repeats") }
            let name = map.optional("name")?.string()
            let deliversTo = deliversTo(&map, ids: &ids)
            let communities = map.required("communities")?.list()?.compactMap { community($0, ids: &ids) } ?? []
            guard let id else { return nil }
            return StreetSettings(id: id, name: name ?? id, communities: communities, deliversTo: deliversTo)
        }
    }

    func community(_ value: YAMLValue, ids: inout HierarchyIDs) -> CommunitySettings? {
        value.fields { map in
            let id = map.required("id")?.identifier("community id")
            if let id, !ids.communities.insert(id).inserted {
                value.error("community id \(ConfigText.quote(id)) repeats")
            }
            let name = map.optional("name")?.string()
            let kind = map.required("kind")?.choice(CommunityKind.self)
            let households = map.optional("households")?.int(in: 0...10_000_000) ?? 0
            let deliversTo = deliversTo(&map, ids: &ids)
            if kind == .transferStation, let id { ids.stations.insert(id) }
            var receives = BalanceSettings.defaultStreams
            if let receivesValue = map.optional("receives") {
                if kind != .transferStation { ids.misplacedReceives.append(receivesValue) }
                let streams = receivesValue.list()?.compactMap { $0.choice(WasteStream.self) } ?? []
                if streams.isEmpty { receivesValue.error("list at least one stream") }
                receives = Array(Set(streams)).sorted()
            }
            var points: [PointSettings] = []
            for item in map.optional("points")?.list() ?? [] {
                guard let point = point(item, ids: &ids) else { continue }
                if !ids.devices.insert(point.device).inserted {
                    item.error("device id \(ConfigText.quote(point.device)) is listed twice")
                }
                if point.device.hasPrefix(BrokerSettings.reservedClientIDPrefix) {
                    item.error(
                        "device id \(ConfigText.quote(point.device)) starts with \"\(BrokerSettings.reservedClientIDPrefix)\", which the broker reserves to aggregator accounts"
                    )
                }
                points.append(point)
            }
            guard let id, let kind else { return nil }
            return CommunitySettings(
                id: id, name: name ?? id, kind: kind, households: households, points: points, deliversTo: deliversTo,
                receives: receives)
        }
    }

    /// A point as its device id, or `{device, name, demonstration, lat, lon, delivers_to}`.
    func point(_ value: YAMLValue, ids: inout HierarchyIDs) -> PointSettings? {
        if value.isScalar {
            return value.identifier("device id").map { PointSettings(device: $0, name: $0, demonstration: false) }
        }
        return value.fields { map in
            let device = map.required("device")?.identifier("device id")
            let name = map.optional("name")?.string()
            let demonstration = map.optional("demonstration")?.bool() ?? false
            let latitude = map.optional("lat")?.double(in: -90...90)
            let longitude = map.optional("lon")?.double(in: -180...180)
            if map.contains("lat") != map.contains("lon") { value.error("lat and lon go together") }
            let deliversTo = deliversTo(&map, ids: &ids)
            guard let device else { return nil }
            var point = PointSettings(device: device, name: name ?? device, demonstration: demonstration)
            point.deliversTo = deliversTo
            if let latitude, let longitude { point.location = GeoLocation(latitude: latitude, longitude: longitude) }
            return point
        }
    }

    // MARK: Targets, alerts, reports

    func targets(_ value: YAMLValue?) -> TargetSettings {
        var settings = TargetSettings()
        _ = value?.fields { map -> Void? in
            settings.start = map.optional("start")?.date()
            settings.baselineDryKgPerDay = map.optional("baseline")?.fields {
                $0.optional("dry_kg_per_day")?.double(in: 0.001...10_000_000)
            }
            settings.dryReduction = map.optional("dry_reduction").flatMap { rateTarget($0, key: "target") }
            settings.separationRate = map.optional("separation_rate").flatMap { rateTarget($0, key: "target") }
            settings.recoveryRate = map.optional("recovery_rate").flatMap { rateTarget($0, key: "target") }
            settings.contaminationRate = map.optional("contamination_rate").flatMap { rateTarget($0, key: "ceiling") }
            settings.atRiskMargin = map.optional("at_risk_margin")?.double(in: 0...1) ?? settings.atRiskMargin
            settings.trendDays = map.optional("trend_days")?.int(in: 2...366) ?? settings.trendDays
            settings.currentDays = map.optional("current_days")?.int(in: 1...366) ?? settings.currentDays
            settings.coverageWindowHours =
                map.optional("coverage_window_h")?.int(in: 1...24 * 30) ?? settings.coverageWindowHours
            for entry in map.optional("coverage")?.list() ?? [] {
                guard let milestone = coverageMilestone(entry) else { continue }
                if settings.coverage.contains(where: { $0.id == milestone.id }) {
                    entry.error("milestone id \(ConfigText.quote(milestone.id)) repeats")
                }
                if let start = settings.start, milestone.by <= start {
                    entry.error("the milestone date \(milestone.by) is not after targets.start \(start)")
                }
                settings.coverage.append(milestone)
            }
            return ()
        }
        return settings
    }

    /// `{KEY: RATE, by: DATE}`, the rate between 0 and 1.
    func rateTarget(_ value: YAMLValue, key: String) -> TargetSettings.RateTarget? {
        value.fields { map in
            let rate = map.required(key)?.double(in: 0...1)
            let by = map.required("by")?.date()
            guard let rate, let by else { return nil }
            return TargetSettings.RateTarget(target: rate, by: by)
        }
    }

    func coverageMilestone(_ value: YAMLValue) -> TargetSettings.CoverageMilestone? {
        value.fields { map in
            let id = map.required("id")?.identifier("milestone id")
            let name = map.optional("name")?.string()
            let fractionValue = map.optional("communities")
            let countValue = map.optional("points_per_street")
            let demonstrationOnly = map.optional("demonstration_only")?.bool() ?? false
            let by = map.required("by")?.date()
            let rule: TargetSettings.CoverageRule?
            switch (fractionValue, countValue) {
            case (let fractionValue?, nil):
                rule = fractionValue.double(in: 0.000_001...1).map { .communities(fraction: $0) }
            case (nil, let countValue?):
                rule = countValue.int(in: 1...1000).map {
                    .pointsPerStreet(count: $0, demonstrationOnly: demonstrationOnly)
                }
            default:
                value.error("set exactly one of \"communities: FRACTION\" and \"points_per_street: COUNT\"")
                rule = nil
            }
            guard let id, let rule, let by else { return nil }
            return TargetSettings.CoverageMilestone(id: id, name: name ?? id, rule: rule, by: by)
        }
    }

    func alerts(_ value: YAMLValue?) -> AlertSettings {
        var settings = AlertSettings(rules: AlertSettings.defaults, evaluateEverySeconds: 30, contaminationMinimumKg: 5)
        _ = value?.fields { map -> Void? in
            settings.evaluateEverySeconds =
                map.optional("evaluate_every_s")?.int(in: 1...3600) ?? settings.evaluateEverySeconds
            settings.contaminationMinimumKg =
                map.optional("contamination_min_kg")?.double(in: 0...100_000) ?? settings.contaminationMinimumKg
            for kind in AlertKind.allCases {
                guard let defaults = AlertSettings.defaults[kind],
                    let rule = map.optional(kind.rawValue).flatMap({ alertRule($0, defaults: defaults) })
                else { continue }
                settings.rules[kind] = rule
            }
            return ()
        }
        return settings
    }

    func alertRule(_ value: YAMLValue, defaults: AlertRule) -> AlertRule? {
        value.fields { map in
            var rule = defaults
            rule.enabled = map.optional("enabled")?.bool() ?? true
            rule.severity = map.optional("severity")?.choice(AlertSeverity.self) ?? rule.severity
            rule.raise = map.optional("raise")?.double() ?? rule.raise
            rule.clear = map.optional("clear")?.double() ?? rule.clear
            rule.minimumDurationSeconds = map.optional("for_s")?.int(in: 0...86_400 * 30) ?? rule.minimumDurationSeconds
            guard rule.clear < rule.raise else {
                value.error(
                    "clear (\(ConfigText.number(rule.clear))) must be below raise (\(ConfigText.number(rule.raise)))")
                return nil
            }
            return rule
        }
    }

    func balance(_ value: YAMLValue?) -> BalanceSettings {
        var settings = BalanceSettings()
        _ = value?.fields { map -> Void? in
            settings.settleSeconds = map.optional("settle_s")?.int(in: 0...86_400 * 7) ?? settings.settleSeconds
            settings.lookbackDays = map.optional("lookback_days")?.int(in: 1...366) ?? settings.lookbackDays
            settings.minimumKg = map.optional("minimum_kg")?.double(in: 0...1_000_000) ?? settings.minimumKg
            return ()
        }
        return settings
    }

    func forecast(_ value: YAMLValue?) -> ForecastSettings {
        var settings = ForecastSettings()
        _ = value?.fields { map -> Void? in
            settings.historyDays = map.optional("history_days")?.int(in: 7...366) ?? settings.historyDays
            settings.fullSoonHorizonHours =
                map.optional("full_soon_horizon_h")?.double(in: 0.25...24 * 14) ?? settings.fullSoonHorizonHours
            settings.refreshSeconds = map.optional("refresh_s")?.int(in: 10...86_400) ?? settings.refreshSeconds
            return ()
        }
        return settings
    }

    func plan(_ value: YAMLValue?) -> PlanSettings {
        var settings = PlanSettings()
        _ = value?.fields { map -> Void? in
            settings.depot = map.optional("depot")?.identifier("community id")
            settings.roundHour = map.optional("round_hour")?.int(in: 0...23) ?? settings.roundHour
            return ()
        }
        return settings
    }

    func reports(_ value: YAMLValue?) -> ReportSettings {
        var settings = ReportSettings(
            collectionFill: 0.8, weights: ReportSettings.defaultWeights, fundingPool: 0, currency: "CNY")
        _ = value?.fields { map -> Void? in
            settings.collectionFill = map.optional("collection_fill")?.double(in: 0.1...1) ?? settings.collectionFill
            settings.fundingPool = map.optional("funding_pool")?.double(in: 0...1e15) ?? settings.fundingPool
            settings.currency = map.optional("currency")?.string() ?? settings.currency
            if let weightsValue = map.optional("weights"), let weights = scoreWeights(weightsValue) {
                settings.weights = weights
            }
            return ()
        }
        return settings
    }

    func scoreWeights(_ value: YAMLValue) -> [ScoreComponent: Double]? {
        value.fields { map in
            var weights: [ScoreComponent: Double] = [:]
            for component in ScoreComponent.allCases {
                weights[component] = map.optional(component.rawValue)?.double(in: 0...1000) ?? 0
            }
            guard weights.values.reduce(0, +) > 0 else {
                value.error("at least one weight must be above 0")
                return nil
            }
            return weights
        }
    }

    // MARK: Files and secrets

    func resolve(_ path: String) -> String {
        path.hasPrefix("/") ? path : (baseDirectory as NSString).appendingPathComponent(path)
    }

    func readablePath(_ value: YAMLValue) -> String? {
        guard let text = value.string() else { return nil }
        let path = resolve(text)
        guard FileManager.default.isReadableFile(atPath: path) else {
            value.error("\(path) cannot be read")
            return nil
        }
        return path
    }

    /// A secret given inline (`value`) or in a file (`file`, trailing newline stripped), never both.
    func secret(_ map: inout YAMLFields, value key: String?, file fileKey: String, required: Bool) -> Secret? {
        let inline = key.flatMap { map.optional($0) }
        let fileValue = map.optional(fileKey)
        switch (inline, fileValue) {
        case (let inline?, nil):
            return inline.string().map(Secret.init)
        case (nil, let fileValue?):
            guard let path = fileValue.string().map(resolve) else { return nil }
            do {
                let text = try TextFile.read(path).trimmingCharacters(in: .newlines)
                guard !text.isEmpty else {
                    fileValue.error("\(path) is empty")
                    return nil
                }
                return Secret(text)
            } catch {
                fileValue.error(error.message)
                return nil
            }
        case (_?, _?):
            map.value.error("set \(key ?? "") or \(fileKey), not both")
            return nil
        case (nil, nil):
            if required { map.value.error("set \(key.map { "\($0) or " } ?? "")\(fileKey)") }
            return nil
        }
    }
}

extension YAMLValue {
    /// A local date, `YYYY-MM-DD`.
    fileprivate func date() -> LocalDate? {
        guard let text = string() else { return nil }
        guard let date = LocalDate(text) else {
            error("\(ConfigText.quote(text)) is not a date YYYY-MM-DD")
            return nil
        }
        return date
    }
}
