import BinProtocol

#if canImport(Glibc)
import Glibc
#endif

/// Tells wet from dry waste from what the scale and the ranger both say about a deposit: a likelihood
/// classifier over the joint measurement (Δm, ΔV). docs/binsd.md section 5 gives the model, its parameters
/// and where the numbers come from.
///
/// Each hypothesis is a range of bulk densities: wet (kitchen waste), dry (residual waste), and `other`
/// (anything outside both: rubble and bricks above, foam and empty packaging below, a mixed bag in the gap
/// between them). Given the measured mass, a hypothesis predicts a true volume m/ρ for every density ρ in its
/// range; the likelihood of the measured volume is the normal density of the measurement error around that
/// prediction, averaged over the range with ρ uniform in ln ρ. It works in litres, not in log-density, so a
/// volume change near zero or below it (a heavy bag that hardly moves the surface, plus ranger noise) is
/// ordinary evidence rather than a division by zero. The posterior with the bin's prior gives the class and
/// the confidence; contamination is a separate decision with its own, stricter threshold.
public struct DensityClassifier: Sendable, Equatable {
    public var thresholds: ClassificationThresholds

    public init(thresholds: ClassificationThresholds = ClassificationThresholds()) {
        self.thresholds = thresholds
    }

    /// Why a deposit got the class it got (the deposit event's `reason`).
    public enum Reason: String, Sendable, Equatable, CaseIterable {
        /// The posterior of `observed` reached what its call needs.
        case classified
        /// No trusted volume (ranger unavailable or lid open).
        case noVolume = "no_volume"
        /// The weight never settled: the mass is the mean of a moving window, not a measurement.
        case unsettled
        /// A ranger or consistency fault is raised or on its way: the volume is not to be believed.
        case sensorFault = "sensor_fault"
        /// `other` (a density outside both ranges) is the most probable hypothesis.
        case outsideRanges = "outside_ranges"
        /// Neither wet nor dry reached the posterior its call needs (`min_confidence` for the bin's stream,
        /// `against_stream_confidence` for the other).
        case lowConfidence = "low_confidence"
    }

    /// One number per hypothesis: likelihoods (per litre) or probabilities; the event's own type, so the
    /// evidence an event carries is the classifier's figures rounded, not a copy of them.
    public typealias PerHypothesis = HypothesisValues

    public struct Result: Sendable, Equatable {
        public var observed: ObservedStream
        /// For wet/dry: the posterior probability of `observed`. For `unknown` with a volume: the posterior of
        /// the more probable of wet and dry, so a reader sees how close it was; 0 without a volume.
        public var confidence: Double
        /// Δm / ΔV when the volume change is clearly above zero (more than σV); a reader's aid, not used.
        public var densityKgL: Double?
        public var reason: Reason
        /// p(ΔV | Δm, hypothesis) per litre; nil without a volume.
        public var likelihoods: PerHypothesis?
        /// P(hypothesis | Δm, ΔV) with the bin's prior; nil without a volume.
        public var posterior: PerHypothesis?
        /// σ of the volume change the likelihoods assumed.
        public var sigmaVolumeL: Double?

        /// The result as the deposit event carries it: the reason, likelihoods to 4 significant digits,
        /// posterior to 4 places.
        public var evidence: DepositEvidence {
            func significant(_ value: Double) -> Double {
                // Below 1e-300 the scale factor overflows; such a likelihood is zero for any reader.
                guard value >= 1e-300, value.isFinite else { return 0 }
                let scale = pow(10, 3 - floor(log10(value)))
                return (value * scale).rounded() / scale
            }
            func places(_ value: Double) -> Double { (value * 10_000).rounded() / 10_000 }
            return DepositEvidence(
                reason: reason.rawValue,
                likelihoods: likelihoods.map { $0.map(significant) },
                posterior: posterior.map { $0.map(places) },
                volumeSigmaL: sigmaVolumeL.map { (($0 * 1000).rounded() / 1000) })
        }

        /// A deposit that cannot be judged, for `reason`.
        public static func unknown(_ reason: Reason) -> Result {
            Result(observed: .unknown, confidence: 0, densityKgL: nil, reason: reason)
        }

