import BinProtocol
import Foundation

/// A report laid out for people: titled sections of tables and charts, with labels in one language. CSV
/// and HTML render from this; JSON renders the typed report directly.
struct ReportDocument {
    enum Cell {
        case text(String)
        case number(Double?, decimals: Int)
        /// A fraction shown as a percentage.
        case percent(Double?)
        case integer(Int?)
    }

    struct Table {
        var columns: [String]
        var rows: [[Cell]]
    }

    typealias Series = SVGChart.Series
    /// Bars per category, stacked when there are several series.
    typealias Chart = SVGChart

    struct Section {
        var title: String
        var chart: Chart?
        var table: Table
    }

    var title: String
    var meta: [(String, String)]
    var sections: [Section]
}

extension ReportDocument {
    init(_ content: ReportContent, labels: ReportLabels) {
        let header = content.header
        title = labels.title(header.kind)
        meta = [
            (labels(.district), "\(header.districtName) (\(header.districtID))"),
            (
                labels(.period),
                header.from == header.to ? header.period : "\(header.period): \(header.from) – \(header.to)"
            ),
            (labels(.timeZone), header.timeZone),
            (labels(.generated), header.generatedAt.rfc3339),
        ]
        switch content {
        case .daily(let report): sections = Self.daily(report, labels)
        case .weekly(let report): sections = Self.weekly(report, labels)
        case .monthly(let report):
            sections = Self.monthly(report, labels)
            meta.append((labels(.daysCovered), String(report.days)))
            meta.append((labels(.collectionFill), "\(Int((report.collectionFill * 100).rounded()))%"))
        case .review(let report):
            sections = Self.review(report, labels)
            meta.append((labels(.fundingPool), String(format: "%.2f %@", report.fundingPool, report.currency)))
        }
    }

    // MARK: Shared tables

    static func figuresColumns(_ labels: ReportLabels, first: [String]) -> [String] {
        first + WasteStream.allCases.map { "\(labels.stream($0)): \(labels(.depositedKg))" } + [
            labels(.collectedKg), labels(.deposits), labels(.contaminatedKg), labels(.unknownKg),
            labels(.separationRate),
            labels(.recoveryRate), labels(.contaminationRate),
        ]
    }

    static func figuresCells(_ row: FiguresRow, first: [Cell]) -> [Cell] {
        first + WasteStream.allCases.map { .number(row.streams[$0].depositedKg, decimals: 2) } + [
            .number(row.total.collectedKg, decimals: 2), .integer(row.total.deposits),
            .number(row.total.contaminatedKg, decimals: 2),
            .number(row.total.unknownKg, decimals: 2), .percent(row.separationRate), .percent(row.recoveryRate),
            .percent(row.contaminationRate),
        ]
    }

    static func streamChart(_ rows: [FiguresRow], categories: [String], labels: ReportLabels) -> Chart {
        Chart(
            categories: categories,
            series: WasteStream.allCases.map { stream in
                Series(
                    name: labels.stream(stream), color: stream.color,
                    values: rows.map { $0.streams[stream].depositedKg })
            },
            unit: "kg")
    }

    static func streamTable(_ row: FiguresRow, _ labels: ReportLabels) -> Table {
        Table(
            columns: [
                labels(.stream), labels(.depositedKg), labels(.collectedKg), labels(.deposits), labels(.contaminatedKg),
                labels(.unknownKg),
            ],
            rows: WasteStream.allCases.map { stream in
                let figures = row.streams[stream]
                return [
                    .text(labels.stream(stream)), .number(figures.depositedKg, decimals: 2),
                    .number(figures.collectedKg, decimals: 2),
                    .integer(figures.deposits), .number(figures.contaminatedKg, decimals: 2),
                    .number(figures.unknownKg, decimals: 2),
                ]
            } + [
                [
                    .text(labels(.totals)), .number(row.total.depositedKg, decimals: 2),
                    .number(row.total.collectedKg, decimals: 2),
                    .integer(row.total.deposits), .number(row.total.contaminatedKg, decimals: 2),
                    .number(row.total.unknownKg, decimals: 2),
                ]
            ])
    }

    static func alertTable(_ alerts: [AlertLine], _ labels: ReportLabels) -> Table {
        Table(
            columns: [
                labels(.kind), labels(.subject), labels(.severity), labels(.state), labels(.raised), labels(.cleared),
                labels(.message),
            ],
            rows: alerts.map {
                [
                    .text(labels.alertKind($0.kind)), .text($0.subject), .text(labels.severity($0.severity)),
                    .text(labels.alertState($0.state)), .text($0.raisedAt.rfc3339), .text($0.clearedAt?.rfc3339 ?? ""),
                    .text($0.message),
                ]
            })
    }

