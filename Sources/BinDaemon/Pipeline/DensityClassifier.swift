import BinProtocol
#if canImport(Glibc)
import Glibc
#endif

/// Tells wet from dry waste by apparent density, with a confidence that comes from the measurement
/// uncertainty rather than from a guess. DESIGN section 5 and docs/binsd.md give the ranges and sources.
///
/// The decision works in log-density, where the error of a ratio is the root-sum-square of the relative
/// errors of its parts: σ(ln ρ)² = (σm / m)² + (σV / V)². The boundary between the classes is the
/// geometric mean of the dry range's top and the wet range's bottom (0.177 kg/L with the defaults), and
/// the confidence is the probability, under that error, that the true density lies on the same side of
/// the boundary as the measured one.
public struct DensityClassifier: Sendable, Equatable {
    public var thresholds: ClassificationThresholds

    public init(thresholds: ClassificationThresholds = ClassificationThresholds()) {
        self.thresholds = thresholds
    }

    /// Why a deposit got the class it got.
    public enum Reason: String, Sendable, Equatable {
        case classified
        /// No trusted volume (ranger unavailable or lid open).
        case noVolume = "no_volume"
        /// Below the minimum volume or mass, or a volume change not clearly above zero.
        case tooSmall = "too_small"
        /// The density fits neither class, even allowing for the margin and the measurement error.
        case outsideRanges = "outside_ranges"
        /// The measurement error leaves the side of the boundary too uncertain.
        case lowConfidence = "low_confidence"
    }

    public struct Result: Sendable, Equatable {
        public var observed: ObservedStream
        /// For wet/dry: the probability the deposit is on that side of the boundary. For `unknown` from
        /// low confidence or out-of-range densities: the same probability for the nearer class (so a
        /// reader sees how close it was); 0 when there is no density.
        public var confidence: Double
        public var densityKgL: Double?
        /// σ of ln(density): the relative uncertainty of the density.
        public var logSigma: Double?
        public var reason: Reason
    }

    /// Boundary between dry and wet, kg/L.
    public var boundaryKgL: Double { (thresholds.dryKgL.upperBound * thresholds.wetKgL.lowerBound).squareRoot() }

    /// Classifies a deposit of `massKg` and `volumeL` (nil when no trusted volume) measured with
    /// standard deviations `sigmaMassKg` and `sigmaVolumeL`.
    public func classify(massKg: Double, volumeL: Double?, sigmaMassKg: Double, sigmaVolumeL: Double) -> Result {
        guard let volumeL else {
            return Result(observed: .unknown, confidence: 0, densityKgL: nil, logSigma: nil, reason: .noVolume)
        }
        // A volume change within one σ of zero cannot be divided by.
        guard volumeL > 0.05, volumeL > sigmaVolumeL, massKg > 0 else {
            return Result(observed: .unknown, confidence: 0, densityKgL: nil, logSigma: nil, reason: .tooSmall)
        }
        let density = massKg / volumeL
        let logSigma = ((sigmaMassKg / massKg) * (sigmaMassKg / massKg) + (sigmaVolumeL / volumeL) * (sigmaVolumeL / volumeL))
            .squareRoot()
        let distance = log(density) - log(boundaryKgL)
        let side: ObservedStream = distance > 0 ? .wet : .dry
        let confidence = logSigma > 0 ? Normal.cdf(abs(distance) / logSigma) : 1
        func unknown(_ reason: Reason) -> Result {
            Result(observed: .unknown, confidence: confidence, densityKgL: density, logSigma: logSigma, reason: reason)
        }
        if volumeL < thresholds.minVolumeL || massKg < thresholds.minMassKg { return unknown(.tooSmall) }
        let range = side == .wet ? thresholds.wetKgL : thresholds.dryKgL
        let slack = log(1 + thresholds.rangeMargin) + 2 * logSigma
        if log(density) < log(range.lowerBound) - slack || log(density) > log(range.upperBound) + slack {
            return unknown(.outsideRanges)
        }
        if confidence < thresholds.minConfidence { return unknown(.lowConfidence) }
        return Result(observed: side, confidence: confidence, densityKgL: density, logSigma: logSigma, reason: .classified)
    }

