import BinProtocol
import Foundation

/// Builds the day's collection plan from the store: every bin's latest state, its forecast from the rates
/// learned before the day's round, the registry's points and coordinates. Nothing depends on when it is
/// asked: the same database and date give the same plan.
public struct PlanBuilder: Sendable {
    public let configuration: AggregatorConfiguration
    public let registry: Registry
    public let store: any AggregatorStore
    public let calendar: LedgerCalendar

    public init(configuration: AggregatorConfiguration, registry: Registry, store: any AggregatorStore) {
        self.configuration = configuration
        self.registry = registry
        self.store = store
        calendar = LedgerCalendar(timeZone: configuration.timeZone)
    }

    /// The round of `date` starts at `round_hour`; the plan empties what would reach the collection fill
    /// before the next day's round.
    public func roundStartMs(_ date: LocalDate) -> Int64 {
        calendar.startOfDay(date) + Int64(configuration.plan.roundHour) * 3_600_000
    }

    /// Where routes start and end: the depot community's first located point.
    public var depot: GeoLocation? {
        guard let id = configuration.plan.depot, let community = registry.community(id) else { return nil }
        return community.devices.lazy.compactMap { self.registry.point(device: $0)?.location }.first
    }

    public func build(date: LocalDate, stream: WasteStream?) async throws(AggregatorError) -> PlanView {
        let roundMs = roundStartMs(date)
        let nextRoundMs = roundStartMs(date.adding(days: 1))
        let forecasts = try await BinForecasts.learn(
            store: store, registry: registry, calendar: calendar, collectionFill: configuration.reports.collectionFill,
            historyDays: configuration.forecast.historyDays, untilMs: roundMs)
        // Each device's latest readings, grouped once (not searched again for every point).
        var states: [String: [StatePayload]] = [:]
        for record in try await store.binStates() { states[record.device, default: []].append(record.state) }
        let stations = Set(registry.stations.flatMap(\.devices))
        var candidates: [PlanCandidate] = []
        for point in registry.points where !stations.contains(point.device) {
            for state in (states[point.device] ?? []).sorted(by: { $0.bin < $1.bin }) {
                let binStream = forecasts.descriptor(device: point.device, bin: state.bin)?.stream ?? state.stream
                if let stream, binStream != stream { continue }
                let forecast = forecasts.forecast(
                    from: state, horizonMs: max(0, nextRoundMs - state.ts.millisecondsSinceEpoch) + 86_400_000)
                candidates.append(
                    PlanCandidate(
                        device: point.device, bin: state.bin, stream: binStream, street: point.street,
                        community: point.community,
                        pointName: point.name, location: point.location, fill: state.fill,
                        forecastCollectionAtMs: forecast?.collectionAtMs))
            }
        }
        let plan = CollectionPlanner.plan(
            candidates: candidates, collectionFill: configuration.reports.collectionFill,
            overflowFill: configuration.alerts.rule(.binOverflow).raise, nextRoundMs: nextRoundMs, depot: depot)
        return PlanView(
            plan, date: date, stream: stream, roundMs: roundMs, nextRoundMs: nextRoundMs, registry: registry,
            calendar: calendar, depot: configuration.plan.depot)
    }
}

/// A plan as the API, the command and the renderers present it.
public struct PlanView: Sendable, Encodable, Equatable {
    public struct Bin: Sendable, Encodable, Equatable {
        public var bin: String
        public var stream: WasteStream
        public var fill: Double?
        public var forecastCollectionAt: String?
        public var reason: PlanReason

        enum CodingKeys: String, CodingKey {
            case bin, stream, fill, reason
            case forecastCollectionAt = "forecast_collection_at"
        }
    }
    public struct Stop: Sendable, Encodable, Equatable {
        public var order: Int
        public var device: String
        public var point: String
        public var street: String
        public var community: String
        public var lat: Double?
        public var lon: Double?
        public var legKm: Double?
        public var bins: [Bin]

        enum CodingKeys: String, CodingKey {
            case order, device, point, street, community, lat, lon, bins
            case legKm = "leg_km"
        }
    }
    public struct Street: Sendable, Encodable, Equatable {
        public var street: String
        public var name: String
        public var points: Int
        public var bins: Int
    }

    public var date: LocalDate
    public var stream: WasteStream?
    public var roundAt: String
    public var nextRoundAt: String
    public var depot: String?
    public var stops: [Stop]
    public var streets: [Street]
    public var routeKm: Double?
    public var fixedRoundKm: Double?
    public var visits: Int
    public var fixedRoundVisits: Int
    public var bins: Int