        /// The same result with its class withdrawn for `reason` (the likelihoods stay, so a reader sees what
        /// the measurement would have said).
        public func withdrawn(_ reason: Reason) -> Result {
            var result = self
            result.observed = .unknown
            result.reason = reason
            return result
        }
    }

    /// Classifies a deposit of `massKg` and `volumeL` (nil when there is no trusted volume) measured with
    /// standard deviations `sigmaMassKg` and `sigmaVolumeL`, into a bin declared for `declared`.
    public func classify(
        massKg: Double, volumeL: Double?, sigmaMassKg: Double, sigmaVolumeL: Double, declared: WasteStream
    ) -> Result {
        guard let volumeL, volumeL.isFinite, massKg.isFinite else { return .unknown(.noVolume) }
        let logLikelihood = logLikelihoods(
            massKg: massKg, volumeL: volumeL, sigmaMassKg: sigmaMassKg, sigmaVolumeL: sigmaVolumeL)
        let prior = prior(declared: declared)
        let logJoint = [
            log(prior.wet) + logLikelihood.wet, log(prior.dry) + logLikelihood.dry,
            log(prior.other) + logLikelihood.other,
        ]
        let total = Self.logSumExp(logJoint)
        // Only a degenerate configuration (a zero prior everywhere) leaves nothing to normalise by.
        guard total.isFinite else { return .unknown(.lowConfidence) }
        let posterior = PerHypothesis(
            wet: exp(logJoint[0] - total), dry: exp(logJoint[1] - total), other: exp(logJoint[2] - total))
        let likelihoods = PerHypothesis(
            wet: exp(logLikelihood.wet), dry: exp(logLikelihood.dry), other: exp(logLikelihood.other))
        let side: ObservedStream = posterior.wet >= posterior.dry ? .wet : .dry
        let sideProbability = posterior[side]
        let density = Self.apparentDensity(massKg: massKg, volumeL: volumeL, sigmaVolumeL: sigmaVolumeL)
        var result = Result(
            observed: .unknown, confidence: sideProbability, densityKgL: density, reason: .lowConfidence,
            likelihoods: likelihoods,
            posterior: posterior, sigmaVolumeL: sigmaVolumeL)
        if posterior.other > sideProbability {
            result.reason = .outsideRanges
        } else if sideProbability >= requiredConfidence(for: side, declared: declared)
            || (sideProbability >= thresholds.minConfidence
                && reachesFlag(posterior, declared: declared, side: side))
        {
            result.observed = side
            result.reason = .classified
        }
        return result
    }

    /// Whether a deposit into a wet or dry bin, seen as `side`, the other class, does not belong in the bin
    /// (the other class or `other`) with a posterior of at least `contamination_confidence`; false for the
    /// bin's own stream and for other bins. Both the flag and the call it needs ask this: when it holds, the
    /// call against the bin's stream is made at `min_confidence`, because the risk `against_stream_confidence`
    /// guards against, a correctly sorted deposit moved to another ledger, is then below 1 %, and `other`
    /// taking a few percent (a light residual bag, near the densities of foam) must not shield a deposit from
    /// its flag.
    private func reachesFlag(_ posterior: PerHypothesis, declared: WasteStream, side: ObservedStream) -> Bool {
        let notBelonging: Double =
            switch (declared, side) {
            case (.wet, .dry): 1 - posterior.wet
            case (.dry, .wet): 1 - posterior.dry
            default: 0
            }
        return notBelonging >= thresholds.contaminationConfidence
    }

    /// The posterior a call of `side` needs in a bin declared for `declared`: `min_confidence` for the bin's
    /// own stream, `against_stream_confidence` for any other. A wrong call for the bin's stream books a
    /// mis-sort where a bin without sensors would have booked it; a wrong call against it moves correctly
    /// sorted mass to another stream's ledger and is half of a contamination flag, so it costs more.
    public func requiredConfidence(for side: ObservedStream, declared: WasteStream) -> Double {
        side.rawValue == declared.rawValue ? thresholds.minConfidence : thresholds.againstStreamConfidence
    }

