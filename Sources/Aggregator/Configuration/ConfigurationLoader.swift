import BinProtocol
import Foundation
import Yams

extension AggregatorConfiguration {
    /// Reads and validates a configuration file. Relative paths inside it (database file, secret files,
    /// TLS files) are resolved against the file's directory.
    public static func load(path: String) throws(AggregatorError) -> AggregatorConfiguration {
        let name = (path as NSString).lastPathComponent
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            let reason = (error as NSError).localizedFailureReason ?? "cannot be read"
            throw AggregatorError(.configuration, "\(path): \(reason)")
        }
        let directory = ((path as NSString).deletingLastPathComponent as NSString).standardizingPath
        return try parse(yaml: text, source: name, baseDirectory: directory.isEmpty ? "." : directory)
    }

    /// Parses a configuration from YAML text; `source` names it in errors.
    public static func parse(yaml: String, source: String, baseDirectory: String = ".") throws(AggregatorError)
        -> AggregatorConfiguration
    {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: yaml) else {
                throw AggregatorError(.configuration, "\(source): the file is empty")
            }
            root = node
        } catch let error as AggregatorError {
            throw error
        } catch let error as YamlError {
            throw AggregatorError(.configuration, "\(source): \(describe(error))")
        } catch {
            throw AggregatorError(.configuration, "\(source): not valid YAML")
        }
        let loader = ConfigurationLoader(file: source, baseDirectory: baseDirectory)
        return try loader.configuration(ConfigurationNode(node: root, path: "", file: source))
    }

    static func describe(_ error: YamlError) -> String {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
            .composer(_, let problem, let mark, _):
            return "line \(mark.line), column \(mark.column): \(problem)"
        case .duplicatedKeysInMapping(let duplicates, let context):
            return "line \(context.mark.line): repeated key \(duplicates.joined(separator: ", "))"
        default:
            return "not valid YAML"
        }
    }
}

/// Builds an ``AggregatorConfiguration`` from a YAML document, checking every field.
struct ConfigurationLoader {
    let file: String
    let baseDirectory: String

    func configuration(_ root: ConfigurationNode) throws(AggregatorError) -> AggregatorConfiguration {
        let top = try root.mapping(allowed: [
            "time_zone", "instance", "broker", "storage", "http", "webhooks", "liveness", "district", "streets",
            "targets", "alerts", "reports",
        ])
        let zoneNode = try top.required("time_zone")
        let zoneName = try zoneNode.string()
        guard let timeZone = TimeZone(identifier: zoneName) else {
            throw zoneNode.error("\"\(zoneName.prefix(64))\" is not a known time zone (e.g. Asia/Shanghai)")
        }
        let instance = try top.string("instance") ?? ProcessInfo.processInfo.hostName
        guard Topics.isValidIdentifier(instance) else {
            throw top["instance"]?.error("\"\(instance.prefix(64))\" is not a valid identifier")
                ?? root.error("the host name is not a valid instance identifier; set \"instance\"")
        }
        let streets = try top.required("streets").sequence().map { node throws(AggregatorError) in try street(node) }
        let configuration = AggregatorConfiguration(
            source: file, timeZone: timeZone, instance: instance,
            broker: try broker(top.required("broker")),
            storage: try storage(top.required("storage")),
            http: try http(top["http"]),
            webhooks: try (top["webhooks"]?.sequence() ?? []).map { node throws(AggregatorError) in try webhook(node) },
            liveness: try liveness(top["liveness"]),
            district: try district(top.required("district")),
            streets: streets,
            targets: try targets(top["targets"]),
            alerts: try alerts(top["alerts"]),
            reports: try reports(top["reports"]))
        try checkHierarchy(configuration, streetNodes: try top.required("streets").sequence())
        try checkWebhooks(configuration, nodes: try top["webhooks"]?.sequence() ?? [])
        if configuration.targets.dryReduction != nil, configuration.targets.baselineDryKgPerDay == nil {
            throw top["targets"]!.error("dry_reduction needs baseline.dry_kg_per_day")
        }
        return configuration
    }

