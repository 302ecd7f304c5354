import BinProtocol
import Foundation

/// Builds reports from the ledger, the alerts and the registry. Each report covers the calendar period
/// (local days) containing the requested date; see docs/aggregator.md for every figure's definition.
public struct ReportBuilder: Sendable {
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

    public func build(_ kind: ReportKind, date: LocalDate, nowMs: Int64) async throws(AggregatorError) -> ReportContent
    {
        let range = kind.period.range(containing: date)
        let header = ReportHeader(
            kind: kind, districtID: registry.districtID, districtName: registry.districtName,
            period: kind.period.label(containing: date), from: range.lowerBound, to: range.upperBound,
            timeZone: configuration.timeZone.identifier, generatedAt: calendar.timestamp(millisecondsSinceEpoch: nowMs))
        let rows = try await store.ledger(devices: registry.allDevices, from: range.lowerBound, to: range.upperBound)
        switch kind {
        case .daily: return .daily(try await daily(header: header, rows: rows))
        case .weekly: return .weekly(try await weekly(header: header, rows: rows, nowMs: nowMs))
        case .monthly: return .monthly(try await monthly(header: header, rows: rows, date: date, nowMs: nowMs))
        case .quarterly, .yearly: return .review(try await review(header: header, rows: rows, date: date, nowMs: nowMs))
        }
    }

    // MARK: Shared

    /// The district's figures: the sorting points' rows (a station's intake was counted at the points).
    func districtRow(_ rows: [LedgerRow]) -> FiguresRow {
        FiguresRow(id: registry.districtID, name: registry.districtName, streams: StreamFigures(rows: sorting(rows)))
    }

    /// The rows of sorting points, without the transfer stations' own devices (see `Registry`).
    func sorting(_ rows: [LedgerRow]) -> [LedgerRow] {
        rows.filter { registry.isSorting(device: $0.device) }
    }

    /// One row per community with sorting points; the stations have their balance section instead.
    func communityRows(_ rows: [LedgerRow]) -> [FiguresRow] {
        var byDevice: [String: [LedgerRow]] = [:]
        for row in rows { byDevice[row.device, default: []].append(row) }
        return registry.sortingCommunities.map { community in
            FiguresRow(
                id: community.id, name: community.name, parent: community.street,
                streams: StreamFigures(rows: community.devices.flatMap { byDevice[$0] ?? [] }))
        }
    }

    func alertLine(_ alert: AlertRecord) -> AlertLine {
        AlertLine(
            id: alert.id, kind: alert.kind, severity: alert.severity, state: alert.state, subject: alert.subject,
            value: alert.value,
            raisedAt: calendar.timestamp(millisecondsSinceEpoch: alert.raisedAtMs),
            clearedAt: alert.clearedAtMs.map { calendar.timestamp(millisecondsSinceEpoch: $0) }, message: alert.message)
    }

    func periodAlerts(_ header: ReportHeader) async throws(AggregatorError) -> [AlertRecord] {
        try await store.alerts(
            openBetween: calendar.startOfDay(header.from), and: calendar.startOfDay(header.to.adding(days: 1)))
    }

    // MARK: Daily inspection

    func daily(header: ReportHeader, rows: [LedgerRow]) async throws(AggregatorError) -> DailyReport {
        let alerts = try await periodAlerts(header)
        let faults = try await store.events(from: header.from, to: header.to, types: [.fault]).compactMap {
            stored -> FaultLine? in
            guard case .fault(let fault) = stored.event.body, registry.isKnown(device: stored.event.device) else {
                return nil
            }
            return FaultLine(
                device: stored.event.device, bin: fault.bin, code: fault.code, active: fault.active,
                at: stored.event.ts,
                detail: fault.detail)
        }
        return DailyReport(
            header: header, district: districtRow(rows), communities: communityRows(rows),
            offlineDevices: alerts.filter { $0.kind == .deviceOffline }.map(alertLine),
            fullBins: alerts.filter { $0.kind == .binFull || $0.kind == .binOverflow }.map(alertLine),
            faults: faults.sorted { ($0.at, $0.device) < ($1.at, $1.device) },
            contaminationHotSpots: hotSpots(rows), stations: try await stationBalances(header, rows: rows))
    }