    /// Δm / ΔV for a reader, when the volume change is clearly above zero (more than σV); nil otherwise.
    public static func apparentDensity(massKg: Double, volumeL: Double, sigmaVolumeL: Double) -> Double? {
        volumeL > max(0.05, sigmaVolumeL) && massKg > 0 && massKg / volumeL <= WireLimits.densityKgL.upperBound
            ? massKg / volumeL : nil
    }

    /// A deposit into a wet or dry bin is contaminated when it is observed as the other of the two and the
    /// posterior that it does not belong in this bin, the other class or `other`, reaches
    /// `contamination_confidence`. The second question is the one a flag answers: a heavy bag at 1 kg/L in the
    /// dry bin is kitchen waste or rubble, and either way it is not residual waste. Density cannot tell
    /// recyclables (PET at 0.02 kg/L, glass at 0.5) or hazardous waste from either class, so deposits into
    /// those bins are never flagged.
    public func isContaminated(_ result: Result, declared: WasteStream) -> Bool {
        guard let posterior = result.posterior else { return false }
        return reachesFlag(posterior, declared: declared, side: result.observed)
    }

    /// The prior for a deposit into a bin declared for `declared`: `other_prior` for `other`, the rest split
    /// between wet and dry by `stream_prior` (the probability that a wet-or-dry deposit is of the bin's own
    /// stream; 0.5 says nothing). Bins for recyclables and hazardous waste split it evenly.
    public func prior(declared: WasteStream) -> PerHypothesis {
        let other = thresholds.otherPrior
        let own = thresholds.streamPrior
        switch declared {
        case .wet: return PerHypothesis(wet: (1 - other) * own, dry: (1 - other) * (1 - own), other: other)
        case .dry: return PerHypothesis(wet: (1 - other) * (1 - own), dry: (1 - other) * own, other: other)
        default: return PerHypothesis(wet: (1 - other) / 2, dry: (1 - other) / 2, other: other)
        }
    }

    /// The density ranges of `other`: below the dry range and above the wet range, each beyond
    /// `range_margin`, out to `other_kg_l`, and the gap between the two ranges (a density neither class has:
    /// a mixed bag, or kitchen waste fluffier than any in the sources). Empty parts are left out.
    public var otherRanges: [ClosedRange<Double>] {
        let margin = 1 + thresholds.rangeMargin
        let light =
            thresholds.otherKgL.lowerBound...max(thresholds.otherKgL.lowerBound, thresholds.dryKgL.lowerBound / margin)
        let gap = thresholds.dryKgL.upperBound...max(thresholds.dryKgL.upperBound, thresholds.wetKgL.lowerBound)
        let heavy =
            min(thresholds.otherKgL.upperBound, thresholds.wetKgL.upperBound * margin)...thresholds.otherKgL.upperBound
        return [light, gap, heavy].filter { $0.upperBound > $0.lowerBound }
    }

    /// ln p(ΔV | Δm, hypothesis) for the three hypotheses.
    public func logLikelihoods(massKg: Double, volumeL: Double, sigmaMassKg: Double, sigmaVolumeL: Double)
        -> (wet: Double, dry: Double, other: Double)
    {
        func logLikelihood(_ range: ClosedRange<Double>) -> Double {
            Self.logLikelihood(
                volumeL: volumeL, massKg: massKg, densities: range, sigmaMassKg: sigmaMassKg, sigmaVolumeL: sigmaVolumeL
            )
        }
        // `other` is one hypothesis whose density is uniform in ln ρ over both of its parts together.
        let parts = otherRanges
        let widths = parts.map { log($0.upperBound / $0.lowerBound) }
        let totalWidth = widths.reduce(0, +)
        let other =
            parts.isEmpty
            ? -Double.infinity
            : Self.logSumExp(zip(parts, widths).map { log($0.1 / totalWidth) + logLikelihood($0.0) })
        return (logLikelihood(thresholds.wetKgL), logLikelihood(thresholds.dryKgL), other)
    }

