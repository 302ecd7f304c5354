import BinProtocol

/// What the ledger keeps per bin, local day and stream, and what every rollup sums.
public struct LedgerFigures: Sendable, Codable, Equatable, Hashable {
    public var depositedKg: Double
    public var collectedKg: Double
    public var deposits: Int
    public var collections: Int
    /// Mass of deposits whose density says they belong in another stream.
    public var contaminatedKg: Double
    /// Mass of deposits the density could not classify.
    public var unknownKg: Double
    /// Volume of deposits whose volume was measured (for fill rates).
    public var depositedL: Double

    public init(
        depositedKg: Double = 0, collectedKg: Double = 0, deposits: Int = 0, collections: Int = 0,
        contaminatedKg: Double = 0, unknownKg: Double = 0, depositedL: Double = 0
    ) {
        self.depositedKg = depositedKg
        self.collectedKg = collectedKg
        self.deposits = deposits
        self.collections = collections
        self.contaminatedKg = contaminatedKg
        self.unknownKg = unknownKg
        self.depositedL = depositedL
    }

    public static let zero = LedgerFigures()

    /// The change one event makes to its bin's ledger row; `nil` for events that book nothing (faults).
    public init?(event body: EventBody) {
        switch body {
        case .deposit(let deposit):
            self.init(
                depositedKg: deposit.massKg, deposits: 1, contaminatedKg: deposit.contaminated ? deposit.massKg : 0,
                unknownKg: deposit.observed == .unknown ? deposit.massKg : 0, depositedL: deposit.volumeL ?? 0)
        case .collection(let collection):
            self.init(collectedKg: collection.massKg, collections: 1)
        case .fault:
            return nil
        }
    }

    public static func + (lhs: Self, rhs: Self) -> Self {
        LedgerFigures(
            depositedKg: lhs.depositedKg + rhs.depositedKg, collectedKg: lhs.collectedKg + rhs.collectedKg,
            deposits: lhs.deposits + rhs.deposits, collections: lhs.collections + rhs.collections,
            contaminatedKg: lhs.contaminatedKg + rhs.contaminatedKg, unknownKg: lhs.unknownKg + rhs.unknownKg,
            depositedL: lhs.depositedL + rhs.depositedL)
    }

    public static func += (lhs: inout Self, rhs: Self) { lhs = lhs + rhs }

    public static func - (lhs: Self, rhs: Self) -> Self {
        LedgerFigures(
            depositedKg: lhs.depositedKg - rhs.depositedKg, collectedKg: lhs.collectedKg - rhs.collectedKg,
            deposits: lhs.deposits - rhs.deposits, collections: lhs.collections - rhs.collections,
            contaminatedKg: lhs.contaminatedKg - rhs.contaminatedKg, unknownKg: lhs.unknownKg - rhs.unknownKg,
            depositedL: lhs.depositedL - rhs.depositedL)
    }

    enum CodingKeys: String, CodingKey {
        case deposits, collections
        case depositedKg = "deposited_kg"
        case collectedKg = "collected_kg"
        case contaminatedKg = "contaminated_kg"
        case unknownKg = "unknown_kg"
        case depositedL = "deposited_l"
    }
}

/// One stored ledger row: a bin's figures for one stream on one local day.
public struct LedgerRow: Sendable, Equatable {
    public var device: String
    public var bin: String
    public var day: LocalDate
    public var stream: WasteStream
    public var figures: LedgerFigures

    public init(device: String, bin: String, day: LocalDate, stream: WasteStream, figures: LedgerFigures) {
        self.device = device
        self.bin = bin
        self.day = day
        self.stream = stream
        self.figures = figures
    }
}

/// The figures of one stream on one local day, summed over some bins. Only the stores make them.
public struct LedgerDayTotal: Sendable, Equatable {
    public var day: LocalDate
    public var stream: WasteStream
    public var figures: LedgerFigures
}

/// Figures per stream, the unit most reports and targets work with.
public struct StreamFigures: Sendable, Equatable, Codable {
    public var byStream: [WasteStream: LedgerFigures]

    public init(byStream: [WasteStream: LedgerFigures] = [:]) {
        self.byStream = byStream
    }

    public init(rows: some Sequence<LedgerRow>) {
        var byStream: [WasteStream: LedgerFigures] = [:]
        for row in rows { byStream[row.stream, default: .zero] += row.figures }
        self.byStream = byStream
    }

    public subscript(_ stream: WasteStream) -> LedgerFigures { byStream[stream] ?? .zero }

    public var total: LedgerFigures { byStream.values.reduce(.zero, +) }

    /// wet ÷ (wet + dry) deposited; `nil` when nothing was deposited in either.
    public var separationRate: Double? {
        let wet = self[.wet].depositedKg
        let dry = self[.dry].depositedKg
        return wet + dry > 0 ? wet / (wet + dry) : nil
    }

    /// (recyclable + wet) ÷ total deposited.
    public var recoveryRate: Double? {
        let total = total.depositedKg
        return total > 0 ? (self[.recyclable].depositedKg + self[.wet].depositedKg) / total : nil
    }

    /// contaminated ÷ deposited.
    public var contaminationRate: Double? {
        let total = total
        return total.depositedKg > 0 ? total.contaminatedKg / total.depositedKg : nil
    }

    public static func + (lhs: Self, rhs: Self) -> Self {
        StreamFigures(byStream: lhs.byStream.merging(rhs.byStream, uniquingKeysWith: +))
    }

    /// A stream without a row and a stream with a zero row are the same figures.
    public static func == (lhs: Self, rhs: Self) -> Bool {
        WasteStream.allCases.allSatisfy { lhs[$0] == rhs[$0] }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: StreamKey.self)
        for stream in WasteStream.allCases { try container.encode(self[stream], forKey: StreamKey(stream.rawValue)) }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: StreamKey.self)
        var byStream: [WasteStream: LedgerFigures] = [:]
        for stream in WasteStream.allCases {
            byStream[stream] = try container.decodeIfPresent(LedgerFigures.self, forKey: StreamKey(stream.rawValue))
        }
        self.byStream = byStream.compactMapValues { $0 }
    }

    struct StreamKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ string: String) { stringValue = string }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}