    // MARK: Connection settings

    func broker(_ node: ConfigurationNode) throws(AggregatorError) -> BrokerSettings {
        let map = try node.mapping(allowed: [
            "url", "host", "port", "client_id", "username", "password", "password_file", "tls", "protocol",
            "shared_group", "keep_alive_s", "reconnect_min_ms", "reconnect_max_ms",
        ])
        var host = try map.string("host")
        var port = try map.int("port", in: 1...65535)
        var tlsFromScheme = false
        if let urlNode = map["url"] {
            let text = try urlNode.string()
            guard let components = URLComponents(string: text), let scheme = components.scheme,
                ["mqtt", "mqtts", "tcp", "ssl"].contains(scheme), let urlHost = components.host, !urlHost.isEmpty
            else { throw urlNode.error("\"\(text.prefix(80))\" is not an mqtt:// or mqtts:// URL") }
            guard components.user == nil, components.password == nil else {
                throw urlNode.error("put credentials in username and password_file, not in the URL")
            }
            host = urlHost
            tlsFromScheme = scheme == "mqtts" || scheme == "ssl"
            port = components.port ?? port ?? (tlsFromScheme ? 8883 : 1883)
        }
        guard let host, !host.isEmpty else { throw node.error("missing setting \"url\" or \"host\"") }
        var tls: BrokerSettings.TLS? = nil
        if let tlsNode = map["tls"] {
            let tlsMap = try tlsNode.mapping(allowed: ["ca_file", "cert_file", "key_file", "verify_hostname"])
            let caFile = try readablePath(tlsMap.required("ca_file"))
            let cert = try tlsMap["cert_file"].map { node throws(AggregatorError) in try readablePath(node) }
            let key = try tlsMap["key_file"].map { node throws(AggregatorError) in try readablePath(node) }
            if (cert == nil) != (key == nil) { throw tlsNode.error("cert_file and key_file go together") }
            tls = .init(caFile: caFile, certificateFile: cert, keyFile: key, verifyHostname: try tlsMap.bool("verify_hostname") ?? true)
        } else if tlsFromScheme {
            tls = .init(caFile: "/etc/ssl/certs/ca-certificates.crt", certificateFile: nil, keyFile: nil, verifyHostname: true)
        }
        let clientID = try map.string("client_id") ?? "bins-aggregator"
        guard (1...64).contains(clientID.utf8.count), Topics.isValidIdentifier(clientID) else {
            throw map["client_id"]!.error("\"\(clientID.prefix(64))\" is not a valid client id")
        }
        let version = try map["protocol"]?.enumeration(BrokerSettings.ProtocolVersion.self) ?? .v5
        let group = try map.string("shared_group")
        if let group {
            guard Topics.isValidIdentifier(group) else { throw map["shared_group"]!.error("\"\(group.prefix(64))\" is not a valid group name") }
            guard version == .v5 else { throw map["shared_group"]!.error("shared subscriptions need protocol: v5") }
        }
        let minDelay = try map.int("reconnect_min_ms", in: 10...600_000) ?? 500
        let maxDelay = try map.int("reconnect_max_ms", in: 10...3_600_000) ?? 30_000
        guard minDelay <= maxDelay else { throw node.error("reconnect_min_ms is larger than reconnect_max_ms") }
        return BrokerSettings(
            host: host, port: port ?? (tls != nil ? 8883 : 1883), clientID: clientID,
            username: try map.string("username"),
            password: try secret(map, value: "password", file: "password_file", required: false),
            tls: tls, protocolVersion: version, sharedGroup: group,
            keepAliveSeconds: try map.int("keep_alive_s", in: 5...3600) ?? 30,
            reconnectDelayMinMilliseconds: minDelay, reconnectDelayMaxMilliseconds: maxDelay)
    }

