import Aggregator
import BinProtocol
import Foundation
import Hummingbird

/// The view models of the console's pages: plain dictionaries and arrays the templates read.
extension Console {
    // MARK: Shared pieces

    func streamModel(_ stream: WasteStream?, _ context: PageContext) -> [String: Any] {
        guard let stream else { return ["label": "–", "key": "none"] }
        return ["label": context.text.report.stream(stream), "key": stream.rawValue]
    }

    /// A fill gauge as inline SVG (a bar, not a styled element, so no inline style is needed).
    static func gauge(_ fill: Double?, fullAt: Double) -> String {
        guard let fill else { return "" }
        let width = String(format: "%.1f", min(max(fill, 0), 1) * 100)
        let color = fill >= fullAt ? "#c0392b" : fill >= fullAt * 0.75 ? "#e08a00" : "#2e7d32"
        return
            "<svg class=\"gauge\" viewBox=\"0 0 100 10\" preserveAspectRatio=\"none\" aria-hidden=\"true\"><rect width=\"100\" height=\"10\" rx=\"5\" fill=\"#e3e8e1\"/><rect width=\"\(width)\" height=\"10\" rx=\"5\" fill=\"\(color)\"/></svg>"
    }

    func alertChips(_ alerts: [AlertRecord], _ context: PageContext) -> [[String: Any]] {
        alerts.map { ["label": context.text.report.alertKind($0.kind), "severity": $0.severity.rawValue] }
    }

    /// Where an alert's subject is shown: a point's page, or the targets.
    static func subjectHref(_ subject: String) -> String? {
        if subject.hasPrefix("bin:") || subject.hasPrefix("device:") {
            let rest = subject.drop { $0 != ":" }.dropFirst()
            let device = rest.prefix { $0 != "/" }
            return "/points/\(percentEncode(String(device)))"
        }
        if subject.hasPrefix("target:") || subject.hasPrefix("milestone:") { return "/targets" }
        return nil
    }

    func binRow(_ bin: DistrictSnapshot.Bin, _ context: PageContext) -> [String: Any] {
        let format = context.format
        let text = context.text
        let community = runtime.registry.community(bin.point.community)
        let street = runtime.registry.street(bin.point.street)
        var row: [String: Any] = [
            "device": bin.point.device, "pointName": bin.point.name,
            "pointHref": "/points/\(Self.percentEncode(bin.point.device))",
            "community": community?.name ?? bin.point.community, "street": street?.name ?? bin.point.street,
            "bin": bin.bin,
            "stream": streamModel(bin.stream, context),
            "fill": bin.state?.fill.map { format.percent($0, decimals: 0) } ?? "–",
            "gauge": Self.gauge(bin.state?.fill, fullAt: runtime.configuration.alerts.rule(.binFull).raise),
            "mass": bin.state?.massKg.map { "\(format.number($0, decimals: 1)) \(text["kg"])" } ?? "–",
            "lid": bin.state.map { $0.lidOpen ? text["lidOpen"] : text["lidClosed"] } ?? "–",
            "quality": bin.state.map { text["quality.\($0.quality.rawValue)"] } ?? "–",
            "temperature": bin.state?.temperatureC.map { "\(format.number($0, decimals: 1)) °C" } ?? "–",
            "lastSeen": format.ago(bin.lastSeenMs), "lastSeenAt": format.time(bin.lastSeenMs),
            "alerts": alertChips(bin.alerts, context),
        ]
        if bin.state?.lidOpen == true { row["lidOpen"] = true }
        if bin.isFull { row["full"] = true }
        if bin.isOffline { row["offline"] = true }
        if bin.isFaulty { row["faulty"] = true }
        if bin.state?.quality != nil && bin.state?.quality != .good { row["qualityWarning"] = true }
        return row
    }

    // MARK: Overview