    static func targetTable(_ targets: [TargetStatus], _ labels: ReportLabels) -> Table {
        Table(
            columns: [
                labels(.targetName), labels(.target), labels(.current), labels(.projected), labels(.planned),
                labels(.deadline),
                labels(.status), labels(.detail),
            ],
            rows: targets.map {
                [
                    .text(labels.targetName($0)), .percent($0.target), .percent($0.current), .percent($0.projected),
                    .percent($0.planned),
                    .text($0.deadline.description), .text(labels.track($0.status)), .text($0.detail),
                ]
            })
    }

    /// One row per station, day and stream (and the period's totals when there are several days).
    static func balanceSection(_ stations: [StationBalanceSection], _ labels: ReportLabels) -> Section {
        var rows: [[Cell]] = []
        for station in stations {
            for day in station.days {
                let flags = day.flags.map { labels.alertKind($0) }.joined(separator: ", ")
                for line in day.streams {
                    rows.append([
                        .text(station.name), .text(day.date.description), .text(labels.stream(line.stream)),
                        .number(line.collectedKg, decimals: 1), .number(line.receivedKg, decimals: 1),
                        .number(line.differenceKg, decimals: 1),
                        .percent(line.ratio), .text(flags),
                    ])
                }
            }
            if station.days.count > 1 {
                for line in station.totals {
                    rows.append([
                        .text(station.name),
                        .text("\(labels(.totals)) (\(labels(.flaggedDays)): \(station.flaggedDays))"),
                        .text(labels.stream(line.stream)), .number(line.collectedKg, decimals: 1),
                        .number(line.receivedKg, decimals: 1),
                        .number(line.differenceKg, decimals: 1), .percent(line.ratio), .text(""),
                    ])
                }
            }
        }
        return Section(
            title: labels(.stationBalance), chart: nil,
            table: Table(
                columns: [
                    labels(.station), labels(.date), labels(.stream), labels(.collectedKg), labels(.receivedKg),
                    labels(.differenceKg),
                    labels(.ratio), labels(.flags),
                ], rows: rows))
    }

    // MARK: Daily

    static func daily(_ report: DailyReport, _ labels: ReportLabels) -> [Section] {
        [
            Section(
                title: labels(.districtTotals),
                chart: Chart(
                    categories: WasteStream.allCases.map { labels.stream($0) },
                    series: [
                        Series(
                            name: labels(.depositedKg), color: "#6b8e23",
                            values: WasteStream.allCases.map { report.district.streams[$0].depositedKg })
                    ], unit: "kg"),
                table: streamTable(report.district, labels)),
            Section(
                title: labels(.byCommunity), chart: nil,
                table: Table(
                    columns: figuresColumns(labels, first: [labels(.community), labels(.street)]),
                    rows: report.communities.map { figuresCells($0, first: [.text($0.name), .text($0.parent ?? "")]) })),
            Section(title: labels(.offlineDevices), chart: nil, table: alertTable(report.offlineDevices, labels)),
            Section(title: labels(.fullBins), chart: nil, table: alertTable(report.fullBins, labels)),
            Section(
                title: labels(.faults), chart: nil,
                table: Table(
                    columns: [
                        labels(.time), labels(.device), labels(.bin), labels(.code), labels(.active), labels(.detail),
                    ],
                    rows: report.faults.map {
                        [
                            .text($0.at.rfc3339), .text($0.device), .text($0.bin ?? ""), .text($0.code),
                            .text($0.active ? labels(.yes) : labels(.no)), .text($0.detail),
                        ]
                    })),
            Section(
                title: labels(.hotSpots), chart: nil,
                table: Table(
                    columns: [
                        labels(.point), labels(.community), labels(.bin), labels(.stream), labels(.depositedKg),
                        labels(.contaminatedKg), labels(.rate),
                    ],
                    rows: report.contaminationHotSpots.map {
                        [
                            .text($0.point), .text($0.community), .text($0.bin), .text(labels.stream($0.stream)),
                            .number($0.depositedKg, decimals: 2), .number($0.contaminatedKg, decimals: 2),
                            .percent($0.rate),
                        ]
                    })),
            balanceSection(report.stations, labels),
        ]
    }

    // MARK: Weekly

    static func weekly(_ report: WeeklyReport, _ labels: ReportLabels) -> [Section] {
        [
            Section(title: labels(.districtTotals), chart: nil, table: streamTable(report.district, labels)),
            Section(
                title: labels(.byDay),
                chart: streamChart(
                    report.days, categories: report.days.map { String($0.id.suffix(5)) }, labels: labels),
                table: Table(
                    columns: figuresColumns(labels, first: [labels(.date)]),
                    rows: report.days.map { figuresCells($0, first: [.text($0.id)]) })),
            Section(
                title: labels(.byCommunity),
                chart: streamChart(report.communities, categories: report.communities.map(\.name), labels: labels),
                table: Table(
                    columns: figuresColumns(labels, first: [labels(.community), labels(.street)]),
                    rows: report.communities.map { figuresCells($0, first: [.text($0.name), .text($0.parent ?? "")]) })),
            Section(title: labels(.targets), chart: nil, table: targetTable(report.targets, labels)),
            Section(
                title: labels(.alertsRaised), chart: nil,
                table: Table(
                    columns: [labels(.kind), labels(.count)],
                    rows: report.alerts.map { [.text(labels.alertKind($0.kind)), .integer($0.count)] })),
        ]
    }