    enum CodingKeys: String, CodingKey {
        case date, stream, depot, stops, streets, visits, bins
        case roundAt = "round_at"
        case nextRoundAt = "next_round_at"
        case routeKm = "route_km"
        case fixedRoundKm = "fixed_round_km"
        case fixedRoundVisits = "fixed_round_visits"
    }

    init(
        _ plan: CollectionPlan, date: LocalDate, stream: WasteStream?, roundMs: Int64, nextRoundMs: Int64,
        registry: Registry,
        calendar: LedgerCalendar, depot: String?
    ) {
        self.date = date
        self.stream = stream
        roundAt = calendar.timestamp(millisecondsSinceEpoch: roundMs).rfc3339
        nextRoundAt = calendar.timestamp(millisecondsSinceEpoch: nextRoundMs).rfc3339
        self.depot = depot
        stops = plan.stops.map { stop in
            Stop(
                order: stop.order, device: stop.device, point: stop.pointName, street: stop.street,
                community: stop.community,
                lat: stop.location?.latitude, lon: stop.location?.longitude, legKm: stop.legKm,
                bins: stop.bins.map {
                    Bin(
                        bin: $0.bin, stream: $0.stream, fill: $0.fill,
                        forecastCollectionAt: $0.forecastCollectionAtMs.map {
                            calendar.timestamp(millisecondsSinceEpoch: $0).rfc3339
                        },
                        reason: $0.reason)
                })
        }
        streets = plan.streets.map {
            Street(
                street: $0.street, name: registry.street($0.street)?.name ?? $0.street, points: $0.points, bins: $0.bins
            )
        }
        routeKm = plan.routeKm
        fixedRoundKm = plan.fixedRoundKm
        visits = plan.visits
        fixedRoundVisits = plan.fixedRoundVisits
        bins = plan.binCount
    }

    /// JSON (language-neutral keys), CSV (one row per bin, in route order) or a printable HTML page.
    public func render(format: ReportFormat, language: ReportLanguage) -> [UInt8] {
        switch format {
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            return Array((try? encoder.encode(self)) ?? Data("{}".utf8)) + [UInt8(ascii: "\n")]
        case .csv: return Array(ReportRenderer.csv(document(ReportLabels(language: language)), language: language).utf8)
        case .html:
            return Array(ReportRenderer.html(document(ReportLabels(language: language)), language: language).utf8)
        }
    }

    func document(_ labels: ReportLabels) -> ReportDocument {
        typealias Cell = ReportDocument.Cell
        var rows: [[Cell]] = []
        for stop in stops {
            for bin in stop.bins {
                rows.append([
                    .integer(stop.order), .text(stop.point), .text(stop.device),
                    .text(streets.first { $0.street == stop.street }?.name ?? stop.street),
                    .text(bin.bin), .text(labels.stream(bin.stream)), .percent(bin.fill),
                    .text(bin.forecastCollectionAt.map(LedgerCalendar.minutes) ?? ""),
                    .text(labels.planReason(bin.reason)), .number(stop.legKm, decimals: 2),
                ])
            }
        }
        var meta: [(String, String)] = [
            (labels(.date), date.description), (labels(.roundAt), LedgerCalendar.minutes(roundAt)),
            (labels(.nextRoundAt), LedgerCalendar.minutes(nextRoundAt)),
            (labels(.visits), "\(visits) / \(fixedRoundVisits)"),
            (
                labels(.routeKm),
                "\(routeKm.map { String(format: "%.2f", $0) } ?? "–") / \(fixedRoundKm.map { String(format: "%.2f", $0) } ?? "–")"
            ),
        ]
        if let stream { meta.insert((labels(.stream), labels.stream(stream)), at: 1) }
        return ReportDocument(
            title: labels(.planTitle), meta: meta,
            sections: [
                ReportDocument.Section(
                    title: labels(.route), chart: nil,
                    table: ReportDocument.Table(
                        columns: [
                            labels(.stop), labels(.point), labels(.device), labels(.street), labels(.bin),
                            labels(.stream), labels(.fill),
                            labels(.forecastCollection), labels(.reason), labels(.legKm),
                        ], rows: rows)),
                ReportDocument.Section(
                    title: labels(.byStreet), chart: nil,
                    table: ReportDocument.Table(
                        columns: [labels(.street), labels(.points), labels(.bins)],
                        rows: streets.map { [.text($0.name), .integer($0.points), .integer($0.bins)] })),
            ])
    }
}
