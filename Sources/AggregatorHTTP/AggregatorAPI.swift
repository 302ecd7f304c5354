import Aggregator
import BinProtocol
import Crypto
import Foundation
import Hummingbird
import Logging
import MQTT
import Prometheus

/// The HTTP API of DESIGN section 7:
///
/// | route | answers |
/// |---|---|
/// | `GET /healthz` | database, broker and ingest state; 503 when the database is unreachable |
/// | `GET /metrics` | Prometheus text |
/// | `GET /api/v1/bins` | every known bin with its latest state |
/// | `GET /api/v1/ledger?level=&id=&from=&to=&period=` | ledger figures per period |
/// | `GET /api/v1/targets` | every target with current value, projection and status |
/// | `GET /api/v1/alerts?state=&limit=` | alerts (`open` by default) |
/// | `POST /api/v1/alerts/{id}/ack` | acknowledges (bearer token) |
/// | `GET /api/v1/reports/{kind}?date=&format=&lang=` | a report |
/// | `POST /api/v1/loads`, `GET /api/v1/loads`, `GET /api/v1/balance` | transfer stations (``AggregatorAPI`` + Stations) |
///
/// Errors are JSON (see ``APIError``). The web console (``Console``) shares the router: its pages at `/`
/// and below, with read access and security headers applied to every route.
public struct AggregatorAPI: Sendable {
    let runtime: AggregatorRuntime
    let prometheus: PrometheusCollectorRegistry
    let logger: Logger
    let clock: @Sendable () -> Int64

