import BinDaemon
import BinProtocol
import Simulation

/// Compares what a simulated point reported (its `events` messages) with what really happened (the truth
/// file of `binsd simulate --truth-out`). Used by the scenario tests and by `bins-bench accuracy`, so both
/// count the same way.
///
/// Matching: each true deposit is paired with the first unpaired `deposit` event of the same bin stamped
/// within `matchWindowS` after it (the event is stamped when the weight settled after the lid closed).
/// True deposits without a partner are missed; events without one are spurious. Collections likewise.
public struct AccuracyEvaluation: Sendable {
    public struct DepositMatch: Sendable {
        public var truth: TruthExport.Record
        public var event: Deposit
        public var at: WireTimestamp
        public var historical: Bool
    }

    public struct CollectionMatch: Sendable {
        public var truth: TruthExport.Record
        public var event: Collection
        public var at: WireTimestamp
    }

    /// Seconds after a true deposit within which its event must be stamped.
    public static let matchWindowS = 180.0

    public var matched: [DepositMatch] = []
    public var missed: [TruthExport.Record] = []
    public var spurious: [(deposit: Deposit, at: WireTimestamp)] = []
    public var collections: [CollectionMatch] = []
    public var missedCollections: [TruthExport.Record] = []
    public var spuriousCollections: [(collection: Collection, at: WireTimestamp)] = []
    /// Deposits at least this large (true volume) are the ones the classification figures count.
    public var classifiedVolumeL: Double

    public init(truth: TruthExport.File, events: [EventPayload], classifiedVolumeL: Double = 3) {
        self.classifiedVolumeL = classifiedVolumeL
        var deposits = events.compactMap { event -> (Deposit, WireTimestamp, Bool)? in
            if case .deposit(let deposit) = event.body { return (deposit, event.ts, event.historical) }
            return nil
        }.sorted { $0.1 < $1.1 }
        var pickups = events.compactMap { event -> (Collection, WireTimestamp)? in
            if case .collection(let collection) = event.body { return (collection, event.ts) }
            return nil
        }.sorted { $0.1 < $1.1 }
        for record in truth.records.sorted(by: { $0.atS < $1.atS }) {
            let start = record.ts
            let end = record.ts.adding(milliseconds: Int64(Self.matchWindowS * 1000))
            if record.type == "deposit" {
                if let index = deposits.firstIndex(where: { $0.0.bin == record.bin && $0.1 >= start && $0.1 <= end }) {
                    let (deposit, at, historical) = deposits.remove(at: index)
                    matched.append(DepositMatch(truth: record, event: deposit, at: at, historical: historical))
                } else {
                    missed.append(record)
                }
            } else if record.type == "collection" {
                if let index = pickups.firstIndex(where: { $0.0.bin == record.bin && $0.1 >= start && $0.1 <= end }) {
                    let (collection, at) = pickups.remove(at: index)
                    collections.append(CollectionMatch(truth: record, event: collection, at: at))
                } else {
                    missedCollections.append(record)
                }
            }
        }
        spurious = deposits.map { ($0.0, $0.1) }
        spuriousCollections = pickups
    }

    public var trueDeposits: Int { matched.count + missed.count }

    /// |reported − true| mass of matched deposits, kg.
    public var massErrorsKg: [Double] { matched.map { abs($0.event.massKg - $0.truth.massKg) } }

    /// |reported − true| volume of matched deposits that have a volume, L.
    public var volumeErrorsL: [Double] {
        matched.compactMap { match in match.event.volumeL.flatMap { v in match.truth.volumeL.map { abs(v - $0) } } }
    }

    /// Matched deposits into wet and dry bins of at least `classifiedVolumeL`, whose material is wet or dry.
    public var judged: [DepositMatch] {
        matched.filter { match in
            [.wet, .dry].contains(match.event.stream) && (match.truth.volumeL ?? 0) >= classifiedVolumeL
                && [.wet, .dry].contains(match.truth.material ?? match.event.stream)
        }
    }