    func overview(_ context: PageContext) async throws -> PageView {
        let registry = runtime.registry
        let today = runtime.calendar.today(nowMilliseconds: context.nowMs)
        let from = today.adding(days: -6)
        async let totalsRequest = runtime.store.dailyTotals(devices: registry.sortingDevices, from: from, to: today)
        let snapshot = try await DistrictSnapshot.load(runtime: runtime, nowMs: context.nowMs)
        let statuses = try await TargetEvaluator(settings: runtime.configuration.targets, registry: registry)
            .evaluate(
                store: runtime.store, calendar: runtime.calendar, nowMs: context.nowMs,
                devices: Array(snapshot.devices.values))
        let totals = try await totalsRequest
        let text = context.text
        let format = context.format

        var todayRows: [WasteStream: LedgerFigures] = [:]
        var weekRows: [WasteStream: LedgerFigures] = [:]
        var perDay: [LocalDate: [WasteStream: Double]] = [:]
        for total in totals {
            weekRows[total.stream, default: .zero] += total.figures
            if total.day == today { todayRows[total.stream, default: .zero] += total.figures }
            perDay[total.day, default: [:]][total.stream, default: 0] += total.figures.depositedKg
        }
        func cells(_ figures: LedgerFigures, range: String) -> [String: Any] {
            [
                "range": range, "deposited": format.kg(figures.depositedKg),
                "collected": format.kg(figures.collectedKg),
                "contaminated": format.kg(figures.contaminatedKg), "unknown": format.kg(figures.unknownKg),
            ]
        }
        let periods: [[String: Any]] = [
            ("today", "\(text["today"]) · \(today)", todayRows),
            ("week", "\(text["last7Days"]) · \(from) – \(today)", weekRows),
        ].map { range, title, figures in
            [
                "title": title,
                "rows": WasteStream.allCases.map { stream -> [String: Any] in
                    var row = cells(figures[stream] ?? .zero, range: range)
                    row["key"] = stream.rawValue
                    row["label"] = text.report.stream(stream)
                    return row
                },
                "total": cells(figures.values.reduce(.zero, +), range: range),
            ]
        }
        let days = (0...6).map { from.adding(days: Int64($0)) }
        let chart = SVGChart(
            categories: days.map { String($0.description.suffix(5)) },
            series: WasteStream.allCases.map { stream in
                SVGChart.Series(
                    name: text.report.stream(stream), color: stream.color, values: days.map { perDay[$0]?[stream] ?? 0 }
                )
            }, unit: text["kg"]
        ).svg(width: 640, height: 250, fontSize: 12, title: text["tonnage"])

        let week = StreamFigures(byStream: weekRows)
        let rateTargets: [(id: String, fallback: Double?)] = [
            ("separation_rate", week.separationRate), ("recovery_rate", week.recoveryRate),
            ("contamination_rate", week.contaminationRate), ("dry_reduction", nil),
        ]
        var rates: [[String: Any]] = []
        for (id, fallback) in rateTargets {
            if let status = statuses.first(where: { $0.id == id }) {
                rates.append(targetCard(status, context))
            } else if let fallback {
                let names: [String: ReportLabels.Key] = [
                    "separation_rate": .separationRate, "recovery_rate": .recoveryRate,
                    "contamination_rate": .contaminationRate,
                ]
                rates.append([
                    "id": id, "name": names[id].map { text.report($0) } ?? id, "value": format.percent(fallback),
                    "goal": "\(text["noTarget"]) · \(text["last7Days"])", "statusKey": "none",
                ])
            }
        }
        let coverage = statuses.filter { $0.id.hasPrefix("coverage.") }.map { targetCard($0, context) }

        let severities: [AlertSeverity] = [.critical, .warning, .info]
        let alertCounts: [[String: Any]] = severities.map { severity in
            [
                "severity": severity.rawValue, "label": text.report.severity(severity),
                "count": String(snapshot.openAlerts.filter { $0.severity == severity }.count),
            ]
        }
        let online = snapshot.points.filter(\.live).count
        let never = snapshot.points.filter { $0.device?.lastSeenMs == nil }.count
        let latest = snapshot.openAlerts.sorted { $0.raisedAtMs > $1.raisedAtMs }.prefix(6).map {
            alertRow($0, context)
        }
        let model: [String: Any] = [
            "today": today.description, "weekRange": "\(from) – \(today)",
            "periods": periods, "chart": chart, "rates": rates, "coverage": coverage,
            "alertCounts": alertCounts, "openAlerts": String(snapshot.openAlerts.count), "latestAlerts": Array(latest),
            "pointsOnline": String(online), "pointsOffline": String(snapshot.points.count - online - never),
            "pointsNever": String(never), "pointsTotal": String(snapshot.points.count),
            "binsTotal": String(snapshot.bins.count), "binsFull": String(snapshot.bins.filter(\.isFull).count),
            "binsFaulty": String(snapshot.bins.filter(\.isFaulty).count),
        ]
        return PageView(
            navigation: "overview", title: text["overview"], template: "overview", liveTemplate: "overview-live",
            liveTopics: [LiveUpdates.Topic.ledger, LiveUpdates.Topic.alerts, LiveUpdates.Topic.devices], model: model,
            openAlerts: snapshot.openAlerts.count)
    }

    func targetCard(_ status: TargetStatus, _ context: PageContext) -> [String: Any] {
        let text = context.text
        let format = context.format
        let goal =
            status.direction == .atMost
            ? "\(text["ceilingIs"]) ≤ \(format.percent(status.target, decimals: 0))"
            : "\(text["targetIs"]) ≥ \(format.percent(status.target, decimals: 0))"
        var card: [String: Any] = [
            "id": status.id, "name": text.report.targetName(status), "value": format.percent(status.current),
            "goal": "\(goal) · \(text["by"]) \(status.deadline)", "statusKey": status.status.rawValue,
            "status": text.report.track(status.status), "projected": format.percent(status.projected),
            "target": format.percent(status.target), "deadline": status.deadline.description, "detail": status.detail,
        ]
        if let planned = status.planned { card["planned"] = format.percent(planned) }
        return card
    }

    // MARK: Bins

    enum BinFilter: String, CaseIterable { case all, full, offline, faulty }
    enum BinSort: String, CaseIterable { case point, fill, mass, seen, street }
    static let binsPerPage = 200