    public init(
        runtime: AggregatorRuntime, prometheus: PrometheusCollectorRegistry, logger: Logger,
        clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) }
    ) {
        self.runtime = runtime
        self.prometheus = prometheus
        self.logger = logger
        self.clock = clock
    }

    public func makeRouter() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        let console = Console(runtime: runtime, logger: logger, clock: clock)
        router.add(
            middleware: SecurityHeadersMiddleware(tilesOrigin: runtime.configuration.http.console.mapTilesOrigin))
        router.add(middleware: JSONErrorMiddleware(logger: logger))
        router.add(middleware: console.accessMiddleware)
        router.get("healthz") { _, _ in await self.health() }
        router.get("metrics") { _, _ in self.metrics() }
        router.get("api/v1/bins") { _, _ in try await self.bins() }
        router.get("api/v1/ledger") { request, _ in try await self.ledger(request.uri.queryParameters) }
        router.get("api/v1/targets") { _, _ in try await self.targets() }
        router.get("api/v1/alerts") { request, _ in try await self.alerts(request.uri.queryParameters) }
        router.post("api/v1/alerts/{id}/ack") { request, context in
            try await self.acknowledge(
                id: context.parameters.get("id") ?? "", authorization: request.headers[.authorization])
        }
        router.post("api/v1/loads") { request, _ in try await self.bookLoad(request) }
        router.get("api/v1/loads") { request, _ in try await self.loads(request.uri.queryParameters) }
        router.get("api/v1/balance") { request, _ in try await self.balance(request.uri.queryParameters) }
        router.get("api/v1/plan") { request, _ in try await self.plan(request.uri.queryParameters) }
        router.get("api/v1/reports/{kind}") { request, context in
            try await self.report(kind: context.parameters.get("kind") ?? "", request.uri.queryParameters)
        }
        if console.isEnabled { console.register(on: router) }
        return router
    }

    var today: LocalDate { runtime.calendar.today(nowMilliseconds: clock()) }

    func timestamp(_ ms: Int64?) -> String? {
        ms.map { runtime.calendar.timestamp(millisecondsSinceEpoch: $0).rfc3339 }
    }

    // MARK: Health and metrics

    struct Health: Encodable {
        struct Ingest: Encodable {
            var messages: Int
            var rejected: Int
            var duplicates: Int
            var sequenceGaps: Int
            var storageFailures: Int

            enum CodingKeys: String, CodingKey {
                case messages, rejected, duplicates
                case sequenceGaps = "sequence_gaps"
                case storageFailures = "storage_failures"
            }
        }
        var status: String
        var instance: String
        var database: String
        var broker: String
        var uptimeS: Double
        var ingest: Ingest

        enum CodingKeys: String, CodingKey {
            case status, instance, database, broker, ingest
            case uptimeS = "uptime_s"
        }
    }

    func health() async -> Response {
        var databaseOK = true
        do { try await runtime.store.ping() } catch {
            databaseOK = false
            logger.warning("http.health_database_unreachable", metadata: ["http.error": "\(error.message)"])
        }
        let states = runtime.connections.map(\.state)
        let broker =
            states.contains(.disconnected)
            ? "disconnected" : states.contains(.connecting) ? "connecting" : "connected"
        let snapshot = runtime.ingestMetrics.snapshot
        let status = !databaseOK ? "unavailable" : broker == "connected" ? "ok" : "degraded"
        let body = Health(
            status: status, instance: runtime.configuration.instance, database: databaseOK ? "ok" : "unreachable",
            broker: broker,
            uptimeS: Double(clock() - runtime.startedAtMs) / 1000,
            ingest: .init(
                messages: snapshot.totalMessages, rejected: snapshot.totalRejected, duplicates: snapshot.duplicates,
                sequenceGaps: snapshot.sequenceGaps, storageFailures: snapshot.storageFailures))
        return APIJSON.response(body, status: databaseOK ? .ok : .serviceUnavailable)
    }

    func metrics() -> Response {
        Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: prometheus.emitToBuffer())))
    }

    // MARK: Bins

    struct BinView: Encodable {
        var device: String
        var point: String
        var community: String
        var street: String
        var bin: String
        var stream: WasteStream?
        var capacityL: Double?
        var fill: Double?
        var massKg: Double?
        var lidOpen: Bool?
        var quality: ReadingQuality?
        var temperatureC: Double?
        var stateAt: String?
        var deviceOnline: Bool
        var lastSeen: String?
        var forecastCollectionAt: String?
        var forecastFullAt: String?
        var forecastBasis: FillForecastBasis?

        enum CodingKeys: String, CodingKey {
            case device, point, community, street, bin, stream, fill, quality
            case capacityL = "capacity_l"
            case massKg = "mass_kg"
            case lidOpen = "lid_open"
            case temperatureC = "temperature_c"
            case stateAt = "state_at"
            case deviceOnline = "device_online"
            case lastSeen = "last_seen"
            case forecastCollectionAt = "forecast_collection_at"
            case forecastFullAt = "forecast_full_at"
            case forecastBasis = "forecast_basis"
        }
    }

    func bins() async throws -> Response {
        let devices = Dictionary(
            try await runtime.store.devices().map { ($0.device, $0) }, uniquingKeysWith: { first, _ in first })
        var states: [String: [String: BinStateRecord]] = [:]
        for record in try await runtime.store.binStates() {
            states[record.device, default: [:]][record.state.bin] = record
        }
        let now = clock()
        let staleAfterMs = Int64(runtime.configuration.liveness.staleAfterSeconds) * 1000
        let forecasts = runtime.forecasts.forecasts
        var views: [BinView] = []
        for point in runtime.registry.points {
            let device = devices[point.device]
            let deviceStates = states[point.device] ?? [:]
            var binIDs = device?.bins.map(\.id) ?? []
            for id in deviceStates.keys.sorted() where !binIDs.contains(id) { binIDs.append(id) }
            for binID in binIDs {
                let descriptor = device?.bins.first { $0.id == binID }
                let state = deviceStates[binID]?.state
                // From the latest reading on, up to a week ahead.
                let forecast = state.flatMap { forecasts?.forecast(from: $0, horizonMs: 7 * 86_400_000) }
                views.append(
                    BinView(
                        device: point.device, point: point.name, community: point.community, street: point.street,
                        bin: binID,
                        stream: descriptor?.stream ?? state?.stream, capacityL: descriptor?.capacityL,
                        fill: state?.fill,
                        massKg: state?.massKg, lidOpen: state?.lidOpen, quality: state?.quality,
                        temperatureC: state?.temperatureC,
                        stateAt: state?.ts.rfc3339,
                        deviceOnline: device?.isLive(nowMs: now, staleAfterMs: staleAfterMs) ?? false,
                        lastSeen: timestamp(device?.lastSeenMs),
                        forecastCollectionAt: timestamp(forecast?.collectionAtMs),
                        forecastFullAt: timestamp(forecast?.fullAtMs), forecastBasis: forecast?.basis))
            }
        }
        struct Body: Encodable { var bins: [BinView] }
        return APIJSON.response(Body(bins: views))
    }

    // MARK: Ledger

    struct LedgerPeriodView: Encodable {
        var period: String
        var from: LocalDate
        var to: LocalDate
        var streams: StreamFigures
        var total: LedgerFigures
        var separationRate: Double?
        var recoveryRate: Double?
        var contaminationRate: Double?

        init(period: String, range: ClosedRange<LocalDate>, figures: StreamFigures) {
            self.period = period
            from = range.lowerBound
            to = range.upperBound
            streams = figures
            total = figures.total
            separationRate = figures.separationRate
            recoveryRate = figures.recoveryRate
            contaminationRate = figures.contaminationRate
        }

        enum CodingKeys: String, CodingKey {
            case period, from, to, streams, total
            case separationRate = "separation_rate"
            case recoveryRate = "recovery_rate"
            case contaminationRate = "contamination_rate"
        }
    }

    struct LedgerView: Encodable {
        var level: LedgerLevel
        var id: String
        var from: LocalDate
        var to: LocalDate
        var period: LedgerPeriod
        var rows: [LedgerPeriodView]
        var total: LedgerPeriodView
    }

    func ledger(_ query: Parameters) async throws -> Response {
        let levelText = query.get("level") ?? "district"
        guard let level = LedgerLevel(rawValue: levelText) else {
            throw APIError.badRequest(
                "level \"\(levelText.prefix(40))\" is not one of: \(LedgerLevel.allCases.map(\.rawValue).joined(separator: ", "))"
            )
        }
        let id = query.get("id") ?? (level == .district ? runtime.registry.districtID : nil)
        guard let id else { throw APIError.badRequest("id is required for level \(level.rawValue)") }
        guard let devices = runtime.registry.devices(level: level, id: id) else {
            throw APIError(
                status: .notFound, code: "not_found",
                message: "no \(level.rawValue) with id \(id.prefix(80)) in the registry")
        }
        let periodText = query.get("period") ?? "day"
        guard let period = LedgerPeriod(rawValue: periodText) else {
            throw APIError.badRequest(
                "period \"\(periodText.prefix(40))\" is not one of: \(LedgerPeriod.allCases.map(\.rawValue).joined(separator: ", "))"
            )
        }
        let to = try date(query, "to") ?? today
        let from = try date(query, "from") ?? to.adding(days: -6)
        guard from <= to else { throw APIError.badRequest("from \(from) is after to \(to)") }
        guard to.dayNumber - from.dayNumber < 3660 else {
            throw APIError.badRequest("the range from \(from) to \(to) is longer than ten years")
        }

        var rows = try await runtime.store.ledger(devices: devices, from: from, to: to)
        if level == .bin, let slash = id.firstIndex(of: "/") {
            let device = String(id[..<slash])
            let bin = String(id[id.index(after: slash)...])
            guard try await isKnownBin(device: device, bin: bin) else {
                throw APIError(
                    status: .notFound, code: "not_found",
                    message:
                        "point \(device) has no bin \(bin.prefix(64)) (neither its birth message nor its states name one)"
                )
            }
            rows = rows.filter { $0.bin == bin }
        }
        var byPeriod: [String: [LedgerRow]] = [:]
        for row in rows { byPeriod[period.label(containing: row.day), default: []].append(row) }
        var views: [LedgerPeriodView] = []
        var day = from
        while day <= to {
            let range = period.range(containing: day)
            let label = period.label(containing: day)
            views.append(
                LedgerPeriodView(period: label, range: range, figures: StreamFigures(rows: byPeriod[label] ?? [])))
            day = range.upperBound.adding(days: 1)
        }
        let total = LedgerPeriodView(period: "total", range: from...to, figures: StreamFigures(rows: rows))
        return APIJSON.response(
            LedgerView(level: level, id: id, from: from, to: to, period: period, rows: views, total: total))
    }

    /// A bin the point announced in its birth message or reported a state for (the registry lists points,
    /// not bins; the devices say which bins they have).
    func isKnownBin(device: String, bin: String) async throws -> Bool {
        if try await runtime.store.devices(ids: [device]).first?.bins.contains(where: { $0.id == bin }) == true {
            return true
        }
        return try await runtime.store.binStates().contains { $0.device == device && $0.state.bin == bin }
    }

    func date(_ query: Parameters, _ name: String) throws -> LocalDate? {
        guard let text = query.get(name) else { return nil }
        guard let date = LocalDate(text) else {
            throw APIError.badRequest("\(name) \"\(text.prefix(40))\" is not a date YYYY-MM-DD")
        }
        return date
    }

    // MARK: Targets

    func targets() async throws -> Response {
        let now = clock()
        let evaluator = TargetEvaluator(settings: runtime.configuration.targets, registry: runtime.registry)
        let statuses = try await evaluator.evaluate(store: runtime.store, calendar: runtime.calendar, nowMs: now)
        struct Body: Encodable {
            var date: LocalDate
            var evaluatedAt: String
            var targets: [TargetStatus]
            enum CodingKeys: String, CodingKey {
                case date, targets
                case evaluatedAt = "evaluated_at"
            }
        }
        return APIJSON.response(Body(date: today, evaluatedAt: timestamp(now) ?? "", targets: statuses))
    }

    // MARK: Alerts

    func alerts(_ query: Parameters) async throws -> Response {
        let stateText = query.get("state") ?? "open"
        let limitText = query.get("limit") ?? "100"
        guard let limit = Int(limitText), (1...1000).contains(limit) else {
            throw APIError.badRequest("limit \"\(limitText.prefix(20))\" is not a number from 1 to 1000")
        }
        let records: [AlertRecord]
        switch stateText {
        case "open": records = Array(try await runtime.store.openAlerts().reversed().prefix(limit))
        case "all": records = try await runtime.store.alerts(state: nil, limit: limit)
        default:
            guard let state = AlertState(rawValue: stateText) else {
                throw APIError.badRequest(
                    "state \"\(stateText.prefix(40))\" is not one of: open, all, raised, acknowledged, cleared")
            }
            records = try await runtime.store.alerts(state: state, limit: limit)
        }
        let now = clock()
        struct Body: Encodable { var alerts: [AlertPayload] }
        return APIJSON.response(Body(alerts: records.map { $0.payload(calendar: runtime.calendar, nowMs: now) }))
    }

    func acknowledge(id: String, authorization: String?) async throws -> Response {
        let who = try tokenName(
            authorization: authorization, among: runtime.configuration.http.tokens, purpose: "acknowledging",
            refusal: "the bearer token is not valid")
        guard Topics.isValidIdentifier(id) || UUID(uuidString: id) != nil else {
            throw APIError(status: .notFound, code: "not_found", message: "no alert with id \(id.prefix(64))")
        }
        let alert = try await runtime.alerts.acknowledge(id: id, by: who)
        return APIJSON.response(alert.payload(calendar: runtime.calendar, nowMs: clock()))
    }

    /// The name of the token of `tokens` that `authorization` (`Bearer TOKEN`) presents. Every token is
    /// compared, in constant time, so the answer's timing says nothing about them.
    func tokenName(authorization: String?, among tokens: [HTTPSettings.Token], purpose: String, refusal: String) throws
        -> String
    {
        guard !tokens.isEmpty else {
            throw APIError.unauthorized("\(purpose) needs an API token and none is configured")
        }
        guard let authorization, authorization.lowercased().hasPrefix("bearer ") else {
            throw APIError.unauthorized("an Authorization: Bearer token is required")
        }
        let presented = Array(authorization.dropFirst("bearer ".count).trimmingCharacters(in: .whitespaces).utf8)
        var match: String?
        for token in tokens where Self.constantTimeEqual(presented, Array(token.token.revealed.utf8)) {
            match = token.name
        }
        guard let who = match else { throw APIError.unauthorized(refusal) }
        return who
    }

    /// `format` (json) and `lang` (en) of a report or plan request.
    func formatAndLanguage(_ query: Parameters) throws -> (ReportFormat, ReportLanguage) {
        let formatText = query.get("format") ?? "json"
        guard let format = ReportFormat(rawValue: formatText) else {
            throw APIError.badRequest("format \"\(formatText.prefix(20))\" is not one of: json, csv, html")
        }
        let languageText = query.get("lang") ?? "en"
        guard let language = ReportLanguage(rawValue: languageText) else {
            throw APIError.badRequest("lang \"\(languageText.prefix(20))\" is not one of: en, zh")
        }
        return (format, language)
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        let hashA = Array(SHA256.hash(data: a))
        let hashB = Array(SHA256.hash(data: b))
        var difference: UInt8 = 0
        for index in hashA.indices { difference |= hashA[index] ^ hashB[index] }
        return difference == 0
    }

    // MARK: Reports

    func report(kind kindText: String, _ query: Parameters) async throws -> Response {
        guard let kind = ReportKind(rawValue: kindText) else {
            throw APIError(
                status: .notFound, code: "not_found",
                message:
                    "no report \"\(kindText.prefix(40))\" (reports: \(ReportKind.allCases.map(\.rawValue).joined(separator: ", ")))"
            )
        }
        let (format, language) = try formatAndLanguage(query)
        let date = try date(query, "date") ?? today
        let content = try await ReportBuilder(
            configuration: runtime.configuration, registry: runtime.registry, store: runtime.store
        )
        .build(kind, date: date, nowMs: clock())
        let body = ReportRenderer.render(content, format: format, language: language)
        var headers: HTTPFields = [.contentType: format.contentType]
        headers[.contentDisposition] =
            "inline; filename=\"\(kind.rawValue)-\(content.header.period)-\(language.rawValue).\(format.rawValue)\""
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}