    /// Nodes of the integral over ln ρ: the midpoint rule on 64 nodes is exact to well under 1 % for any
    /// range here, and a deposit is classified once.
    static let integrationNodes = 64

    /// The midpoints of the integral over ln ρ in `densities`.
    static func densityNodes(_ densities: ClosedRange<Double>) -> [Double] {
        let n = integrationNodes
        let low = log(densities.lowerBound)
        let step = (log(densities.upperBound) - low) / Double(n)
        return (0..<n).map { exp(low + (Double($0) + 0.5) * step) }
    }

    /// Where the waste surface under the beam sits after a deposit, as its volume change tells it: the offset
    /// of the reading after the deposit from the true fill (litres; positive when the reading shows more fill
    /// than there is), as a mean and a variance.
    ///
    /// The measured change is ΔV = m/ρ + u_after − u_before + ping noise, where `volumeL` has the estimate of
    /// u_before already added back and `sigmaVolumeL` is the σ left (the after surface, the pings and what is
    /// still unknown of u_before). For one density ρ the residual y = ΔV − m/ρ is normal, and u_after, normal
    /// with σ `surfaceSigmaL` a priori (the roughness), has mean σ²_s/s² · y and variance σ²_s − σ⁴_s/s² given y.
    /// Over the hypotheses and their densities, weighted by their posterior, that is a mixture; its mean and
    /// variance are returned. A deposit whose density is pinned down pins the surface down; one whose density
    /// could be anywhere in a wide range leaves it about as unknown as the roughness says.
    public func surfaceOffsetAfter(
        massKg: Double, volumeL: Double, sigmaMassKg: Double, sigmaVolumeL: Double, surfaceSigmaL: Double,
        declared: WasteStream
    ) -> (meanL: Double, varianceL2: Double)? {
        guard massKg.isFinite, volumeL.isFinite, surfaceSigmaL > 0, sigmaVolumeL >= surfaceSigmaL else { return nil }
        let prior = prior(declared: declared)
        let surfaceVariance = surfaceSigmaL * surfaceSigmaL
        // (log weight, residual, variance of the residual) per density node of every hypothesis.
        var nodes: [(logWeight: Double, residual: Double, variance: Double)] = []
        func add(_ range: ClosedRange<Double>, logPrior: Double) {
            let logNodeWeight = logPrior - log(Double(Self.integrationNodes))
            for density in Self.densityNodes(range) {
                let sigmaFromMass = sigmaMassKg / density
                let variance = max(sigmaVolumeL * sigmaVolumeL + sigmaFromMass * sigmaFromMass, 1e-18)
                let residual = volumeL - massKg / density
                let logDensity = -0.5 * residual * residual / variance - 0.5 * log(2 * Double.pi * variance)
                nodes.append((logNodeWeight + logDensity, residual, variance))
            }
        }
        add(thresholds.wetKgL, logPrior: log(prior.wet))
        add(thresholds.dryKgL, logPrior: log(prior.dry))
        let parts = otherRanges
        let totalWidth = parts.map { log($0.upperBound / $0.lowerBound) }.reduce(0, +)
        for part in parts {
            add(part, logPrior: log(prior.other) + log(log(part.upperBound / part.lowerBound) / totalWidth))
        }
        let total = Self.logSumExp(nodes.map(\.logWeight))
        guard total.isFinite else { return nil }
        var mean = 0.0
        var secondMoment = 0.0
        for node in nodes {
            let weight = exp(node.logWeight - total)
            let gain = surfaceVariance / node.variance
            let nodeMean = gain * node.residual
            let nodeVariance = surfaceVariance * (1 - gain)
            mean += weight * nodeMean
            secondMoment += weight * (nodeVariance + nodeMean * nodeMean)
        }
        let variance = min(max(secondMoment - mean * mean, 0), surfaceVariance)
        return (mean, variance)
    }

