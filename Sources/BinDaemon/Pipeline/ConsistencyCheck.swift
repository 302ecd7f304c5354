import BinProtocol

/// Whether the scale and the ranger tell the same story about what a bin gained. Both sides are judged
/// since one reference, a moment when the settled mass and a trusted fill were taken together (the first
/// after the daemon started, after a collection or after a tare), so a deposit whose volume a sensor missed
/// at the time (a frozen ranger, a scale that was unplugged) is still counted once the sensor is back, and
/// the two agree again. The reference never moves while the bin fills: the volume error of the comparison
/// is that of two readings however long the window, and the mass error stays a few grams.
///
/// - `consistency.mass_without_fill`: the mass rose by at least `minMassKg`, and the fill rose less than that
///   mass would take at `densestKgPerL` after allowing 3 σ of the volume.
/// - `consistency.fill_without_mass`: the fill rose by more than 3 σ plus `fillSlackL` beyond what the mass
///   would take at `lightestKgPerL`.
public struct ConsistencyCheck: Sendable, Equatable {
    /// Denser than any loose household waste (kitchen waste is 0.24-0.9 kg/L, water 1.0).
    public static let densestKgPerL = 1.5
    /// Lighter than empty cardboard boxes thrown in loose.
    public static let lightestKgPerL = 0.02
    /// Below this the ranger cannot see the volume a dense deposit takes.
    public static let minMassKg = 0.5
    /// Slack for a surface that piles up under the beam.
    public static let fillSlackL = 1.0

    public struct Reference: Sendable, Equatable {
        public var massKg: Double
        public var volumeL: Double
        public var at: WireTimestamp
    }

    public private(set) var reference: Reference?

    public init() {}

    /// Forgets the reference (the bin was emptied, or the scale has a new zero); the next `judge` takes one.
    public mutating func reset() { reference = nil }

    /// Compares the settled mass and a trusted fill volume with the reference; the first call only takes it.
    /// `sigmaVolumeL` is σ of the difference of two fill readings.
    public mutating func judge(massKg: Double, volumeL: Double, sigmaVolumeL: Double, at time: WireTimestamp)
        -> [FaultObservation]
    {
        guard let reference else {
            reference = Reference(massKg: massKg, volumeL: volumeL, at: time)
            return []
        }
        let addedMass = massKg - reference.massKg
        let addedVolume = volumeL - reference.volumeL
        let massWithoutFill =
            addedMass >= Self.minMassKg && addedVolume + 3 * sigmaVolumeL < addedMass / Self.densestKgPerL
        let fillWithoutMass =
            addedVolume - 3 * sigmaVolumeL - Self.fillSlackL > max(addedMass, 0) / Self.lightestKgPerL
        let summary =
            "since \(reference.at): mass rose \(DepositDetector.round(addedMass, places: 2)) kg, fill rose \(DepositDetector.round(addedVolume, places: 1)) L"
        return [
            FaultObservation(.massWithoutFill, present: massWithoutFill, detail: massWithoutFill ? summary : ""),
            FaultObservation(.fillWithoutMass, present: fillWithoutMass, detail: fillWithoutMass ? summary : ""),
        ]
    }
}