    func bins(_ context: PageContext) async throws -> PageView {
        let snapshot = try await DistrictSnapshot.load(runtime: runtime, nowMs: context.nowMs)
        let registry = runtime.registry
        let text = context.text
        let street = context.query("street").flatMap { registry.street($0) }
        let community = context.query("community").flatMap { registry.community($0) }
        let stream = context.query("stream").flatMap(WasteStream.init(rawValue:))
        let show = context.query("show").flatMap(BinFilter.init(rawValue:)) ?? .all
        let sort = context.query("sort").flatMap(BinSort.init(rawValue:)) ?? .point
        let view = context.query("view") == "map" ? "map" : "table"

        var selected = snapshot.bins.filter { bin in
            (street == nil || bin.point.street == street?.id)
                && (community == nil || bin.point.community == community?.id)
                && (stream == nil || bin.stream == stream)
        }
        switch show {
        case .all: break
        case .full: selected = selected.filter(\.isFull)
        case .offline: selected = selected.filter(\.isOffline)
        case .faulty: selected = selected.filter(\.isFaulty)
        }
        switch sort {
        case .point: break
        case .fill: selected.sort { ($0.state?.fill ?? -1) > ($1.state?.fill ?? -1) }
        case .mass: selected.sort { ($0.state?.massKg ?? -1) > ($1.state?.massKg ?? -1) }
        case .seen: selected.sort { ($0.lastSeenMs ?? .min) < ($1.lastSeenMs ?? .min) }
        case .street:
            let names = Dictionary(uniqueKeysWithValues: registry.streets.map { ($0.id, $0.name) })
            selected.sort {
                (names[$0.point.street] ?? "", $0.point.name) < (names[$1.point.street] ?? "", $1.point.name)
            }
        }

        let pages = max(1, (selected.count + Self.binsPerPage - 1) / Self.binsPerPage)
        let page = min(max(1, Int(context.query("page") ?? "1") ?? 1), pages)
        let shown = selected.dropFirst((page - 1) * Self.binsPerPage).prefix(Self.binsPerPage)
        var model: [String: Any] = [
            "streets": registry.streets.map { ["id": $0.id, "name": $0.name, "selected": $0.id == street?.id] },
            "communities": registry.communities.map {
                ["id": $0.id, "name": $0.name, "selected": $0.id == community?.id]
            },
            "streams": WasteStream.allCases.map {
                ["id": $0.rawValue, "name": text.report.stream($0), "selected": $0 == stream]
            },
            "shows": BinFilter.allCases.map { ["id": $0.rawValue, "name": text[$0.rawValue], "selected": $0 == show] },
            "sorts": [
                ["id": "point", "name": text["point"]], ["id": "fill", "name": text["fill"]],
                ["id": "mass", "name": text["mass"]],
                ["id": "seen", "name": text["lastSeen"]], ["id": "street", "name": text["street"]],
            ].map { entry -> [String: Any] in
                var entry: [String: Any] = entry
                entry["selected"] = (entry["id"] as? String) == sort.rawValue
                return entry
            },
            "view": view, "tableHref": context.href(["view": nil, "page": nil]),
            "mapHref": context.href(["view": "map", "page": nil]),
            "count": text.format("binsShown", String(selected.count), String(snapshot.bins.count)),
            "rows": shown.map { binRow($0, context) },
            "selectedCount": String(selected.count),
        ]
        if view == "map" { model["isMap"] = true } else { model["isTable"] = true }
        if pages > 1 {
            var pager: [String: Any] = ["text": text.format("page", String(page), String(pages))]
            if page > 1 { pager["previous"] = context.href(["page": String(page - 1)]) }
            if page < pages { pager["next"] = context.href(["page": String(page + 1)]) }
            model["pager"] = pager
        }
        if view == "map" {
            let devices = Set(selected.map(\.point.device))
            let points = snapshot.points.filter {
                devices.contains($0.point.device) || (show == .all && stream == nil && matches($0, street, community))
            }
            let located = points.filter { $0.point.location != nil }
            let labels: [DistrictSnapshot.Condition: String] = [
                .ok: text["legendOK"], .full: text["legendFull"], .fault: text["legendFault"],
                .offline: text["legendOffline"],
                .unknown: text["neverHeard"],
            ]
            let map = BinsMap(
                markers: located.map {
                    BinsMap.Marker(
                        device: $0.point.device, name: $0.point.name, street: $0.point.street,
                        location: $0.point.location!,
                        condition: $0.condition, label: labels[$0.condition] ?? "")
                },
                streetNames: Dictionary(uniqueKeysWithValues: registry.streets.map { ($0.id, $0.name) }),
                tiles: settings.mapTiles,
                attribution: settings.mapAttribution)
            model["map"] = map.svg()
            if located.isEmpty { model["noMap"] = text["noMap"] }
            if located.count < points.count, !located.isEmpty {
                model["unlocated"] = text.format("noCoordinates", String(points.count - located.count))
            }
            model["legend"] = [DistrictSnapshot.Condition.ok, .full, .fault, .offline].map {
                ["key": $0.rawValue, "label": labels[$0] ?? ""]
            }
        }
        return PageView(
            navigation: "bins", title: text["bins"], template: "bins", liveTemplate: "bins-live",
            liveTopics: [LiveUpdates.Topic.bins, LiveUpdates.Topic.alerts, LiveUpdates.Topic.devices], model: model,
            openAlerts: snapshot.openAlerts.count)
    }