    /// A deposit is contaminated when its observed stream is wet or dry and differs from the bin's. Only
    /// wet and dry bins can be judged: density cannot tell recyclables (PET at 0.02 kg/L, glass at 0.5)
    /// or hazardous waste from either, so deposits into those bins are never flagged.
    public static func isContaminated(declared: WasteStream, observed: ObservedStream) -> Bool {
        switch (declared, observed) {
        case (.wet, .dry), (.dry, .wet): true
        default: false
        }
    }

    /// σ of a volume change from two ranger readings (before and after), each the median of `pings`
    /// pings with σ `rangerSigmaMm`, on a surface whose height varies with σ `surfaceRoughnessMm`
    /// under the beam, in a bin of `litresPerMm` cross-section.
    public static func volumeSigmaL(rangerSigmaMm: Double, surfaceRoughnessMm: Double, rangerPings: Int, litresPerMm: Double)
        -> Double
    {
        // The median of n normal samples has variance about (π/2)·σ²/n.
        let pingVariance = (Double.pi / 2) * rangerSigmaMm * rangerSigmaMm / Double(max(rangerPings, 1))
        let heightSigma = (pingVariance + surfaceRoughnessMm * surfaceRoughnessMm).squareRoot()
        return 2.0.squareRoot() * heightSigma * litresPerMm
    }

    /// σ of a mass change from two stable windows of `windowReadings` readings with σ `scaleSigmaKg`.
    public static func massSigmaKg(scaleSigmaKg: Double, windowReadings: Int) -> Double {
        scaleSigmaKg * (2.0 / Double(max(windowReadings, 1))).squareRoot()
    }

    /// The smallest deposit volume (litres) that can be classified with `minConfidence`, given the
    /// σ of the mass change and of the volume change. With `densityKgL` nil it is the worst case over
    /// the two class edges nearest the boundary (dry at its top, wet at its bottom); it never goes below
    /// `minVolumeL` or the volume `minMassKg` takes at that density.
    public func minimumClassifiableVolumeL(sigmaMassKg: Double, sigmaVolumeL: Double, densityKgL: Double? = nil) -> Double {
        let z = Normal.quantile(thresholds.minConfidence)
        let densities = densityKgL.map { [$0] } ?? [thresholds.dryKgL.upperBound, thresholds.wetKgL.lowerBound]
        var worst = thresholds.minVolumeL
        for density in densities {
            let separation = abs(log(density / boundaryKgL))
            guard separation > 0 else { return .infinity }
            let needed = z * (sigmaMassKg * sigmaMassKg / (density * density) + sigmaVolumeL * sigmaVolumeL).squareRoot() / separation
            worst = max(worst, needed, thresholds.minMassKg / density)
        }
        return worst
    }

    /// The same for a bin and its sensors: scale σ per reading, ranger σ, surface roughness and pings.
    public func minimumClassifiableVolumeL(
        scaleSigmaKg: Double, windowReadings: Int, rangerSigmaMm: Double, surfaceRoughnessMm: Double, rangerPings: Int,
        litresPerMm: Double, densityKgL: Double? = nil
    ) -> Double {
        minimumClassifiableVolumeL(
            sigmaMassKg: Self.massSigmaKg(scaleSigmaKg: scaleSigmaKg, windowReadings: windowReadings),
            sigmaVolumeL: Self.volumeSigmaL(
                rangerSigmaMm: rangerSigmaMm, surfaceRoughnessMm: surfaceRoughnessMm, rangerPings: rangerPings,
                litresPerMm: litresPerMm),
            densityKgL: densityKgL)
    }
}

/// The standard normal distribution.
enum Normal {
    static func cdf(_ x: Double) -> Double { 0.5 * erfc(-x / 2.0.squareRoot()) }

    /// Inverse of `cdf` by bisection: exact to 1e-12, and called rarely.
    static func quantile(_ p: Double) -> Double {
        guard p > 0, p < 1 else { return p <= 0 ? -.infinity : .infinity }
        var low = -40.0
        var high = 40.0
        for _ in 0..<200 {
            let mid = (low + high) / 2
            if cdf(mid) < p { low = mid } else { high = mid }
            if high - low < 1e-12 { break }
        }
        return (low + high) / 2
    }
}
