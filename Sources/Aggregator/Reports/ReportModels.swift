import BinProtocol

/// The reports the district is graded on.
public enum ReportKind: String, Sendable, Codable, CaseIterable {
    /// One local day: offline devices, full and overflowing bins, faults, contamination hot spots.
    case daily
    /// The ISO week containing the date.
    case weekly
    /// The month containing the date: collection dispatch per point.
    case monthly
    /// The quarter containing the date: per-street review, score, ranking, funding share.
    case quarterly
    /// The calendar year containing the date: the same review over the year.
    case yearly

    public var period: LedgerPeriod {
        switch self {
        case .daily: .day
        case .weekly: .week
        case .monthly: .month
        case .quarterly: .quarter
        case .yearly: .year
        }
    }
}

public enum ReportFormat: String, Sendable, Codable, CaseIterable {
    case json, csv, html

    public var contentType: String {
        switch self {
        case .json: "application/json; charset=utf-8"
        case .csv: "text/csv; charset=utf-8"
        case .html: "text/html; charset=utf-8"
        }
    }
}

public enum ReportLanguage: String, Sendable, Codable, CaseIterable {
    case en, zh
}

public struct ReportHeader: Sendable, Codable, Equatable {
    public var kind: ReportKind
    public var districtID: String
    public var districtName: String
    /// `2026-06-01`, `2026-W23`, `2026-06`, `2026-Q2` or `2026`.
    public var period: String
    public var from: LocalDate
    public var to: LocalDate
    public var timeZone: String
    public var generatedAt: WireTimestamp

    enum CodingKeys: String, CodingKey {
        case kind, period, from, to
        case districtID = "district_id"
        case districtName = "district_name"
        case timeZone = "time_zone"
        case generatedAt = "generated_at"
    }
}

/// Ledger figures of one subject (the district, a street, a community, a day) with its rates.
public struct FiguresRow: Sendable, Codable, Equatable {
    public var id: String
    public var name: String
    /// The street of a community, the community of a point.
    public var parent: String?
    public var streams: StreamFigures
    public var total: LedgerFigures
    public var separationRate: Double?
    public var recoveryRate: Double?
    public var contaminationRate: Double?

    public init(id: String, name: String, parent: String? = nil, streams: StreamFigures) {
        self.id = id
        self.name = name
        self.parent = parent
        self.streams = streams
        total = streams.total
        separationRate = streams.separationRate
        recoveryRate = streams.recoveryRate
        contaminationRate = streams.contaminationRate
    }

    enum CodingKeys: String, CodingKey {
        case id, name, parent, streams, total
        case separationRate = "separation_rate"
        case recoveryRate = "recovery_rate"
        case contaminationRate = "contamination_rate"
    }
}

public struct AlertLine: Sendable, Codable, Equatable {
    public var id: String
    public var kind: AlertKind
    public var severity: AlertSeverity
    public var state: AlertState
    public var subject: String
    public var value: Double?
    public var raisedAt: WireTimestamp
    public var clearedAt: WireTimestamp?
    public var message: String

    enum CodingKeys: String, CodingKey {
        case id, kind, severity, state, subject, value, message
        case raisedAt = "raised_at"
        case clearedAt = "cleared_at"
    }
}

public struct FaultLine: Sendable, Codable, Equatable {
    public var device: String
    public var bin: String?
    public var code: String
    public var active: Bool
    public var at: WireTimestamp
    public var detail: String
}

public struct HotSpot: Sendable, Codable, Equatable {
    public var device: String
    public var point: String
    public var community: String
    public var bin: String
    public var stream: WasteStream
    public var depositedKg: Double
    public var contaminatedKg: Double
    public var rate: Double

    enum CodingKeys: String, CodingKey {
        case device, point, community, bin, stream, rate
        case depositedKg = "deposited_kg"
        case contaminatedKg = "contaminated_kg"
    }
}

/// One stream of a station's balance over a day or a period.
public struct BalanceStreamLine: Sendable, Codable, Equatable {
    public var stream: WasteStream
    public var collectedKg: Double
    public var receivedKg: Double
    public var differenceKg: Double
    public var ratio: Double?

    public init(_ balance: StreamBalance) {
        stream = balance.stream
        collectedKg = balance.collectedKg
        receivedKg = balance.receivedKg
        differenceKg = balance.differenceKg
        ratio = balance.ratio
    }

    enum CodingKeys: String, CodingKey {
        case stream, ratio
        case collectedKg = "collected_kg"
        case receivedKg = "received_kg"
        case differenceKg = "difference_kg"
    }
}

/// A station's day in a report: its streams and the balance kinds it reached.
public struct BalanceDayLine: Sendable, Codable, Equatable {
    public var date: LocalDate
    public var streams: [BalanceStreamLine]
    public var collectedKg: Double
    public var receivedKg: Double
    public var ratio: Double?
    public var flags: [AlertKind]

    enum CodingKeys: String, CodingKey {
        case date, streams, ratio, flags
        case collectedKg = "collected_kg"
        case receivedKg = "received_kg"
    }
}

/// A transfer station's mass balance over the report's period: each day, the period's totals per
/// stream, and how many days were flagged.
public struct StationBalanceSection: Sendable, Codable, Equatable {
    public var station: String
    public var name: String
    public var days: [BalanceDayLine]
    public var totals: [BalanceStreamLine]
    public var flaggedDays: Int