    func matches(_ point: DistrictSnapshot.Point, _ street: Registry.Street?, _ community: Registry.Community?) -> Bool
    {
        (street == nil || point.point.street == street?.id)
            && (community == nil || point.point.community == community?.id)
    }

    // MARK: Alerts

    func alertValue(_ alert: AlertRecord, _ context: PageContext) -> String {
        guard let value = alert.value else { return "–" }
        switch alert.kind {
        case .binFull, .binOverflow, .contamination, .streamMixing, .massMissing:
            return context.format.percent(value, decimals: 0)
        case .binFullSoon: return String(format: "%.1f", value)
        case .deviceOffline: return context.format.duration(Int64(value))
        case .sensorFault: return String(Int(value))
        case .targetOffTrack, .coverageBehind:
            return context.text.report.track(TargetTrack.allCases[min(max(Int(value), 0), 2)])
        }
    }

    func alertRow(_ alert: AlertRecord, _ context: PageContext) -> [String: Any] {
        let format = context.format
        var row: [String: Any] = [
            "id": alert.id, "severity": alert.severity.rawValue,
            "severityLabel": context.text.report.severity(alert.severity),
            "kind": context.text.report.alertKind(alert.kind), "kindKey": alert.kind.rawValue, "subject": alert.subject,
            "value": alertValue(alert, context), "message": alert.message, "state": alert.state.rawValue,
            "stateLabel": context.text.report.alertState(alert.state), "raisedAt": format.time(alert.raisedAtMs),
            "raisedAgo": format.ago(alert.raisedAtMs),
        ]
        if let href = Self.subjectHref(alert.subject) { row["subjectHref"] = href }
        row["subjectName"] = subjectName(alert.subject, context)
        if let at = alert.acknowledgedAtMs {
            row["acknowledged"] = "\(format.time(at))\(alert.acknowledgedBy.map { " · \($0)" } ?? "")"
        }
        if let at = alert.clearedAtMs { row["cleared"] = format.time(at) }
        if alert.state == .raised, context.session?.role == .officer { row["canAck"] = true }
        return row
    }

    /// An alert's subject as people call it: the point's name and the bin, or the target's name.
    func subjectName(_ subject: String, _ context: PageContext) -> String {
        let kind = subject.prefix { $0 != ":" }
        let rest = String(subject.drop { $0 != ":" }.dropFirst())
        switch kind {
        case "bin":
            let device = String(rest.prefix { $0 != "/" })
            let bin = String(rest.drop { $0 != "/" }.dropFirst())
            return runtime.registry.point(device: device).map { "\($0.name) · \(bin)" } ?? subject
        case "device": return runtime.registry.point(device: rest)?.name ?? subject
        case "target":
            let names: [String: ReportLabels.Key] = [
                "separation_rate": .separationRate, "recovery_rate": .recoveryRate, "dry_reduction": .dryReduction,
                "contamination_rate": .contaminationRate,
            ]
            return names[rest].map { context.text.report($0) } ?? subject
        case "milestone":
            return runtime.configuration.targets.coverage.first { $0.id == rest }.map {
                "\(context.text["coverage"]) · \($0.name)"
            } ?? subject
        case "station":
            let station = String(rest.prefix { $0 != "/" })
            let day = String(rest.drop { $0 != "/" }.dropFirst())
            return runtime.registry.station(station).map { "\($0.name) · \(day)" } ?? subject
        default: return subject
        }
    }

    func alerts(_ context: PageContext) async throws -> PageView {
        let text = context.text
        let state = context.query("state") == "all" ? "all" : "open"
        let open = try await runtime.store.openAlerts()
        let records = state == "all" ? try await runtime.store.alerts(state: nil, limit: 300) : Array(open.reversed())
        var model: [String: Any] = [
            "rows": records.map { alertRow($0, context) }, "openHref": "/alerts", "allHref": "/alerts?state=all",
            "next": context.href(),
        ]
        model[state == "all" ? "isAll" : "isOpen"] = true
        if records.isEmpty { model["empty"] = state == "all" ? text["noAlerts"] : text["noOpenAlerts"] }
        switch context.session?.role {
        case .officer?: model["csrf"] = context.session?.csrf
        case .reader?: model["ackInfo"] = text["readOnlySession"]
        case nil:
            model["ackInfo"] = text["signInToAck"]
            model["ackSignIn"] = "/sign-in?next=\(Self.percentEncode(context.href()))"
        }
        return PageView(
            navigation: "alerts", title: text["alerts"], template: "alerts", liveTemplate: "alerts-live",
            liveTopics: [LiveUpdates.Topic.alerts], model: model, openAlerts: open.count)
    }

    // MARK: Targets