    public var classifiedCorrectly: Int {
        judged.filter { $0.event.observed.rawValue == ($0.truth.material ?? $0.event.stream).rawValue }.count
    }

    public var classifiedUnknown: Int { judged.filter { $0.event.observed == .unknown }.count }

    public var classifiedWrongly: Int { judged.count - classifiedCorrectly - classifiedUnknown }

    /// Matched deposits whose material differs from the bin's stream (mis-sorted in truth).
    public var misSorted: [DepositMatch] {
        matched.filter { $0.truth.material != nil && $0.truth.material != $0.event.stream }
    }

    /// Mis-sorts at least this heavy (true mass) are the ones the mis-sort figure counts: below it a bag
    /// of kitchen waste is a few hundred grams, which moves a household bin's surface by millimetres.
    public static let judgedMisSortKg = 0.5

    /// Mis-sorted deposits of at least `judgedMisSortKg`.
    public var judgedMisSorts: [DepositMatch] { misSorted.filter { $0.truth.massKg >= Self.judgedMisSortKg } }

    /// The mis-sorts of at least `judgedMisSortKg` that the point's sensors can judge at all: those at least
    /// as heavy as the smallest mis-sort a classifier with the default thresholds flags
    /// (`DensityClassifier.minimumJudgeableMisSortKg`) at the deposit's true density, with the noise the
    /// simulated parts really have (the scale's noise, the ranger's jitter at the scenario's starting
    /// temperature, the surface's roughness) and the daemon's default readings per window and pings per
    /// reading. At that mass about half of such deposits are flagged and heavier ones more, so this is
    /// what a classifier that knew the true noise could be asked for; lighter ones are within the noise.
    public func judgeableMisSorts(in scenario: Scenario) -> [DepositMatch] {
        let classifier = DensityClassifier()
        let windowReadings = BinThresholds().stableReadings
        let pings = SamplingConfig().rangerPings
        let millimetresPerMicrosecond =
            UltrasonicRangerModel.speedOfSound(temperatureCelsius: scenario.temperatureC) / 2000
        return judgedMisSorts.filter { match in
            guard let bin = scenario.bins.first(where: { $0.id == match.truth.bin }),
                let volumeL = match.truth.volumeL, volumeL > 0,
                let minimum = classifier.minimumJudgeableMisSortKg(
                    declared: bin.stream, densityKgL: match.truth.massKg / volumeL,
                    scaleSigmaKg: bin.scale.noiseCounts / bin.scale.countsPerKg, windowReadings: windowReadings,
                    rangerSigmaMm: bin.ranger.jitterUs * millimetresPerMicrosecond,
                    surfaceRoughnessMm: bin.ranger.surfaceRoughnessMm, rangerPings: pings,
                    litresPerMm: bin.shape.crossSectionMm2 / 1_000_000)
            else { return false }
            return match.truth.massKg >= minimum
        }
    }

    /// Share of the mass reported into wet and dry bins that came out `unknown` (reported masses, every size).
    public var unknownMassShare: Double? {
        let wetDry = matched.filter { [.wet, .dry].contains($0.event.stream) }
        let total = wetDry.reduce(0) { $0 + $1.event.massKg }
        guard total > 0 else { return nil }
        return wetDry.filter { $0.event.observed == .unknown }.reduce(0) { $0 + $1.event.massKg } / total
    }

    /// Contaminated flags on deposits that were in fact sorted right.
    public var falseContamination: Int {
        matched.filter { $0.event.contaminated && ($0.truth.material == nil || $0.truth.material == $0.event.stream) }
            .count
    }

    public static func percentile(_ values: [Double], _ fraction: Double) -> Double? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let rank = min(sorted.count - 1, max(0, Int((fraction * Double(sorted.count - 1)).rounded())))
        return sorted[rank]
    }
}