    func storage(_ node: ConfigurationNode) throws(AggregatorError) -> StorageSettings {
        let map = try node.mapping(allowed: ["sqlite", "synchronous", "postgres", "password_file", "max_connections"])
        switch (map["sqlite"], map["postgres"]) {
        case (let sqlite?, nil):
            let path = resolve(try sqlite.string())
            let synchronous = try map["synchronous"]?.enumeration(SQLiteSettings.Synchronous.self) ?? .full
            return .sqlite(SQLiteSettings(path: path, synchronous: synchronous))
        case (nil, let postgres?):
            let text = try postgres.string()
            guard var settings = PostgresSettings.parse(url: text) else {
                throw postgres.error("not a URL postgres://user@host:port/database[?sslmode=disable|prefer|require]")
            }
            if let file = try secret(map, value: nil, file: "password_file", required: false) {
                guard settings.password == nil else { throw node.error("give the password in the URL or in password_file, not both") }
                settings.password = file
            }
            settings.maxConnections = try map.int("max_connections", in: 1...256) ?? 8
            return .postgres(settings)
        case (nil, nil):
            throw node.error("set either \"sqlite: PATH\" or \"postgres: URL\"")
        case (_?, _?):
            throw node.error("set only one of \"sqlite\" and \"postgres\"")
        }
    }