    /// Each transfer station's balance over the report's period (docs/aggregator.md, "Transfer stations"),
    /// from the period's ledger rows the report has read already (every registry device's).
    func stationBalances(_ header: ReportHeader, rows: [LedgerRow]) async throws(AggregatorError)
        -> [StationBalanceSection]
    {
        let balances = try await BalanceReader(registry: registry, store: store)
            .balances(stations: nil, from: header.from, to: header.to, ledger: rows)
        return balances.map { balance in
            let days = balance.days.map { day in
                BalanceDayLine(
                    date: day.day, streams: day.streams.map(BalanceStreamLine.init), collectedKg: day.collectedKg,
                    receivedKg: day.receivedKg, ratio: day.ratio,
                    flags: day.flags(configuration.alerts, minimumKg: configuration.balance.minimumKg))
            }
            let streams = registry.station(balance.station)?.receives ?? []
            let totals = streams.map { stream in
                let lines = balance.days.flatMap(\.streams).filter { $0.stream == stream }
                return BalanceStreamLine(
                    StreamBalance(
                        stream: stream, collectedKg: lines.reduce(0) { $0 + $1.collectedKg },
                        receivedKg: lines.reduce(0) { $0 + $1.receivedKg }))
            }
            return StationBalanceSection(
                station: balance.station, name: balance.name, days: days, totals: totals,
                flaggedDays: days.filter { !$0.flags.isEmpty }.count)
        }
    }

    /// Sorting points' bins whose contaminated share of the day's deposits reached the contamination alert's
    /// raise level, among those with at least the configured minimum deposited, worst first. (A station
    /// container receiving the wrong stream is mixing, which its balance judges.)
    func hotSpots(_ rows: [LedgerRow]) -> [HotSpot] {
        let threshold =
            configuration.targets.contaminationRate?.target ?? configuration.alerts.rule(.contamination).raise
        var byBin: [String: (row: LedgerRow, figures: LedgerFigures)] = [:]
        for row in sorting(rows) {
            let key = "\(row.device)/\(row.bin)"
            let previous = byBin[key]?.figures ?? .zero
            byBin[key] = (row, previous + row.figures)
        }
        return byBin.values.compactMap { entry -> HotSpot? in
            let figures = entry.figures
            guard figures.depositedKg >= configuration.alerts.contaminationMinimumKg, figures.depositedKg > 0 else {
                return nil
            }
            let rate = figures.contaminatedKg / figures.depositedKg
            guard rate >= threshold, rate > 0, let point = registry.point(device: entry.row.device) else { return nil }
            return HotSpot(
                device: point.device, point: point.name, community: point.community, bin: entry.row.bin,
                stream: entry.row.stream,
                depositedKg: figures.depositedKg, contaminatedKg: figures.contaminatedKg, rate: rate)
        }.sorted { ($1.rate, $0.device, $0.bin) < ($0.rate, $1.device, $1.bin) }
    }

    // MARK: Weekly

    func weekly(header: ReportHeader, rows: [LedgerRow], nowMs: Int64) async throws(AggregatorError) -> WeeklyReport {
        var byDay: [LocalDate: [LedgerRow]] = [:]
        for row in sorting(rows) { byDay[row.day, default: []].append(row) }
        let days = (0...(header.to.dayNumber - header.from.dayNumber)).map { offset in
            let day = header.from.adding(days: offset)
            return FiguresRow(
                id: day.description, name: day.description, streams: StreamFigures(rows: byDay[day] ?? []))
        }
        let alerts = try await periodAlerts(header).filter {
            $0.raisedAtMs >= calendar.startOfDay(header.from)
                && $0.raisedAtMs < calendar.startOfDay(header.to.adding(days: 1))
        }
        let counts = AlertKind.allCases.map { kind in
            AlertCount(kind: kind, count: alerts.filter { $0.kind == kind }.count)
        }
        return WeeklyReport(
            header: header, district: districtRow(rows), days: days, communities: communityRows(rows),
            targets: try await targets(asOf: min(header.to, calendar.today(nowMilliseconds: nowMs)), nowMs: nowMs),
            alerts: counts)
    }

    func targets(asOf date: LocalDate, nowMs: Int64) async throws(AggregatorError) -> [TargetStatus] {
        try await TargetEvaluator(settings: configuration.targets, registry: registry)
            .evaluate(store: store, calendar: calendar, nowMs: nowMs, today: date)
    }

    // MARK: Monthly dispatch