    enum CodingKeys: String, CodingKey {
        case station, name, days, totals
        case flaggedDays = "flagged_days"
    }
}

public struct DailyReport: Sendable, Codable, Equatable {
    public var header: ReportHeader
    public var district: FiguresRow
    public var communities: [FiguresRow]
    public var offlineDevices: [AlertLine]
    public var fullBins: [AlertLine]
    public var faults: [FaultLine]
    public var contaminationHotSpots: [HotSpot]
    /// The day's mass balance at each transfer station.
    public var stations: [StationBalanceSection]

    enum CodingKeys: String, CodingKey {
        case header, district, communities, faults, stations
        case offlineDevices = "offline_devices"
        case fullBins = "full_bins"
        case contaminationHotSpots = "contamination_hot_spots"
    }
}

public struct AlertCount: Sendable, Codable, Equatable {
    public var kind: AlertKind
    public var count: Int
}

public struct WeeklyReport: Sendable, Codable, Equatable {
    public var header: ReportHeader
    public var district: FiguresRow
    /// One row per day of the week, id = the date.
    public var days: [FiguresRow]
    public var communities: [FiguresRow]
    public var targets: [TargetStatus]
    public var alerts: [AlertCount]
}

public struct DispatchBin: Sendable, Codable, Equatable {
    public var bin: String
    public var stream: WasteStream
    public var capacityL: Double?
    public var depositedKg: Double
    public var depositedL: Double
    public var collectedKg: Double
    public var collections: Int
    /// Fraction of the bin's capacity filled per day.
    public var fillRatePerDay: Double?
    public var suggestedCollectionsPerWeek: Int?
    /// From the bin's latest reading and its learned rate, as of the report's making (nil without one).
    public var forecastCollectionAt: WireTimestamp?
    public var forecastFullAt: WireTimestamp?

    enum CodingKeys: String, CodingKey {
        case bin, stream, collections
        case forecastCollectionAt = "forecast_collection_at"
        case forecastFullAt = "forecast_full_at"
        case capacityL = "capacity_l"
        case depositedKg = "deposited_kg"
        case depositedL = "deposited_l"
        case collectedKg = "collected_kg"
        case fillRatePerDay = "fill_rate_per_day"
        case suggestedCollectionsPerWeek = "suggested_collections_per_week"
    }
}

public struct DispatchPoint: Sendable, Codable, Equatable {
    public var device: String
    public var name: String
    public var community: String
    public var street: String
    public var bins: [DispatchBin]
    /// Collected tonnes per stream.
    public var collectedTonnes: [String: Double]

    enum CodingKeys: String, CodingKey {
        case device, name, community, street, bins
        case collectedTonnes = "collected_t"
    }
}

public struct MonthlyReport: Sendable, Codable, Equatable {
    public var header: ReportHeader
    /// Days the rates are computed over (the month up to the report date).
    public var days: Int
    public var collectionFill: Double
    public var points: [DispatchPoint]
    public var collectedTonnes: [String: Double]
    /// The month's mass balance at each transfer station, day by day.
    public var stations: [StationBalanceSection]

    enum CodingKeys: String, CodingKey {
        case header, days, points, stations
        case collectionFill = "collection_fill"
        case collectedTonnes = "collected_t"
    }
}

public struct StreetReview: Sendable, Codable, Equatable {
    public var rank: Int
    public var id: String
    public var name: String
    public var households: Int
    public var figures: FiguresRow
    /// Mean dry kg per day over the days of the period with deposits.
    public var dryKgPerDay: Double?
    /// The street's share of the baseline (by households).
    public var baselineDryKgPerDay: Double?
    public var dryReduction: Double?
    /// Fraction of the street's communities with a point that booked both wet and dry deposits.
    public var coverage: Double
    /// Achievement per component, 0...1.
    public var components: [String: Double]
    /// 0...100.
    public var score: Double
    /// Share of the funding pool, 0...1.
    public var fundingShare: Double
    public var fundingAmount: Double

    enum CodingKeys: String, CodingKey {
        case rank, id, name, households, figures, coverage, components, score
        case dryKgPerDay = "dry_kg_per_day"
        case baselineDryKgPerDay = "baseline_dry_kg_per_day"
        case dryReduction = "dry_reduction"
        case fundingShare = "funding_share"
        case fundingAmount = "funding_amount"
    }
}

public struct ReviewReport: Sendable, Codable, Equatable {
    public var header: ReportHeader
    public var weights: [String: Double]
    public var fundingPool: Double
    public var currency: String
    public var district: FiguresRow
    public var streets: [StreetReview]
    public var targets: [TargetStatus]

    enum CodingKeys: String, CodingKey {
        case header, weights, currency, district, streets, targets
        case fundingPool = "funding_pool"
    }
}

/// Any report, as built.
public enum ReportContent: Sendable, Equatable {
    case daily(DailyReport)
    case weekly(WeeklyReport)
    case monthly(MonthlyReport)
    case review(ReviewReport)

    public var header: ReportHeader {
        switch self {
        case .daily(let report): report.header
        case .weekly(let report): report.header
        case .monthly(let report): report.header
        case .review(let report): report.header
        }
    }
}
