import BinProtocol
import Sensors

/// The one calibration path: `binsd calibrate`, the MQTT `tare`/`calibrate` commands and the simulated
/// installer all go through it. A tare takes the empty scale's median reading as the zero and measures the
/// reading noise; a calibration takes the median with a known reference mass on the scale and derives the
/// slope from the stored zero.
public struct ScaleCalibrator: Sendable {
    /// Conversions per step: 20 take 2 s at 10 SPS, and make the median's error about a quarter of one
    /// reading's noise.
    public var readings: Int
    /// A reference must move the reading by at least this many σ of the noise, or the slope it gives is
    /// mostly noise (and the reference is probably not on the scale).
    public var minimumSignalToNoise: Double

    public init(readings: Int = 20, minimumSignalToNoise: Double = 50) {
        self.readings = readings
        self.minimumSignalToNoise = minimumSignalToNoise
    }

    /// Medians and spread of a burst of conversions.
    public struct Sample: Sendable, Equatable {
        public var median: Double
        /// Standard deviation of one conversion, outliers removed (modified z-score).
        public var sigmaCounts: Double
        public var count: Int
    }

    /// Reads `readings` conversions and powers the HX711 down afterwards.
    public func sample(_ scale: HX711) throws(BinDaemonError) -> Sample {
        let burst: HX711.Burst
        do {
            burst = try scale.read(samples: readings)
            try scale.powerDown()
        } catch {
            throw BinDaemonError(.hardware, "\(scale.name): \(error)", cause: error)
        }
        let values = OutlierRejection().inliers(burst.codes.map(Double.init))
        let mean = values.reduce(0, +) / Double(max(values.count, 1))
        let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(max(values.count - 1, 1))
        return Sample(median: burst.median, sigmaCounts: variance.squareRoot(), count: burst.codes.count)
    }

    /// A new zero from the empty scale; the slope (if any) is kept.
    public func tare(_ scale: HX711, previous: StoredCalibration?, at time: WireTimestamp) throws(BinDaemonError)
        -> StoredCalibration
    {
        let sample = try sample(scale)
        return tared(previous, with: sample, at: time)
    }

    public func tared(_ previous: StoredCalibration?, with sample: Sample, at time: WireTimestamp) -> StoredCalibration
    {
        var calibration = previous ?? StoredCalibration(offsetCounts: sample.median)
        calibration.offsetCounts = sample.median
        calibration.noiseCounts = sample.sigmaCounts
        calibration.taredAt = time
        return calibration
    }

    /// The slope from `knownKg` lying on the scale, against the stored zero.
    public func calibrate(
        _ scale: HX711, knownKg: Double, previous: StoredCalibration?, bin: String, at time: WireTimestamp
    )
        throws(BinDaemonError) -> StoredCalibration
    {
        guard let previous else {
            throw BinDaemonError(.calibrationFailed, "bin \(bin): tare the empty scale first (calibrate --tare)")
        }
        guard knownKg.isFinite, knownKg > 0 else {
            throw BinDaemonError(
                .calibrationFailed, "bin \(bin): the known mass must be a positive number of kg, got \(knownKg)")
        }
        return try calibrated(previous, knownKg: knownKg, with: try sample(scale), bin: bin, at: time)
    }

    public func calibrated(
        _ previous: StoredCalibration, knownKg: Double, with sample: Sample, bin: String, at time: WireTimestamp
    )
        throws(BinDaemonError) -> StoredCalibration
    {
        let signal = abs(sample.median - previous.offsetCounts)
        let noise = max(previous.noiseCounts ?? 0, sample.sigmaCounts, 1)
        guard signal >= minimumSignalToNoise * noise else {
            throw BinDaemonError(
                .calibrationFailed,
                "bin \(bin): the reading moved \(Int(signal)) counts from the zero, under \(Int(minimumSignalToNoise)) times the noise (\(Int(noise.rounded())) counts): is the \(knownKg) kg reference on the scale?"
            )
        }
        let scale: ScaleCalibration
        do {
            scale = try ScaleCalibration(
                emptyCounts: previous.offsetCounts, loadedCounts: sample.median, knownMassKilograms: knownKg)
        } catch {
            throw BinDaemonError(.calibrationFailed, "bin \(bin): \(error)", cause: error)
        }
        var calibration = previous
        calibration.countsPerKg = scale.countsPerKilogram
        calibration.calibratedAt = time
        return calibration
    }
}