    func http(_ node: ConfigurationNode?) throws(AggregatorError) -> HTTPSettings {
        guard let node else { return HTTPSettings(host: "127.0.0.1", port: 8080, tokens: []) }
        let map = try node.mapping(allowed: ["listen", "tokens"])
        var host = "127.0.0.1"
        var port = 8080
        if let listen = map["listen"] {
            let text = try listen.string()
            guard let colon = text.lastIndex(of: ":"), let value = Int(text[text.index(after: colon)...]),
                (0...65535).contains(value)
            else { throw listen.error("\"\(text.prefix(64))\" is not HOST:PORT") }
            host = String(text[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            port = value
            guard !host.isEmpty else { throw listen.error("\"\(text.prefix(64))\" has no host (use 0.0.0.0:PORT for all)") }
        }
        var tokens: [HTTPSettings.Token] = []
        for entry in try map["tokens"]?.sequence() ?? [] {
            let tokenMap = try entry.mapping(allowed: ["name", "token", "token_file"])
            let name = try tokenMap.requiredString("name")
            guard let token = try secret(tokenMap, value: "token", file: "token_file", required: true) else { continue }
            guard token.value.utf8.count >= 16 else { throw entry.error("the token is shorter than 16 characters") }
            guard !tokens.contains(where: { $0.name == name }) else { throw entry.error("token name \"\(name)\" repeats") }
            tokens.append(.init(name: name, token: token))
        }
        return HTTPSettings(host: host, port: port, tokens: tokens)
    }

    func webhook(_ node: ConfigurationNode) throws(AggregatorError) -> WebhookSettings {
        let map = try node.mapping(allowed: ["name", "url", "secret", "secret_file", "kinds", "min_severity", "timeout_s"])
        let name = try map.requiredString("name")
        guard Topics.isValidIdentifier(name) else { throw try map.required("name").error("\"\(name.prefix(64))\" is not a valid identifier") }
        let urlNode = try map.required("url")
        let url = try urlNode.string()
        guard let components = URLComponents(string: url), ["http", "https"].contains(components.scheme ?? ""),
            components.host?.isEmpty == false
        else { throw urlNode.error("\"\(url.prefix(80))\" is not an http:// or https:// URL") }
        let kinds = try (map["kinds"]?.sequence() ?? []).map { node throws(AggregatorError) in try node.enumeration(AlertKind.self) }
        return WebhookSettings(
            name: name, url: url,
            secret: try secret(map, value: "secret", file: "secret_file", required: true)!,
            kinds: Set(kinds),
            minimumSeverity: try map["min_severity"]?.enumeration(AlertSeverity.self) ?? .info,
            timeoutSeconds: try map.int("timeout_s", in: 1...300) ?? 10)
    }

    func liveness(_ node: ConfigurationNode?) throws(AggregatorError) -> LivenessSettings {
        guard let node else { return LivenessSettings(staleAfterSeconds: 900) }
        let map = try node.mapping(allowed: ["stale_after_s"])
        return LivenessSettings(staleAfterSeconds: try map.int("stale_after_s", in: 10...86_400 * 7) ?? 900)
    }

    // MARK: Hierarchy

    func district(_ node: ConfigurationNode) throws(AggregatorError) -> DistrictSettings {
        let map = try node.mapping(allowed: ["id", "name"])
        let id = try identifier(map.required("id"), what: "district id")
        return DistrictSettings(id: id, name: try map.string("name") ?? id)
    }

    func street(_ node: ConfigurationNode) throws(AggregatorError) -> StreetSettings {
        let map = try node.mapping(allowed: ["id", "name", "communities"])
        let id = try identifier(map.required("id"), what: "street id")
        return StreetSettings(
            id: id, name: try map.string("name") ?? id,
            communities: try map.required("communities").sequence().map { node throws(AggregatorError) in try community(node) })
    }

    func community(_ node: ConfigurationNode) throws(AggregatorError) -> CommunitySettings {
        let map = try node.mapping(allowed: ["id", "name", "kind", "households", "points"])
        let id = try identifier(map.required("id"), what: "community id")
        return CommunitySettings(
            id: id, name: try map.string("name") ?? id,
            kind: try map.required("kind").enumeration(CommunityKind.self),
            households: try map.int("households", in: 0...10_000_000) ?? 0,
            points: try (map["points"]?.sequence() ?? []).map { node throws(AggregatorError) in try point(node) })
    }

    func point(_ node: ConfigurationNode) throws(AggregatorError) -> PointSettings {
        if case .scalar = node.node {
            let device = try identifier(node, what: "device id")
            return PointSettings(device: device, name: device, demonstration: false)
        }
        let map = try node.mapping(allowed: ["device", "name", "demonstration"])
        let device = try identifier(map.required("device"), what: "device id")
        return PointSettings(
            device: device, name: try map.string("name") ?? device, demonstration: try map.bool("demonstration") ?? false)
    }

    func checkHierarchy(_ configuration: AggregatorConfiguration, streetNodes: [ConfigurationNode]) throws(AggregatorError) {
        var streetIDs = Set<String>()
        var communityIDs = Set<String>()
        var devices = Set<String>()
        for (street, streetNode) in zip(configuration.streets, streetNodes) {
            guard streetIDs.insert(street.id).inserted else { throw streetNode.error("street id \"\(street.id)\" repeats") }
            let communityNodes = try streetNode.mapping(allowed: ["id", "name", "communities"]).required("communities").sequence()
            for (community, communityNode) in zip(street.communities, communityNodes) {
                guard communityIDs.insert(community.id).inserted else {
                    throw communityNode.error("community id \"\(community.id)\" repeats")
                }
                let pointNodes =
                    try communityNode.mapping(allowed: ["id", "name", "kind", "households", "points"])["points"]?.sequence() ?? []
                for (point, pointNode) in zip(community.points, pointNodes) {
                    guard devices.insert(point.device).inserted else {
                        throw pointNode.error("device id \"\(point.device)\" is listed twice")
                    }
                }
            }
        }
    }

    func checkWebhooks(_ configuration: AggregatorConfiguration, nodes: [ConfigurationNode]) throws(AggregatorError) {
        var names = Set<String>()
        for (webhook, node) in zip(configuration.webhooks, nodes) {
            guard names.insert(webhook.name).inserted else { throw node.error("webhook name \"\(webhook.name)\" repeats") }
        }
    }

    // MARK: Targets, alerts, reports

    func targets(_ node: ConfigurationNode?) throws(AggregatorError) -> TargetSettings {
        var settings = TargetSettings(
            start: nil, baselineDryKgPerDay: nil, dryReduction: nil, separationRate: nil, recoveryRate: nil,
            contaminationRate: nil, coverage: [], atRiskMargin: 0.1, trendDays: 28, currentDays: 7, coverageWindowHours: 24)
        guard let node else { return settings }
        let map = try node.mapping(allowed: [
            "start", "baseline", "dry_reduction", "separation_rate", "recovery_rate", "contamination_rate", "coverage",
            "at_risk_margin", "trend_days", "current_days", "coverage_window_h",
        ])
        settings.start = try map.date("start")
        if let baseline = map["baseline"] {
            let baselineMap = try baseline.mapping(allowed: ["dry_kg_per_day"])
            settings.baselineDryKgPerDay = try baselineMap.double("dry_kg_per_day", in: 0.001...10_000_000)
        }
        settings.dryReduction = try rateTarget(map["dry_reduction"], key: "target", range: 0...1)
        settings.separationRate = try rateTarget(map["separation_rate"], key: "target", range: 0...1)
        settings.recoveryRate = try rateTarget(map["recovery_rate"], key: "target", range: 0...1)
        settings.contaminationRate = try rateTarget(map["contamination_rate"], key: "ceiling", range: 0...1)
        settings.atRiskMargin = try map.double("at_risk_margin", in: 0...1) ?? 0.1
        settings.trendDays = try map.int("trend_days", in: 2...366) ?? 28
        settings.currentDays = try map.int("current_days", in: 1...366) ?? 7
        settings.coverageWindowHours = try map.int("coverage_window_h", in: 1...24 * 30) ?? 24
        var ids = Set<String>()
        for entry in try map["coverage"]?.sequence() ?? [] {
            let milestone = try coverageMilestone(entry)
            guard ids.insert(milestone.id).inserted else { throw entry.error("milestone id \"\(milestone.id)\" repeats") }
            if let start = settings.start, milestone.by <= start {
                throw entry.error("the milestone date \(milestone.by) is not after targets.start \(start)")
            }
            settings.coverage.append(milestone)
        }
        return settings
    }

    func rateTarget(_ node: ConfigurationNode?, key: String, range: ClosedRange<Double>) throws(AggregatorError)
        -> TargetSettings.RateTarget?
    {
        guard let node else { return nil }
        let map = try node.mapping(allowed: [key, "by"])
        guard let value = try map.double(key, in: range) else { throw node.error("missing setting \"\(key)\"") }
        return .init(target: value, by: try map.requiredDate("by"))
    }

    func coverageMilestone(_ node: ConfigurationNode) throws(AggregatorError) -> TargetSettings.CoverageMilestone {
        let map = try node.mapping(allowed: ["id", "name", "communities", "points_per_street", "demonstration_only", "by"])
        let id = try identifier(map.required("id"), what: "milestone id")
        let rule: TargetSettings.CoverageRule
        switch (try map.double("communities", in: 0.000_001...1), try map.int("points_per_street", in: 1...1000)) {
        case (let fraction?, nil):
            rule = .communities(fraction: fraction)
        case (nil, let count?):
            rule = .pointsPerStreet(count: count, demonstrationOnly: try map.bool("demonstration_only") ?? false)
        default:
            throw node.error("set exactly one of \"communities: FRACTION\" and \"points_per_street: COUNT\"")
        }
        return .init(id: id, name: try map.string("name") ?? id, rule: rule, by: try map.requiredDate("by"))
    }

    func alerts(_ node: ConfigurationNode?) throws(AggregatorError) -> AlertSettings {
        var settings = AlertSettings(rules: AlertSettings.defaults, evaluateEverySeconds: 30, contaminationMinimumKg: 5)
        guard let node else { return settings }
        let map = try node.mapping(allowed: Set(AlertKind.allCases.map(\.rawValue) + ["evaluate_every_s", "contamination_min_kg"]))
        settings.evaluateEverySeconds = try map.int("evaluate_every_s", in: 1...3600) ?? 30
        settings.contaminationMinimumKg = try map.double("contamination_min_kg", in: 0...100_000) ?? 5
        for kind in AlertKind.allCases {
            guard let ruleNode = map[kind.rawValue] else { continue }
            let ruleMap = try ruleNode.mapping(allowed: ["enabled", "severity", "raise", "clear", "for_s"])
            var rule = AlertSettings.defaults[kind]!
            rule.enabled = try ruleMap.bool("enabled") ?? true
            rule.severity = try ruleMap["severity"]?.enumeration(AlertSeverity.self) ?? rule.severity
            rule.raise = try ruleMap.double("raise") ?? rule.raise
            rule.clear = try ruleMap.double("clear") ?? rule.clear
            rule.minimumDurationSeconds = try ruleMap.int("for_s", in: 0...86_400 * 30) ?? rule.minimumDurationSeconds
            guard rule.clear < rule.raise else {
                throw ruleNode.error("clear (\(rule.clear)) must be below raise (\(rule.raise))")
            }
            settings.rules[kind] = rule
        }
        return settings
    }

    func reports(_ node: ConfigurationNode?) throws(AggregatorError) -> ReportSettings {
        var settings = ReportSettings(collectionFill: 0.8, weights: ReportSettings.defaultWeights, fundingPool: 0, currency: "CNY")
        guard let node else { return settings }
        let map = try node.mapping(allowed: ["collection_fill", "weights", "funding_pool", "currency"])
        settings.collectionFill = try map.double("collection_fill", in: 0.1...1) ?? 0.8
        settings.fundingPool = try map.double("funding_pool", in: 0...1e15) ?? 0
        settings.currency = try map.string("currency") ?? "CNY"
        if let weightsNode = map["weights"] {
            let weightsMap = try weightsNode.mapping(allowed: Set(ScoreComponent.allCases.map(\.rawValue)))
            var weights: [ScoreComponent: Double] = [:]
            for component in ScoreComponent.allCases {
                weights[component] = try weightsMap.double(component.rawValue, in: 0...1000) ?? 0
            }
            guard weights.values.reduce(0, +) > 0 else { throw weightsNode.error("at least one weight must be above 0") }
            settings.weights = weights
        }
        return settings
    }

    // MARK: Helpers

    func identifier(_ node: ConfigurationNode, what: String) throws(AggregatorError) -> String {
        let text = try node.string()
        guard Topics.isValidIdentifier(text) else {
            throw node.error("\(what) \"\(text.prefix(64))\" is not a valid identifier (letters, digits, - _ . up to 64)")
        }
        return text
    }

    func resolve(_ path: String) -> String {
        path.hasPrefix("/") ? path : (baseDirectory as NSString).appendingPathComponent(path)
    }

    func readablePath(_ node: ConfigurationNode) throws(AggregatorError) -> String {
        let path = resolve(try node.string())
        guard FileManager.default.isReadableFile(atPath: path) else { throw node.error("\(path) cannot be read") }
        return path
    }

    /// A secret given inline (`value`) or in a file (`file`, trailing newline stripped), never both.
    func secret(_ map: ConfigurationMapping, value: String?, file: String, required: Bool) throws(AggregatorError) -> Secret? {
        let inline = try value.flatMap { key throws(AggregatorError) in try map.string(key) }
        let fileNode = map[file]
        if inline != nil, fileNode != nil { throw map.node.error("set \(value!) or \(file), not both") }
        if let inline { return Secret(inline) }
        if let fileNode {
            let path = resolve(try fileNode.string())
            guard let data = FileManager.default.contents(atPath: path) else { throw fileNode.error("\(path) cannot be read") }
            let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .newlines)
            guard !text.isEmpty else { throw fileNode.error("\(path) is empty") }
            return Secret(text)
        }
        if required { throw map.node.error("missing setting \"\(value ?? file)\" or \"\(file)\"") }
        return nil
    }
}