    func monthly(header: ReportHeader, rows: [LedgerRow], date: LocalDate, nowMs: Int64) async throws(AggregatorError)
        -> MonthlyReport
    {
        let days = Int(min(header.to, max(date, header.from)).dayNumber - header.from.dayNumber + 1)
        // Each bin's forecast from its latest reading, with the rates learned up to the report's making.
        let forecasts = try await BinForecasts.learn(
            store: store, registry: registry, calendar: calendar, collectionFill: configuration.reports.collectionFill,
            historyDays: configuration.forecast.historyDays, untilMs: nowMs)
        var forecastByBin: [String: FillForecast] = [:]
        for record in try await store.binStates() {
            forecastByBin["\(record.device)/\(record.state.bin)"] = forecasts.forecast(
                from: record.state, horizonMs: 7 * 86_400_000)
        }
        let devices = Dictionary(
            try await store.devices().map { ($0.device, $0) }, uniquingKeysWith: { first, _ in first })
        let collections = try await store.events(from: header.from, to: header.to, types: [.collection])
        var fillBefore: [String: [Double]] = [:]
        for stored in collections {
            if case .collection(let collection) = stored.event.body, let fill = collection.fillBefore {
                fillBefore["\(stored.event.device)/\(collection.bin)", default: []].append(fill)
            }
        }
        var byDevice: [String: [LedgerRow]] = [:]
        for row in rows { byDevice[row.device, default: []].append(row) }
        let fill = configuration.reports.collectionFill
        var districtTonnes: [String: Double] = [:]
        let points = registry.points.map { point -> DispatchPoint in
            let pointRows = byDevice[point.device] ?? []
            let declared = devices[point.device]?.bins ?? []
            var binIDs = declared.map(\.id)
            for row in pointRows where !binIDs.contains(row.bin) { binIDs.append(row.bin) }
            let bins = binIDs.map { binID -> DispatchBin in
                let binRows = pointRows.filter { $0.bin == binID }
                let figures = binRows.reduce(LedgerFigures.zero) { $0 + $1.figures }
                let descriptor = declared.first { $0.id == binID }
                let stream = descriptor?.stream ?? binRows.first?.stream ?? .dry
                var rate: Double? = nil
                if let capacity = descriptor?.capacityL, capacity > 0, figures.depositedL > 0 {
                    rate = figures.depositedL / capacity / Double(days)
                } else if let fills = fillBefore["\(point.device)/\(binID)"], !fills.isEmpty {
                    rate = fills.reduce(0, +) / Double(days)
                }
                let suggested = rate.map { $0 > 0 ? min(14, max(1, Int((7 * $0 / fill).rounded(.up)))) : 0 }
                let forecast = forecastByBin["\(point.device)/\(binID)"]
                return DispatchBin(
                    bin: binID, stream: stream, capacityL: descriptor?.capacityL, depositedKg: figures.depositedKg,
                    depositedL: figures.depositedL, collectedKg: figures.collectedKg, collections: figures.collections,
                    fillRatePerDay: rate, suggestedCollectionsPerWeek: suggested,
                    forecastCollectionAt: forecast?.collectionAtMs.map {
                        calendar.timestamp(millisecondsSinceEpoch: $0)
                    },
                    forecastFullAt: forecast?.fullAtMs.map { calendar.timestamp(millisecondsSinceEpoch: $0) })
            }
            var tonnes: [String: Double] = [:]
            for row in pointRows { tonnes[row.stream.rawValue, default: 0] += row.figures.collectedKg / 1000 }
            // The stations' containers are emptied too, of what the points' rounds already counted.
            if registry.isSorting(device: point.device) {
                for (stream, value) in tonnes { districtTonnes[stream, default: 0] += value }
            }
            return DispatchPoint(
                device: point.device, name: point.name, community: point.community, street: point.street, bins: bins,
                collectedTonnes: tonnes)
        }
        return MonthlyReport(
            header: header, days: days, collectionFill: fill, points: points, collectedTonnes: districtTonnes,
            stations: try await stationBalances(header, rows: rows))
    }

    // MARK: Quarterly and yearly review

