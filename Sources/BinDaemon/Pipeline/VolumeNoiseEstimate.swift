import BinProtocol

#if canImport(Glibc)
import Glibc
#endif

/// Learns from a bin's own deposits how much noisier its volume changes are than the configuration says.
///
/// The configured σ of a volume change (ranger σ, surface roughness, cross-section) is an installation
/// estimate; a rougher waste surface or a jitterier ranger than typed in makes the classifier too sure of
/// itself, and a confident wrong answer is the one thing it must not give. Every deposit with a trusted
/// volume is evidence about the true σ: under the classifier's model its measured ΔV has the density
/// Σ prior × likelihood over the hypotheses, and the product of those densities over the bin's deposits is the
/// likelihood of a scale factor k on the configured σ. The estimate is the k that maximises it (with a
/// log-normal prior around 1, so a handful of deposits cannot move it far), and never less than 1: the
/// daemon admits more noise than configured, never less.
public struct VolumeNoiseEstimate: Sendable, Equatable {
    /// Candidate factors: 1 to 4, evenly spaced in ln k.
    static let factors: [Double] = (0...28).map { exp(Double($0) / 28 * log(4.0)) }
    /// σ of ln k in the prior: 0.5 lets two dozen deposits double the σ when they all say so.
    static let priorLogSigma = 0.5

    /// Σ ln p(ΔV_i | Δm_i, k σ_i) over the deposits seen, per factor.
    private var logLikelihood = [Double](repeating: 0, count: VolumeNoiseEstimate.factors.count)
    /// Deposits the estimate has seen.
    public private(set) var deposits = 0

    public init() {}

    /// The factor to multiply the configured σ of a volume change by.
    public var factor: Double {
        guard deposits > 0 else { return 1 }
        var best = 0
        var bestScore = -Double.infinity
        for (index, k) in Self.factors.enumerated() {
            let z = log(k) / Self.priorLogSigma
            let score = logLikelihood[index] - 0.5 * z * z
            if score > bestScore {
                bestScore = score
                best = index
            }
        }
        return Self.factors[best]
    }

    /// A deposit of `massKg` whose volume change measured `volumeL`, with the configured σ.
    public mutating func observe(
        massKg: Double, volumeL: Double, sigmaMassKg: Double, sigmaVolumeL: Double, declared: WasteStream,
        classifier: DensityClassifier
    ) {
        guard massKg.isFinite, volumeL.isFinite, sigmaVolumeL > 0 else { return }
        let prior = classifier.prior(declared: declared)
        let marginals = Self.factors.map { k in
            let l = classifier.logLikelihoods(
                massKg: massKg, volumeL: volumeL, sigmaMassKg: sigmaMassKg, sigmaVolumeL: k * sigmaVolumeL)
            return DensityClassifier.logSumExp([
                log(prior.wet) + l.wet, log(prior.dry) + l.dry, log(prior.other) + l.other,
            ])
        }
        guard marginals.allSatisfy(\.isFinite) else { return }
        for index in logLikelihood.indices { logLikelihood[index] += marginals[index] }
        deposits += 1
    }
}

/// The estimate as the state directory keeps it (`VolumeNoiseStore`): the summed log-likelihood per factor
/// and the number of deposits. Decoding checks the shape, so a hand-edited or truncated file cannot become
/// an estimate of another grid or a NaN.
extension VolumeNoiseEstimate: Codable {
    enum CodingKeys: String, CodingKey {
        case deposits
        case logLikelihood = "log_likelihood"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let values = try container.decode([Double].self, forKey: .logLikelihood)
        let deposits = try container.decode(Int.self, forKey: .deposits)
        guard values.count == Self.factors.count, values.allSatisfy(\.isFinite) else {
            throw DecodingError.dataCorruptedError(
                forKey: .logLikelihood, in: container,
                debugDescription: "expected \(Self.factors.count) finite numbers, one per factor")
        }
        guard deposits >= 0 else {
            throw DecodingError.dataCorruptedError(
                forKey: .deposits, in: container, debugDescription: "a count of deposits cannot be negative")
        }
        self.init()
        logLikelihood = values
        self.deposits = deposits
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(logLikelihood, forKey: .logLikelihood)
        try container.encode(deposits, forKey: .deposits)
    }
}

/// The parts of a bin's configuration a learned volume noise estimate depends on: what sets the configured
/// σ of a volume change and of a mass (geometry, ranger σ and pings, surface roughness, scale noise, window),
/// and the model the deposits are weighed by (the bin's stream, the density classes and priors). The factor
/// the deposits taught holds as long as these do; a change of anything else (the confidence a call or a flag
/// needs, fill thresholds, timeouts, sampling intervals) leaves it valid, so tuning those neither restarts
/// the estimate on a reload nor discards the stored one at a restart.
public struct VolumeNoiseBasis: Sendable, Equatable, Encodable {
    var bin: String
    var stream: WasteStream
    var geometry: BinGeometry
    var hasRanger: Bool
    var rangerSigmaMm: Double
    var rangerPings: Int
    var surfaceRoughnessMm: Double
    var scaleNoiseKg: Double
    var stableReadings: Int
    var wetKgL: ClosedRange<Double>
    var dryKgL: ClosedRange<Double>
    var otherKgL: ClosedRange<Double>
    var otherPrior: Double
    var streamPrior: Double
    var rangeMargin: Double

    public init(_ configuration: DepositDetector.Configuration) {
        let classification = configuration.classifier.thresholds
        bin = configuration.binID
        stream = configuration.stream
        geometry = configuration.geometry
        hasRanger = configuration.hasRanger
        rangerSigmaMm = configuration.thresholds.rangerSigmaMm
        rangerPings = configuration.sampling.rangerPings
        surfaceRoughnessMm = configuration.thresholds.surfaceRoughnessMm
        scaleNoiseKg = configuration.thresholds.scaleNoiseKg
        stableReadings = configuration.thresholds.stableReadings
        wetKgL = classification.wetKgL
        dryKgL = classification.dryKgL
        otherKgL = classification.otherKgL
        otherPrior = classification.otherPrior
        streamPrior = classification.streamPrior
        rangeMargin = classification.rangeMargin
    }
}