    func targets(_ context: PageContext) async throws -> PageView {
        let text = context.text
        let format = context.format
        let settings = runtime.configuration.targets
        let registry = runtime.registry
        let evaluator = TargetEvaluator(settings: settings, registry: registry)
        let today = runtime.calendar.today(nowMilliseconds: context.nowMs)
        let window = evaluator.window(today: today)
        async let dailyRequest = TargetEvaluator.districtDaily(
            store: runtime.store, registry: registry, from: window.lowerBound, to: today)
        async let devicesRequest = runtime.store.devices()
        async let openRequest = runtime.store.openAlerts()
        let daily = try await dailyRequest
        let coverage = TargetEvaluator.coveragePoints(
            registry: registry, devices: try await devicesRequest, nowMs: context.nowMs,
            windowHours: settings.coverageWindowHours)
        let statuses = evaluator.evaluate(today: today, daily: daily, coverage: coverage)
        let trendFrom = today.adding(days: Int64(1 - settings.trendDays))
        let days = (0..<settings.trendDays).map { trendFrom.adding(days: Int64($0)) }
        let cards: [[String: Any]] = statuses.map { status in
            var card = targetCard(status, context)
            var values: [Double?]
            var plan: [Double?] = []
            switch status.id {
            case "separation_rate": values = days.map { daily[$0]?.separationRate }
            case "recovery_rate": values = days.map { daily[$0]?.recoveryRate }
            case "contamination_rate": values = days.map { daily[$0]?.contaminationRate }
            case "dry_reduction":
                let baseline = settings.baselineDryKgPerDay ?? 1
                values = days.map { day in
                    daily[day].flatMap { $0.total.deposits > 0 ? 1 - $0[.dry].depositedKg / baseline : nil }
                }
            default:
                // Coverage has no daily history: its plan over the window, and today's value.
                let milestone = settings.coverage.first { "coverage.\($0.id)" == status.id }
                let start = settings.start ?? status.deadline.adding(days: -90)
                let span = Double(max(1, status.deadline.dayNumber - start.dayNumber))
                plan = days.map { day in
                    milestone == nil
                        ? nil : status.target * min(max(0, Double(day.dayNumber - start.dayNumber)), span) / span
                }
                values = days.map { $0 == today ? status.current : nil }
            }
            card["trend"] = SVGTrend(values: values, target: status.target, plan: plan).svg(
                firstLabel: String(trendFrom.description.suffix(5)), lastLabel: String(today.description.suffix(5)),
                title: "\(text.report.targetName(status)): \(text.format("trend", String(settings.trendDays)))")
            return card
        }
        var model: [String: Any] = ["cards": cards, "trendCaption": text.format("trend", String(settings.trendDays))]
        if cards.isEmpty { model["empty"] = text["noTargets"] }
        _ = format
        return PageView(
            navigation: "targets", title: text["targets"], template: "targets", liveTemplate: "targets-live",
            liveTopics: [LiveUpdates.Topic.ledger, LiveUpdates.Topic.devices], model: model,
            openAlerts: try await openRequest.count)
    }

    // MARK: Ledger

    /// The ledger page's table, which the page shows and `/ledger.csv` downloads, cell for cell.
    struct LedgerTable {
        var title: String
        var fileName: String
        var columns: [String]
        /// Per row: the period label, then numbers (`nil` for none) in the columns' order.
        var rows: [(label: String, values: [Double?])]
        var total: [Double?]
        var totalLabel: String
        /// Per column after the first: decimals, and whether it is a percentage.
        var kinds: [(decimals: Int, percent: Bool)]
        var chart: SVGChart
        var entityOptions: [[String: Any]]
        var periodOptions: [[String: Any]]
        var from: LocalDate
        var to: LocalDate
        var notice: String?

        func cell(_ value: Double?, column: Int, format: ConsoleFormat?) -> String {
            let kind = kinds[column]
            guard let value, value.isFinite else { return format == nil ? "" : "–" }
            if kind.percent { return String(format: format == nil ? "%.2f%%" : "%.1f%%", value * 100) }
            if let format { return format.number(value, decimals: kind.decimals) }
            return String(format: "%.\(kind.decimals)f", value)
        }

        func csv(language: ReportLanguage) -> String {
            var lines = [columns.map(csvField).joined(separator: ",")]
            for row in rows {
                lines.append(
                    ([row.label] + row.values.indices.map { cell(row.values[$0], column: $0, format: nil) }).map(
                        csvField
                    ).joined(separator: ","))
            }
            lines.append(
                ([totalLabel] + total.indices.map { cell(total[$0], column: $0, format: nil) }).map(csvField).joined(
                    separator: ","))
            return (language == .zh ? "\u{FEFF}" : "") + lines.joined(separator: "\r\n") + "\r\n"
        }

        func csvField(_ text: String) -> String {
            var text = text
            if let first = text.first, "=+-@\t\r".contains(first), Double(text) == nil { text = "'" + text }
            return text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
                ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
        }
    }

