import BinProtocol
import Sensors

/// Watches HX711 raw codes for a frozen converter and for saturation. A live load cell never repeats the
/// exact 24-bit code many times in a row (its noise spans several counts), least of all while lids open
/// and close; `minRepeats` identical codes with at least one world change among them mean stuck.
public struct ScaleStuckMonitor: Sendable, Equatable {
    public var minRepeats: Int
    private var lastCode: Int32?
    private var repeats = 0
    private var worldChangedDuringRun = false

    public init(minRepeats: Int = 30) {
        self.minRepeats = minRepeats
    }

    /// Saturated HX711 outputs: the 24-bit two's-complement extremes.
    public static let saturatedCodes: Set<Int32> = [0x7F_FFFF, -0x80_0000]

    /// Notes that something that should move the scale happened (a lid cycle, a fill change).
    public mutating func worldChanged() {
        if repeats > 0 { worldChangedDuringRun = true }
    }

    /// Records one raw code; returns the stuck and saturated observations for the fault tracker.
    public mutating func reading(rawCode: Int32) -> [FaultObservation] {
        if rawCode == lastCode {
            repeats += 1
        } else {
            lastCode = rawCode
            repeats = 1
            worldChangedDuringRun = false
        }
        let stuck = repeats >= minRepeats && worldChangedDuringRun
        let saturated = Self.saturatedCodes.contains(rawCode)
        return [
            FaultObservation(
                .scaleStuck, present: stuck,
                detail: stuck ? "raw code \(rawCode) repeated \(repeats) times across lid cycles" : ""),
            FaultObservation(
                .scaleSaturated, present: saturated, detail: saturated ? "raw code \(rawCode) is saturated" : ""),
        ]
    }
}

/// Watches back-to-back scale readings for noise far above what the installer's calibration measured (a
/// loose wire, a damaged load cell, interference on the HX711's lines). Noise like that keeps stable windows
/// from settling, or settles them on a mean that is off by tens of grams, so deposits weighed meanwhile are
/// not worth `good`.
///
/// Only bursts are judged (the readings of a lid cycle, a settle, a verification burst): idle single
/// readings 30 s apart say nothing about noise. The spread is estimated from successive differences
/// (σ ≈ 1.4826 · MAD(dᵢ) / √2), so a deposit's step or slow drift inside a window does not count as noise.
public struct ScaleNoiseMonitor: Sendable, Equatable {
    /// Readings per judged window; one burst (`sampling.burst_readings`, 10 by default) is one window, and
    /// never fewer than 4.
    public var windowReadings: Int {
        get { windowLength }
        set { windowLength = max(newValue, 4) }
    }
    private var windowLength = 4
    /// Readings further apart than this are not back to back: the window starts over.
    public static let maximumGapS = 2.0
    /// The spread counts as noisy above this multiple of the calibrated σ ...
    public static let sigmaFactor = 4.0
    /// ... and above this share of the stable tolerance (the spread at which windows stop settling is about
    /// half the tolerance; a quarter is the point where a stable mean is already off by several grams).
    public static let toleranceShare = 0.25

    private var window: [WeightReading] = []
    /// Whether the last complete window was noisy: deposits settled on it are not `good`, and the owner
    /// keeps taking bursts to confirm or clear.
    public private(set) var lastWindowNoisy = false
    /// The largest σ of the noisy windows in a row up to the last one; nil once a window was quiet. The
    /// detector widens its stable tolerance to it, so a noisy scale still settles.
    public private(set) var noisySigmaKg: Double?

    public init(windowReadings: Int = 10) {
        self.windowReadings = windowReadings
    }

    /// The σ above which a window is noisy, from the calibrated σ of one reading and the stable tolerance.
    public static func limitKg(calibratedSigmaKg: Double, stableToleranceKg: Double) -> Double {
        max(sigmaFactor * calibratedSigmaKg, toleranceShare * stableToleranceKg)
    }

    /// A lid edge or a failed conversion: what follows is not back to back with what came before.
    public mutating func interrupt() { window = [] }

    /// Records one reading taken with the lid closed; returns an observation when it completes a window.
    public mutating func reading(_ reading: WeightReading, limitKg: Double) -> FaultObservation? {
        if let last = window.last, last.at.seconds(to: reading.at) > Self.maximumGapS { window = [] }
        window.append(reading)
        guard window.count >= windowReadings else { return nil }
        let masses = window.map(\.massKg)
        window = []
        let differences = zip(masses.dropFirst(), masses).map { $0 - $1 }
        let sigma = 1.4826 * (RobustStatistics.medianAbsoluteDeviation(differences) ?? 0) / 2.0.squareRoot()
        lastWindowNoisy = sigma > limitKg
        noisySigmaKg = lastWindowNoisy ? max(noisySigmaKg ?? 0, sigma) : nil
        return FaultObservation(
            .scaleNoisy, present: lastWindowNoisy,
            detail: lastWindowNoisy
                ? "reading noise σ \(DepositDetector.round(sigma * 1000, places: 1)) g over \(masses.count) readings, limit \(DepositDetector.round(limitKg * 1000, places: 1)) g"
                : "")
    }
}

/// Watches ranger readings for a sensor that repeats itself while the bin's contents change: a frozen
/// module, or a driver handing back a stale value. A live ranger never measures the same distance to a
/// hundredth of a millimetre (60 ns of echo) three times in a row once waste has gone in or come out: its
/// own timing jitter is microseconds and every deposit moves the surface under the beam. So `minReadings`
/// readings within `toleranceMm` of the first of them, while the scale's settled mass moved by at least
/// `min_deposit_kg` between the first and the last, mean stuck. Repeats alone are not enough: an untouched
/// bin could in principle read the same twice.
///
/// A ranger that keeps measuring a fixed obstacle (a bag caught under the lid) varies with its jitter and
/// is not caught here; the consistency check (`consistency.mass_without_fill`) sees it once the mass has
/// risen enough to tell.
public struct RangerStuckMonitor: Sendable, Equatable {
    public static let toleranceMm = 0.01
    public var minReadings: Int

    private var anchorMm: Double?
    private var count = 0
    private var massRange: ClosedRange<Double>?

    public init(minReadings: Int = 3) {
        self.minReadings = max(minReadings, 2)
    }

    /// A repeat has been seen but not yet enough of them: worth a reading soon rather than at the heartbeat.
    public var wantsAnotherLook: Bool { count >= 2 && count < minReadings }

    /// Records one distance (taken with the lid closed) and the settled mass at the time; returns the
    /// observation for the fault tracker. `present` readings are repeats of a stuck value, not the surface.
    public mutating func reading(distanceMm: Double, massKg: Double?, minMassChangeKg: Double) -> FaultObservation {
        if let anchorMm, abs(distanceMm - anchorMm) <= Self.toleranceMm {
            count += 1
        } else {
            anchorMm = distanceMm
            count = 1
            massRange = nil
        }
        if let massKg {
            massRange = massRange.map { min($0.lowerBound, massKg)...max($0.upperBound, massKg) } ?? massKg...massKg
        }
        let moved = massRange.map { $0.upperBound - $0.lowerBound } ?? 0
        let stuck = count >= minReadings && moved >= minMassChangeKg
        return FaultObservation(
            .rangerStuck, present: stuck,
            detail: stuck
                ? "distance \(DepositDetector.round(distanceMm, places: 2)) mm read \(count) times while the mass moved \(DepositDetector.round(moved, places: 3)) kg"
                : "")
    }
}