    /// ln of (1 / ln(b/a)) ∫ N(V; m/ρ, σV² + (σm/ρ)²) d ln ρ over ρ in [a, b]: the measured volume's density
    /// when the true density is uniform in ln ρ over the range and the true volume is m/ρ.
    static func logLikelihood(
        volumeL: Double, massKg: Double, densities: ClosedRange<Double>, sigmaMassKg: Double, sigmaVolumeL: Double
    ) -> Double {
        var terms: [Double] = []
        terms.reserveCapacity(integrationNodes)
        for density in densityNodes(densities) {
            let sigmaFromMass = sigmaMassKg / density
            let sigma = max((sigmaVolumeL * sigmaVolumeL + sigmaFromMass * sigmaFromMass).squareRoot(), 1e-9)
            let z = (volumeL - massKg / density) / sigma
            terms.append(-0.5 * z * z - log(sigma) - 0.5 * log(2 * Double.pi))
        }
        return logSumExp(terms) - log(Double(integrationNodes))
    }

    static func logSumExp(_ values: [Double]) -> Double {
        guard let top = values.max(), top > -.infinity else { return -.infinity }
        return top + log(values.reduce(0) { $0 + exp($1 - top) })
    }

    /// σ of a volume change from two ranger readings (before and after), each the median of `pings`
    /// pings with σ `rangerSigmaMm`, on a surface whose height varies with σ `surfaceRoughnessMm`
    /// under the beam, in a bin of `litresPerMm` cross-section.
    public static func volumeSigmaL(
        rangerSigmaMm: Double, surfaceRoughnessMm: Double, rangerPings: Int, litresPerMm: Double
    )
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

    /// The smallest mass of waste at `densityKgL`, into a bin declared for `declared`, for which `decides`
    /// holds when its volume is measured exactly (so about half of such deposits get there; heavier ones
    /// move the volume further from the other hypotheses', and more of them do). `infinity` when no mass does
    /// (a density another hypothesis explains as well).
    public func minimumMassKg(
        densityKgL: Double, declared: WasteStream, sigmaMassKg: Double, sigmaVolumeL: Double, decides: (Result) -> Bool
    ) -> Double {
        func reaches(_ massKg: Double) -> Bool {
            decides(
                classify(
                    massKg: massKg, volumeL: massKg / densityKgL, sigmaMassKg: sigmaMassKg, sigmaVolumeL: sigmaVolumeL,
                    declared: declared))
        }
        var high = 0.01
        while !reaches(high) {
            high *= 2
            if high > 100_000 { return .infinity }
        }
        var low = high == 0.01 ? 0 : high / 2
        while high - low > 0.0005 {
            let mid = (low + high) / 2
            if reaches(mid) { high = mid } else { low = mid }
        }
        return high
    }

    /// The smallest mis-sort that is flagged: waste of the class opposite to the bin's (kitchen waste in a dry
    /// bin, residual waste in a wet one) at `densityKgL`, measured by sensors with these σ, is `contaminated`.
    /// nil for bins that are not wet or dry.
    public func minimumJudgeableMisSortKg(
        declared: WasteStream, densityKgL: Double, scaleSigmaKg: Double, windowReadings: Int, rangerSigmaMm: Double,
        surfaceRoughnessMm: Double, rangerPings: Int, litresPerMm: Double
    ) -> Double? {
        guard declared == .wet || declared == .dry else { return nil }
        return minimumMassKg(
            densityKgL: densityKgL, declared: declared,
            sigmaMassKg: Self.massSigmaKg(scaleSigmaKg: scaleSigmaKg, windowReadings: windowReadings),
            sigmaVolumeL: Self.volumeSigmaL(
                rangerSigmaMm: rangerSigmaMm, surfaceRoughnessMm: surfaceRoughnessMm, rangerPings: rangerPings,
                litresPerMm: litresPerMm)
        ) { isContaminated($0, declared: declared) }
    }
}

extension HypothesisValues {
    /// The value of the hypothesis a deposit is called: `unknown` reads `other`.
    public subscript(stream: ObservedStream) -> Double {
        switch stream {
        case .wet: wet
        case .dry: dry
        case .unknown: other
        }
    }

    func map(_ transform: (Double) -> Double) -> HypothesisValues {
        HypothesisValues(wet: transform(wet), dry: transform(dry), other: transform(other))
    }
}