    func ledgerTable(_ context: PageContext) async throws -> LedgerTable {
        let registry = runtime.registry
        let text = context.text
        let today = runtime.calendar.today(nowMilliseconds: context.nowMs)
        let entity = context.query("entity") ?? "district"
        let (levelName, id) = entity.split(separator: ":", maxSplits: 1).map(String.init).paired
        guard let level = LedgerLevel(rawValue: levelName), level != .bin,
            let devices = registry.devices(level: level, id: id)
        else {
            throw AggregatorError(.notFound, "no \(entity.prefix(80)) in the registry")
        }
        let period = context.query("period").flatMap(LedgerPeriod.init(rawValue:)) ?? .day
        var to = context.query("to").flatMap { LocalDate($0) } ?? today
        var from = context.query("from").flatMap { LocalDate($0) } ?? to.adding(days: -29)
        if from > to { (from, to) = (to, from) }
        var notice: String?
        let longest: Int64 = period == .day ? 400 : 3660
        if to.dayNumber - from.dayNumber >= longest {
            from = to.adding(days: 1 - longest)
            notice = text.format("rangeTooLong", String(longest), String(longest))
        }
        let totals = try await runtime.store.dailyTotals(devices: devices, from: from, to: to)
        var byPeriod: [String: [WasteStream: LedgerFigures]] = [:]
        for total in totals {
            byPeriod[period.label(containing: total.day), default: [:]][total.stream, default: .zero] += total.figures
        }
        var labels: [String] = []
        var day = from
        while day <= to {
            labels.append(period.label(containing: day))
            day = period.range(containing: day).upperBound.adding(days: 1)
        }
        func values(_ figures: StreamFigures) -> [Double?] {
            let total = figures.total
            return WasteStream.allCases.map { figures[$0].depositedKg } + [
                total.depositedKg, total.collectedKg, total.contaminatedKg, total.unknownKg, Double(total.deposits),
                figures.separationRate, figures.recoveryRate, figures.contaminationRate,
            ]
        }
        let rows = labels.map { ($0, values(StreamFigures(byStream: byPeriod[$0] ?? [:]))) }
        let all = StreamFigures(
            byStream: byPeriod.values.reduce(into: [:]) { sum, figures in sum.merge(figures, uniquingKeysWith: +) })
        let kg = text["kg"]
        let columns =
            [text[period.rawValue]] + WasteStream.allCases.map { "\(text.report.stream($0)) (\(kg))" } + [
                "\(text["total"]) (\(kg))", "\(text["collected"]) (\(kg))", "\(text["contaminated"]) (\(kg))",
                "\(text["unknown"]) (\(kg))", text["deposits"], text["separationRate"], text["recoveryRate"],
                text["contaminationRate"],
            ]
        let kinds: [(Int, Bool)] =
            Array(repeating: (1, false), count: 8) + [(0, false), (1, true), (1, true), (1, true)]
        let chart = SVGChart(
            categories: labels.map { $0.count == 10 ? String($0.suffix(5)) : $0 },
            series: WasteStream.allCases.map { stream in
                SVGChart.Series(
                    name: text.report.stream(stream), color: stream.color,
                    values: labels.map { byPeriod[$0]?[stream]?.depositedKg ?? 0 })
            }, unit: kg)

        var entityName = registry.districtName
        switch level {
        case .street: entityName = registry.street(id ?? "")?.name ?? entityName
        case .community: entityName = registry.community(id ?? "")?.name ?? entityName
        case .point: entityName = registry.point(device: id ?? "")?.name ?? entityName
        default: break
        }
        func option(_ value: String, _ name: String) -> [String: Any] {
            ["value": value, "name": name, "selected": value == entity]
        }
        let options: [[String: Any]] = [
            ["group": text["district"], "options": [option("district", registry.districtName)]],
            ["group": text["street"], "options": registry.streets.map { option("street:\($0.id)", $0.name) }],
            [
                "group": text["community"],
                "options": registry.communities.map { option("community:\($0.id)", $0.name) },
            ],
            [
                "group": text["point"],
                "options": registry.points.map { option("point:\($0.device)", "\($0.name) (\($0.device))") },
            ],
        ]
        let periods: [[String: Any]] = [LedgerPeriod.day, .week, .month, .quarter, .year].map {
            ["id": $0.rawValue, "name": text[$0.rawValue], "selected": $0 == period]
        }
        let safeName = entity.replacingOccurrences(of: ":", with: "-").filter {
            $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "."
        }
        return LedgerTable(
            title: "\(entityName) · \(from) – \(to)",
            fileName: "ledger-\(safeName)-\(from)-\(to)-\(period.rawValue)-\(context.language.rawValue).csv",
            columns: columns, rows: rows, total: values(all), totalLabel: text["total"], kinds: kinds, chart: chart,
            entityOptions: options, periodOptions: periods, from: from, to: to, notice: notice)
    }