    func review(header: ReportHeader, rows: [LedgerRow], date: LocalDate, nowMs: Int64) async throws(AggregatorError)
        -> ReviewReport
    {
        let settings = configuration.reports
        let targets = configuration.targets
        let weightSum = settings.weights.values.reduce(0, +)
        let weights = Dictionary(
            uniqueKeysWithValues: ScoreComponent.allCases.map {
                ($0.rawValue, weightSum > 0 ? (settings.weights[$0] ?? 0) / weightSum : 0)
            })
        var byDevice: [String: [LedgerRow]] = [:]
        for row in rows { byDevice[row.device, default: []].append(row) }
        let totalHouseholds = registry.totalHouseholds

        // A street of nothing but a transfer station sorts nothing: it is not ranked and gets no funding.
        var reviews = registry.streets.filter { !$0.communities.isEmpty }.map { street -> StreetReview in
            let streetRows = street.devices.flatMap { byDevice[$0] ?? [] }
            let figures = FiguresRow(id: street.id, name: street.name, streams: StreamFigures(rows: streetRows))
            // Dry kg per day over the days the street booked anything.
            var dryByDay: [LocalDate: Double] = [:]
            for row in streetRows where row.figures.deposits > 0 {
                dryByDay[row.day, default: 0] += row.stream == .dry ? row.figures.depositedKg : 0
            }
            let dryPerDay = dryByDay.isEmpty ? nil : dryByDay.values.reduce(0, +) / Double(dryByDay.count)
            let baseline = targets.baselineDryKgPerDay.flatMap { base -> Double? in
                totalHouseholds > 0 ? base * Double(street.households) / Double(totalHouseholds) : nil
            }
            var reduction: Double? = nil
            if let dryPerDay, let baseline, baseline > 0 { reduction = 1 - dryPerDay / baseline }
            let coveredCommunities = street.communities.filter { id in
                let devices = registry.community(id)?.devices ?? []
                let streams = Set(
                    streetRows.filter { devices.contains($0.device) && $0.figures.deposits > 0 }.map(\.stream))
                return streams.contains(.wet) && streams.contains(.dry)
            }
            let coverage =
                street.communities.isEmpty ? 0 : Double(coveredCommunities.count) / Double(street.communities.count)
            let components = Self.achievements(
                figures: figures, dryReduction: reduction, coverage: coverage, targets: targets)
            let score =
                100
                * ScoreComponent.allCases.reduce(0) {
                    $0 + (weights[$1.rawValue] ?? 0) * (components[$1.rawValue] ?? 0)
                }
            return StreetReview(
                rank: 0, id: street.id, name: street.name, households: street.households, figures: figures,
                dryKgPerDay: dryPerDay,
                baselineDryKgPerDay: baseline, dryReduction: reduction, coverage: coverage, components: components,
                score: score, fundingShare: 0, fundingAmount: 0)
        }
        reviews.sort { ($1.score, $0.id) < ($0.score, $1.id) }
        let scoreSum = reviews.reduce(0) { $0 + $1.score }
        for index in reviews.indices {
            reviews[index].rank = index + 1
            // Equal scores share a rank.
            if index > 0, reviews[index].score == reviews[index - 1].score {
                reviews[index].rank = reviews[index - 1].rank
            }
            reviews[index].fundingShare = scoreSum > 0 ? reviews[index].score / scoreSum : 0
            reviews[index].fundingAmount = settings.fundingPool * reviews[index].fundingShare
        }
        return ReviewReport(
            header: header, weights: weights, fundingPool: settings.fundingPool, currency: settings.currency,
            district: districtRow(rows), streets: reviews,
            targets: try await self.targets(
                asOf: min(header.to, max(date, calendar.today(nowMilliseconds: nowMs))), nowMs: nowMs))
    }

    /// How far a street got towards each target, 0...1 (docs/aggregator.md, "Assessment score").
    static func achievements(figures: FiguresRow, dryReduction: Double?, coverage: Double, targets: TargetSettings)
        -> [String: Double]
    {
        func ratio(_ value: Double?, _ target: Double?) -> Double {
            guard let value else { return 0 }
            guard let target, target > 0 else { return min(1, max(0, value)) }
            return min(1, max(0, value / target))
        }
        var contamination = 0.0
        if let rate = figures.contaminationRate {
            let ceiling = targets.contaminationRate?.target ?? 0
            contamination = ceiling > 0 ? min(1, max(0, 1 - (rate - ceiling) / ceiling)) : max(0, 1 - rate)
            if rate <= ceiling { contamination = 1 }
        }
        return [
            ScoreComponent.separationRate.rawValue: ratio(figures.separationRate, targets.separationRate?.target),
            ScoreComponent.recoveryRate.rawValue: ratio(figures.recoveryRate, targets.recoveryRate?.target),
            ScoreComponent.dryReduction.rawValue: ratio(dryReduction, targets.dryReduction?.target),
            ScoreComponent.contaminationRate.rawValue: contamination,
            ScoreComponent.coverage.rawValue: min(1, max(0, coverage)),
        ]
    }
}