    // MARK: Monthly

    static func monthly(_ report: MonthlyReport, _ labels: ReportLabels) -> [Section] {
        var rows: [[Cell]] = []
        var categories: [String] = []
        var fill: [Double] = []
        for point in report.points {
            for bin in point.bins {
                rows.append([
                    .text(point.name), .text(point.device), .text(point.community), .text(bin.bin),
                    .text(labels.stream(bin.stream)),
                    .number(bin.capacityL, decimals: 0), .number(bin.depositedKg, decimals: 2),
                    .number(bin.depositedL, decimals: 1),
                    .percent(bin.fillRatePerDay), .integer(bin.suggestedCollectionsPerWeek), .integer(bin.collections),
                    .number(bin.collectedKg / 1000, decimals: 3), .text(bin.forecastCollectionAt?.rfc3339 ?? ""),
                    .text(bin.forecastFullAt?.rfc3339 ?? ""),
                ])
                categories.append("\(point.device)/\(bin.bin)")
                fill.append((bin.fillRatePerDay ?? 0) * 100)
            }
        }
        let tonnage = Table(
            columns: [labels(.point), labels(.device)]
                + WasteStream.allCases.map { "\(labels.stream($0)): \(labels(.tonnes))" },
            rows: report.points.map { point in
                [.text(point.name), .text(point.device)]
                    + WasteStream.allCases.map { .number(point.collectedTonnes[$0.rawValue] ?? 0, decimals: 3) }
            } + [
                [.text(labels(.totals)), .text("")]
                    + WasteStream.allCases.map { .number(report.collectedTonnes[$0.rawValue] ?? 0, decimals: 3) }
            ])
        return [
            Section(
                title: labels(.dispatch),
                chart: Chart(
                    categories: categories,
                    series: [Series(name: labels(.fillRatePerDay), color: "#2f6fb3", values: fill)], unit: "%"),
                table: Table(
                    columns: [
                        labels(.point), labels(.device), labels(.community), labels(.bin), labels(.stream),
                        labels(.capacityL), labels(.depositedKg),
                        labels(.depositedL), labels(.fillRatePerDay), labels(.suggestedPerWeek), labels(.collections),
                        "\(labels(.collectedKg).replacingOccurrences(of: "(kg)", with: "(t)").replacingOccurrences(of: "（千克）", with: "（吨）"))",
                        labels(.forecastCollection), labels(.forecastFull),
                    ], rows: rows)),
            Section(title: labels(.collectedTonnage), chart: nil, table: tonnage),
            balanceSection(report.stations, labels),
        ]
    }

    // MARK: Review

    static func review(_ report: ReviewReport, _ labels: ReportLabels) -> [Section] {
        let components = ScoreComponent.allCases
        let ranking = Table(
            columns: [
                labels(.rank), labels(.street), labels(.households), labels(.depositedKg), labels(.separationRate),
                labels(.recoveryRate),
                labels(.contaminationRate), labels(.dryKgPerDay), labels(.baselineDryKgPerDay), labels(.dryReduction),
                labels(.coverage),
            ]
                + components.map { "\(labels.component($0)) (\(labels(.score)))" }
                + [labels(.score), labels(.fundingShare), "\(labels(.funding)) (\(report.currency))"],
            rows: report.streets.map { street in
                [
                    .integer(street.rank), .text(street.name), .integer(street.households),
                    .number(street.figures.total.depositedKg, decimals: 2),
                    .percent(street.figures.separationRate), .percent(street.figures.recoveryRate),
                    .percent(street.figures.contaminationRate),
                    .number(street.dryKgPerDay, decimals: 2), .number(street.baselineDryKgPerDay, decimals: 2),
                    .percent(street.dryReduction),
                    .percent(street.coverage),
                ] + components.map { .percent(street.components[$0.rawValue]) } + [
                    .number(street.score, decimals: 1), .percent(street.fundingShare),
                    .number(street.fundingAmount, decimals: 2),
                ]
            })
        return [
            Section(
                title: labels(.streetRanking),
                chart: Chart(
                    categories: report.streets.map(\.name),
                    series: [Series(name: labels(.score), color: "#2f6fb3", values: report.streets.map(\.score))],
                    unit: ""),
                table: ranking),
            Section(
                title: labels(.weights), chart: nil,
                table: Table(
                    columns: [labels(.kind), labels(.rate)],
                    rows: components.map { [.text(labels.component($0)), .percent(report.weights[$0.rawValue])] })),
            Section(title: labels(.districtTotals), chart: nil, table: streamTable(report.district, labels)),
            Section(title: labels(.targets), chart: nil, table: targetTable(report.targets, labels)),
        ]
    }
}