    func ledger(_ context: PageContext) async throws -> PageView {
        let table = try await ledgerTable(context)
        async let openRequest = runtime.store.openAlerts()
        let format = context.format
        var model: [String: Any] = [
            "caption": table.title, "columns": table.columns,
            "rows": table.rows.map { row in
                [
                    "label": row.label,
                    "cells": row.values.indices.map { table.cell(row.values[$0], column: $0, format: format) },
                ] as [String: Any]
            },
            "total": [
                "label": table.totalLabel,
                "cells": table.total.indices.map { table.cell(table.total[$0], column: $0, format: format) },
            ],
            "chart": table.chart.svg(width: 1100, height: 280, fontSize: 12, title: context.text["tonnage"]),
            "entities": table.entityOptions, "periods": table.periodOptions, "from": table.from.description,
            "to": table.to.description, "csvHref": context.href(path: "/ledger.csv"),
        ]
        if let notice = table.notice { model["rangeNotice"] = notice }
        return PageView(
            navigation: "ledger", title: context.text["ledger"], template: "ledger", liveTemplate: "ledger-live",
            liveTopics: [LiveUpdates.Topic.ledger], model: model, openAlerts: try await openRequest.count)
    }

    // MARK: Reports

    func reports(_ context: PageContext) async throws -> PageView {
        let text = context.text
        let today = runtime.calendar.today(nowMilliseconds: context.nowMs)
        let recent: [(ReportKind, [LocalDate])] = [
            (.daily, (0..<7).map { today.adding(days: -Int64($0)) }),
            (.weekly, (0..<4).map { today.adding(days: -7 * Int64($0)) }),
            (.monthly, Self.steps(from: today, count: 3, period: .month)),
            (.quarterly, Self.steps(from: today, count: 4, period: .quarter)),
            (.yearly, Self.steps(from: today, count: 2, period: .year)),
        ]
        var kinds: [[String: Any]] = recent.map { kind, dates in
            [
                "title": text.report.title(kind), "kind": kind.rawValue,
                "periods": dates.map { date -> [String: Any] in
                    let link = { (format: String, language: String) in
                        "/api/v1/reports/\(kind.rawValue)?date=\(date)&format=\(format)&lang=\(language)"
                    }
                    return [
                        "label": kind.period.label(containing: date),
                        "links": [
                            ["href": link("html", "en"), "label": "HTML · EN"],
                            ["href": link("html", "zh"), "label": "HTML · 中文"],
                            ["href": link("csv", "en"), "label": "CSV · EN"],
                            ["href": link("csv", "zh"), "label": "CSV · 中文"],
                        ],
                    ]
                },
            ]
        }
        // The collection plan for today's and tomorrow's round, with the transfer stations' balance in the
        // daily reports above.
        kinds.append([
            "title": text.report(.planTitle), "kind": "plan",
            "periods": [today, today.adding(days: 1)].map { date -> [String: Any] in
                let link = { (format: String, language: String) in
                    "/api/v1/plan?date=\(date)&format=\(format)&lang=\(language)"
                }
                return [
                    "label": date.description,
                    "links": [
                        ["href": link("html", "en"), "label": "HTML · EN"],
                        ["href": link("html", "zh"), "label": "HTML · 中文"],
                        ["href": link("csv", "en"), "label": "CSV · EN"],
                        ["href": link("csv", "zh"), "label": "CSV · 中文"],
                    ],
                ]
            },
        ])
        let model: [String: Any] = [
            "kinds": kinds, "today": today.description,
            "kindOptions": ReportKind.allCases.map { ["id": $0.rawValue, "name": text.report.title($0)] },
        ]
        return PageView(
            navigation: "reports", title: text["reports"], template: "reports", liveTemplate: nil, liveTopics: [],
            model: model,
            openAlerts: try await openAlertCount())
    }

    /// `count` dates, one in each of the last periods up to `date`'s.
    static func steps(from date: LocalDate, count: Int, period: LedgerPeriod) -> [LocalDate] {
        var dates: [LocalDate] = []
        var day = date
        for _ in 0..<count {
            dates.append(day)
            day = period.range(containing: day).lowerBound.adding(days: -1)
        }
        return dates
    }

    /// `/reports/open?kind=&date=&format=&lang=`: the form's way to a report.
    func openReport(_ request: Request) -> Response {
        let query = request.uri.queryParameters
        let kind = query.get("kind").flatMap(ReportKind.init(rawValue:)) ?? .daily
        let date = query.get("date").flatMap { LocalDate($0) } ?? runtime.calendar.today(nowMilliseconds: clock())
        let format = query.get("format").flatMap(ReportFormat.init(rawValue:)) ?? .html
        let language = query.get("lang").flatMap(ReportLanguage.init(rawValue:)) ?? .en
        return .redirect(
            to: "/api/v1/reports/\(kind.rawValue)?date=\(date)&format=\(format.rawValue)&lang=\(language.rawValue)",
            type: .normal)
    }

    // MARK: One point

