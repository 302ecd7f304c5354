/// The linear map from HX711 counts to kilograms: `kg = (counts − offsetCounts) / countsPerKilogram`.
/// Made from a tare (empty scale) and a reading with a known reference mass, stored by the daemon
/// as JSON (`{"offset_counts": …, "counts_per_kg": …}`, the scenario files' names). Decoding
/// checks the values as the initializers do, so a hand-edited file cannot define a degenerate scale.
public struct ScaleCalibration: Codable, Sendable, Hashable {
    /// Counts with nothing on the scale.
    public private(set) var offsetCounts: Double
    /// Counts per kilogram; negative if the load cell is wired reversed.
    public private(set) var countsPerKilogram: Double

    /// Smallest usable |counts per kilogram|: below it one count would be more than a kilogram.
    public static let minimumCountsPerKilogram = 1.0

    public init(offsetCounts: Double, countsPerKilogram: Double) throws(SensorError) {
        guard offsetCounts.isFinite else {
            throw Self.degenerate("offset \(offsetCounts) counts is not a finite number")
        }
        guard countsPerKilogram.isFinite, abs(countsPerKilogram) >= Self.minimumCountsPerKilogram else {
            throw Self.degenerate(
                "\(countsPerKilogram) counts per kg cannot resolve a kilogram (at least \(Self.minimumCountsPerKilogram) needed)"
            )
        }
        self.offsetCounts = offsetCounts
        self.countsPerKilogram = countsPerKilogram
    }

    /// Two-point calibration: the reading of the empty scale and the reading with `knownMassKilograms`
    /// on it.
    public init(emptyCounts: Double, loadedCounts: Double, knownMassKilograms: Double) throws(SensorError) {
        guard knownMassKilograms.isFinite, knownMassKilograms > 0 else {
            throw Self.degenerate("the reference mass must be a positive number of kg, not \(knownMassKilograms)")
        }
        guard emptyCounts.isFinite, loadedCounts.isFinite else {
            throw Self.degenerate("readings must be finite (empty \(emptyCounts), loaded \(loadedCounts))")
        }
        guard loadedCounts != emptyCounts else {
            throw Self.degenerate(
                "the loaded and empty readings are equal (\(emptyCounts) counts): is the reference mass on the scale?")
        }
        try self.init(
            offsetCounts: emptyCounts, countsPerKilogram: (loadedCounts - emptyCounts) / knownMassKilograms)
    }

    public func kilograms(fromCounts counts: Double) -> Double {
        (counts - offsetCounts) / countsPerKilogram
    }

    public func counts(forKilograms kilograms: Double) -> Double {
        offsetCounts + kilograms * countsPerKilogram
    }

    /// Tare: the same slope with a new zero at `counts`.
    public func tared(atCounts counts: Double) throws(SensorError) -> ScaleCalibration {
        try ScaleCalibration(offsetCounts: counts, countsPerKilogram: countsPerKilogram)
    }

    enum CodingKeys: String, CodingKey {
        case offsetCounts = "offset_counts"
        case countsPerKilogram = "counts_per_kg"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let offset = try container.decode(Double.self, forKey: .offsetCounts)
        let slope = try container.decode(Double.self, forKey: .countsPerKilogram)
        do {
            try self.init(offsetCounts: offset, countsPerKilogram: slope)
        } catch {
            throw DecodingError.dataCorruptedError(
                forKey: slope.isFinite && abs(slope) >= Self.minimumCountsPerKilogram
                    ? .offsetCounts : .countsPerKilogram,
                in: container, debugDescription: error.description)
        }
    }

    private static func degenerate(_ detail: String) -> SensorError {
        SensorError(.degenerateCalibration, sensor: "scale calibration", detail: detail)
    }
}