    func point(_ device: String, _ context: PageContext) async throws -> PageView {
        let text = context.text
        let format = context.format
        guard let point = runtime.registry.point(device: device) else {
            throw AggregatorError(.notFound, text.format("unknownPoint", String(device.prefix(64))))
        }
        async let eventsRequest = runtime.store.recentEvents(device: device, limit: 50)
        async let gapsRequest = runtime.store.sequenceGaps(device: device)
        let snapshot = try await DistrictSnapshot.load(runtime: runtime, nowMs: context.nowMs)
        let events = try await eventsRequest
        let gaps = try await gapsRequest
        let here = snapshot.points.first { $0.point.device == device }
        let record = here?.device
        let registry = runtime.registry
        var model: [String: Any] = [
            "name": point.name, "device": device,
            "community": registry.community(point.community)?.name ?? point.community,
            "street": registry.street(point.street)?.name ?? point.street,
            "rows": (here?.bins ?? []).map { binRow($0, context) },
            "alerts": (here?.alerts ?? []).sorted { $0.raisedAtMs > $1.raisedAtMs }.map { alertRow($0, context) },
            "statusKey": here.map { $0.live ? "online" : ($0.device?.lastSeenMs == nil ? "unknown" : "offline") }
                ?? "unknown",
            "status": here.map {
                $0.live ? text["online"] : ($0.device?.lastSeenMs == nil ? text["neverHeard"] : text["offline"])
            } ?? "",
            "lastSeen": format.ago(record?.lastSeenMs), "lastSeenAt": format.time(record?.lastSeenMs),
            "firmware": record?.version ?? "–", "board": record?.board ?? "–",
            "configHash": record?.configHash.map { String($0.prefix(12)) } ?? "–",
            "session": record?.session.map(String.init) ?? "–",
            "outboxDepth": record?.outboxDepth.map(String.init) ?? "–",
            "dropped": record?.droppedTotal.map(String.init) ?? "–",
            "gaps": gaps.isEmpty ? text["none"] : gaps.map { "\($0.first)–\($0.last)" }.joined(separator: ", "),
            "faults": (here?.faults ?? []).map {
                [
                    "code": $0.code, "bin": $0.bin.isEmpty ? device : $0.bin, "detail": $0.detail,
                    "at": format.shortTime($0.at),
                ]
            },
            "events": events.map { eventRow($0, context) },
        ]
        if let location = point.location {
            model["location"] = String(format: "%.5f, %.5f", location.latitude, location.longitude)
        }
        if let health = runtime.live.lastHealth(device: device) {
            let payload = health.payload
            model["health"] = [
                "at": format.ago(health.receivedAtMs), "uptime": format.duration(Int64(payload.uptimeS)),
                "samples": format.number(Double(payload.samplesTotal), decimals: 0),
                "sampleErrors": String(payload.sampleErrorsTotal), "hx711Retries": String(payload.hx711RetriesTotal),
                "publishFailures": String(payload.publishFailuresTotal), "reconnects": String(payload.reconnectsTotal),
                "outboxDepth": String(payload.outboxDepth), "dropped": String(payload.droppedTotal),
                "activeFaults": payload.activeFaults.isEmpty
                    ? text["none"] : payload.activeFaults.joined(separator: ", "),
            ]
        }
        if events.isEmpty { model["noEvents"] = text["noEvents"] }
        if !(here?.faults ?? []).isEmpty { model["hasFaults"] = true }
        if !(here?.alerts ?? []).isEmpty { model["hasAlerts"] = true }
        return PageView(
            navigation: "", title: point.name, template: "point", liveTemplate: "point-live",
            liveTopics: [LiveUpdates.Topic.device(device), LiveUpdates.Topic.alerts], model: model,
            openAlerts: snapshot.openAlerts.count)
    }

    func eventRow(_ stored: StoredEvent, _ context: PageContext) -> [String: Any] {
        let text = context.text
        let format = context.format
        let event = stored.event
        var row: [String: Any] = [
            "seq": String(event.seq), "time": format.shortTime(event.ts), "bin": event.bin ?? "–",
            "type": event.type.rawValue,
            "typeLabel": text[event.type.rawValue],
        ]
        if event.historical { row["historical"] = text["historical"] }
        switch event.body {
        case .deposit(let deposit):
            row["mass"] = "\(format.number(deposit.massKg, decimals: 2)) \(text["kg"])"
            row["volume"] = deposit.volumeL.map { "\(format.number($0, decimals: 1)) L" } ?? "–"
            row["class"] = text["\(deposit.observed.rawValue)Observed"]
            row["confidence"] = format.percent(deposit.confidence, decimals: 0)
            if deposit.quality != .good { row["qualityNote"] = text["quality.\(deposit.quality.rawValue)"] }
            if deposit.contaminated { row["contaminated"] = text["misSorted"] }
        case .collection(let collection):
            row["mass"] = "\(format.number(collection.massKg, decimals: 1)) \(text["kg"])"
            row["detail"] =
                collection.fillBefore.map { "\(text["fillBefore"]) \(format.percent($0, decimals: 0))" } ?? ""
        case .fault(let fault):
            row["detail"] =
                "\(fault.code) · \(fault.active ? text["faultRaised"] : text["faultCleared"]) · \(fault.detail)"
            if fault.active { row["faultActive"] = true }
        }
        return row
    }
}

extension Array where Element == String {
    /// `["street", "st-east"]` → `("street", "st-east")`; `["district"]` → `("district", nil)`.
    fileprivate var paired: (String, String?) { (first ?? "", count > 1 ? self[1] : nil) }
}
