import BinProtocol
import Foundation
import Simulation
import Testing

@testable import BinDaemon

@Suite struct DensityClassifierTests {
    let classifier = DensityClassifier()
    /// σ of a volume change in the 480 × 550 mm box with the default sensors (docs/binsd.md section 5).
    let boxSigmaL = DensityClassifier.volumeSigmaL(
        rangerSigmaMm: 3, surfaceRoughnessMm: 4, rangerPings: 5, litresPerMm: 0.264)
    let sigmaMass = DensityClassifier.massSigmaKg(scaleSigmaKg: 0.005, windowReadings: 5)

    @Test func knownDensitiesWithSmallErrorsAreClassified() {
        let wet = classifier.classify(massKg: 3.0, volumeL: 5.0, sigmaMassKg: 0.005, sigmaVolumeL: 0.3, declared: .wet)
        #expect(wet.observed == .wet && wet.reason == .classified && wet.confidence > 0.999)
        #expect(abs(wet.densityKgL! - 0.6) < 1e-12)
        let dry = classifier.classify(massKg: 1.0, volumeL: 10.0, sigmaMassKg: 0.005, sigmaVolumeL: 0.3, declared: .dry)
        #expect(dry.observed == .dry && dry.confidence > 0.99)
        // The posterior sums to one and the confidence is the observed class's share of it.
        let posterior = try! #require(dry.posterior)
        #expect(abs(posterior.wet + posterior.dry + posterior.other - 1) < 1e-12)
        #expect(dry.confidence == posterior.dry)
    }

    /// The likelihood is an average over ln ρ of the normal density of the measured volume around m/ρ: the
    /// 64-node rule agrees with a 20,000-node one.
    @Test func likelihoodIsTheIntegralOverTheDensityRange() {
        for (mass, volume) in [(1.5, 2.0), (1.5, 12.0), (0.4, -1.0), (6.0, 9.0)] {
            let fine = fineLikelihood(massKg: mass, volumeL: volume, densities: 0.24...0.9, sigmaVolumeL: boxSigmaL)
            let computed = exp(
                DensityClassifier.logLikelihood(
                    volumeL: volume, massKg: mass, densities: 0.24...0.9, sigmaMassKg: 0, sigmaVolumeL: boxSigmaL))
            #expect(abs(computed / fine - 1) < 0.01, "\(mass) kg, \(volume) L: \(computed) vs \(fine)")
        }
    }

    func fineLikelihood(massKg: Double, volumeL: Double, densities: ClosedRange<Double>, sigmaVolumeL: Double) -> Double
    {
        let n = 20_000
        let low = log(densities.lowerBound)
        let step = (log(densities.upperBound) - low) / Double(n)
        var sum = 0.0
        for i in 0..<n {
            let z = (volumeL - massKg / exp(low + (Double(i) + 0.5) * step)) / sigmaVolumeL
            sum += exp(-0.5 * z * z) / (sigmaVolumeL * (2 * Double.pi).squareRoot())
        }
        return sum / Double(n)
    }

    /// A heavy deposit that hardly moves the surface is evidence, not a division by zero: 1.5 kg of residual
    /// waste would need at least 11.5 L.
    @Test func zeroAndNegativeVolumesAreEvidence() {
        for volume in [0.0, -0.8] {
            let result = classifier.classify(
                massKg: 1.5, volumeL: volume, sigmaMassKg: sigmaMass, sigmaVolumeL: boxSigmaL, declared: .dry)
            let posterior = try! #require(result.posterior)
            #expect(posterior.dry < 1e-6, "\(volume) L: \(posterior)")
            #expect(result.densityKgL == nil)
            #expect(result.reason != .noVolume)
        }
    }

    @Test func missingVolumeIsUnknownWithoutEvidence() {
        let result = classifier.classify(
            massKg: 2, volumeL: nil, sigmaMassKg: 0.001, sigmaVolumeL: 0.01, declared: .wet)
        #expect(
            result.observed == .unknown && result.reason == .noVolume && result.confidence == 0
                && result.posterior == nil)
    }

    @Test func bricksFoamAndTheGapAreOther() {
        // 2 kg/L
        let brick = classifier.classify(massKg: 8, volumeL: 4, sigmaMassKg: 0.005, sigmaVolumeL: 0.3, declared: .dry)
        #expect(brick.observed == .unknown && brick.reason == .outsideRanges)
        // 0.01 kg/L
        let foam = classifier.classify(massKg: 0.2, volumeL: 20, sigmaMassKg: 0.005, sigmaVolumeL: 0.3, declared: .wet)
        #expect(foam.observed == .unknown && foam.reason == .outsideRanges)
        // Between the classes (0.177 kg/L) and measured precisely: neither class, not the nearer one.
        let gap = classifier.classify(massKg: 8.85, volumeL: 50, sigmaMassKg: 0.001, sigmaVolumeL: 0.3, declared: .dry)
        #expect(gap.observed == .unknown && gap.reason == .outsideRanges)
        // The same density with the noise of a household bin: too close to call.
        let noisy = classifier.classify(
            massKg: 1.77, volumeL: 10, sigmaMassKg: sigmaMass, sigmaVolumeL: boxSigmaL, declared: .dry)
        #expect(noisy.observed == .unknown)
    }

    @Test func confidenceFollowsTheUncertainty() {
        // 0.29 kg/L: kitchen waste with a precise volume, too close to residual waste with a rough one.
        let precise = classifier.classify(
            massKg: 2.0, volumeL: 7.0, sigmaMassKg: 0.002, sigmaVolumeL: 0.3, declared: .wet)
        let rough = classifier.classify(massKg: 2.0, volumeL: 7.0, sigmaMassKg: 0.002, sigmaVolumeL: 12, declared: .wet)
        #expect(precise.observed == .wet)
        #expect(rough.observed == .unknown && rough.reason == .lowConfidence)
        #expect(rough.confidence < precise.confidence)
    }

    /// The default prior says nothing about the bin: the same measurement gets the same posterior in a wet and
    /// in a dry bin. A configured prior leans towards the bin's own stream.
    @Test func priorFromTheDeclaredStream() {
        let inWet = classifier.classify(
            massKg: 1.0, volumeL: 6.0, sigmaMassKg: sigmaMass, sigmaVolumeL: boxSigmaL, declared: .wet)
        let inDry = classifier.classify(
            massKg: 1.0, volumeL: 6.0, sigmaMassKg: sigmaMass, sigmaVolumeL: boxSigmaL, declared: .dry)
        #expect(inWet.posterior == inDry.posterior)
        var leaning = ClassificationThresholds()
        leaning.streamPrior = 0.9
        let informed = DensityClassifier(thresholds: leaning)
        let wetBin = informed.classify(
            massKg: 1.0, volumeL: 6.0, sigmaMassKg: sigmaMass, sigmaVolumeL: boxSigmaL, declared: .wet)
        let dryBin = informed.classify(
            massKg: 1.0, volumeL: 6.0, sigmaMassKg: sigmaMass, sigmaVolumeL: boxSigmaL, declared: .dry)
        #expect(wetBin.posterior!.wet > inWet.posterior!.wet)
        #expect(dryBin.posterior!.dry > inDry.posterior!.dry)
        let prior = informed.prior(declared: .dry)
        #expect(abs(prior.dry - 0.98 * 0.9) < 1e-12 && abs(prior.wet - 0.98 * 0.1) < 1e-12 && prior.other == 0.02)
        #expect(informed.prior(declared: .recyclable).wet == informed.prior(declared: .recyclable).dry)
    }

    /// Contamination is its own decision: observed as the other class is not enough, the posterior that the
    /// deposit does not belong in the bin must reach `contamination_confidence`.
    @Test func contaminationHasItsOwnThreshold() {
        let result = classifier.classify(
            massKg: 1.0, volumeL: 9.0, sigmaMassKg: sigmaMass, sigmaVolumeL: boxSigmaL, declared: .wet)
        #expect(result.observed == .dry)
        #expect(classifier.isContaminated(result, declared: .wet))
        var strict = ClassificationThresholds()
        strict.contaminationConfidence = 1 - 1e-12
        #expect(!DensityClassifier(thresholds: strict).isContaminated(result, declared: .wet))
        // Never for recyclable or hazardous bins, never for the bin's own class or unknown.
        #expect(!classifier.isContaminated(result, declared: .dry))
        #expect(!classifier.isContaminated(result, declared: .recyclable))
        #expect(!classifier.isContaminated(result, declared: .hazardous))
        #expect(!classifier.isContaminated(result.withdrawn(.sensorFault), declared: .wet))
    }

    /// The two deposits of issue 13, with the default sensors in the 480 × 550 mm box: 1.5 kg of kitchen waste
    /// in 2 L is flagged in the dry bin; 1.5 kg of residual waste in 12 L is not.
    @Test func smallHeavyMisSortIsFlaggedAndABagOfResidualWasteIsNot() {
        let kitchen = classifier.classify(
            massKg: 1.5, volumeL: 2, sigmaMassKg: sigmaMass, sigmaVolumeL: boxSigmaL, declared: .dry)
        #expect(kitchen.observed == .wet && classifier.isContaminated(kitchen, declared: .dry), "\(kitchen)")
        let residual = classifier.classify(
            massKg: 1.5, volumeL: 12, sigmaMassKg: sigmaMass, sigmaVolumeL: boxSigmaL, declared: .dry)
        #expect(residual.observed == .dry && !classifier.isContaminated(residual, declared: .dry), "\(residual)")
    }

    @Test func minimumMisSortIsExactlyWhereTheFlagBegins() {
        func flagged(_ m: Double, density: Double = 0.5, sigmaVolumeL: Double? = nil) -> Bool {
            let result = classifier.classify(
                massKg: m, volumeL: m / density, sigmaMassKg: sigmaMass, sigmaVolumeL: sigmaVolumeL ?? boxSigmaL,
                declared: .dry)
            return classifier.isContaminated(result, declared: .dry)
        }
        let mass = classifier.minimumMassKg(
            densityKgL: 0.5, declared: .dry, sigmaMassKg: sigmaMass, sigmaVolumeL: boxSigmaL
        ) {
            classifier.isContaminated($0, declared: .dry)
        }
        #expect(flagged(mass) && !flagged(mass - 0.002))
        // More noise, a heavier minimum; a density next to the other class needs more mass.
        let noisier = classifier.minimumMassKg(
            densityKgL: 0.5, declared: .dry, sigmaMassKg: sigmaMass, sigmaVolumeL: 2 * boxSigmaL
        ) {
            classifier.isContaminated($0, declared: .dry)
        }
        let edge = classifier.minimumMassKg(
            densityKgL: 0.25, declared: .dry, sigmaMassKg: sigmaMass, sigmaVolumeL: boxSigmaL
        ) {
            classifier.isContaminated($0, declared: .dry)
        }
        #expect(noisier > mass && edge > mass)
    }

    /// The figures docs/binsd.md section 5 quotes for the default sensors.
    @Test func documentedMinimumMisSorts() {
        #expect(abs(boxSigmaL - 1.62) < 0.005)
        func judgeable(_ declared: WasteStream, _ density: Double, litresPerMm: Double = 0.264) -> Double {
            classifier.minimumJudgeableMisSortKg(
                declared: declared, densityKgL: density, scaleSigmaKg: 0.005, windowReadings: 5, rangerSigmaMm: 3,
                surfaceRoughnessMm: 4, rangerPings: 5, litresPerMm: litresPerMm)!
        }
        // 480 x 550 mm box.
        #expect(abs(judgeable(.dry, 0.5) - 0.70) < 0.01)
        #expect(abs(judgeable(.dry, 0.3) - 0.91) < 0.01)
        #expect(abs(judgeable(.wet, 0.10) - 0.69) < 0.01)
        #expect(abs(judgeable(.wet, 0.13) - 1.16) < 0.01)
        // 450 mm round bin.
        let round = Double.pi * 225 * 225 / 1_000_000
        #expect(abs(judgeable(.dry, 0.5, litresPerMm: round) - 0.42) < 0.01)
        #expect(abs(judgeable(.wet, 0.10, litresPerMm: round) - 0.42) < 0.01)
        #expect(
            classifier.minimumJudgeableMisSortKg(
                declared: .recyclable, densityKgL: 0.5, scaleSigmaKg: 0.005, windowReadings: 5, rangerSigmaMm: 3,
                surfaceRoughnessMm: 4, rangerPings: 5, litresPerMm: 0.264) == nil)
        // The smallest deposit of the bin's own stream that gets its class, in the box.
        func ownClass(_ declared: WasteStream, _ density: Double) -> Double {
            classifier.minimumMassKg(
                densityKgL: density, declared: declared, sigmaMassKg: sigmaMass, sigmaVolumeL: boxSigmaL
            ) { $0.observed.rawValue == declared.rawValue }
        }
        #expect(abs(ownClass(.dry, 0.10) - 0.37) < 0.01)
        #expect(abs(ownClass(.wet, 0.5) - 0.36) < 0.01)
    }

    /// The surface left behind by a deposit, as its volume change tells it, on simulated chains of deposits
    /// into the dry bin: each reading is off by the surface under the beam (normal, the roughness) plus ping
    /// noise, the surface is redrawn by every deposit, and each deposit's density is drawn uniform in ln ρ over
    /// the dry range. The estimate's mean squared error is below the roughness's variance (it tells something),
    /// matches the variance it claims (calibrated, within 15 %), and the next deposit's volume corrected by it
    /// is closer to the truth than the raw one (a little: the dry range spans 1.6 times in volume).
    @Test func surfaceOffsetAfterADepositIsInformativeAndCalibrated() {
        let surfaceSigma = 4 * 0.264
        let pingSigma = (boxSigmaL * boxSigmaL / 2 - surfaceSigma * surfaceSigma).squareRoot()
        var generator = SplitMix64(seed: 13)
        func normal() -> Double {
            (-2 * log(generator.nextDouble(in: 1e-12...1))).squareRoot()
                * cos(2 * Double.pi * generator.nextDouble(in: 0...1))
        }
        var squaredError = 0.0
        var claimedVariance = 0.0
        var rawSquaredError = 0.0
        var correctedSquaredError = 0.0
        let trials = 4_000
        var surfaceBefore = normal() * surfaceSigma
        var known = (meanL: 0.0, varianceL2: surfaceSigma * surfaceSigma)
        for _ in 0..<trials {
            let mass = generator.nextDouble(in: 0.3...2.5)
            let density = exp(generator.nextDouble(in: log(0.08)...log(0.13)))
            let surfaceAfter = normal() * surfaceSigma
            let measured =
                mass / density + (surfaceAfter + normal() * pingSigma) - (surfaceBefore + normal() * pingSigma)
            let corrected = measured + known.meanL
            rawSquaredError += pow(measured - mass / density, 2)
            correctedSquaredError += pow(corrected - mass / density, 2)
            let sigma = (boxSigmaL * boxSigmaL - (surfaceSigma * surfaceSigma - known.varianceL2)).squareRoot()
            let after = try! #require(
                classifier.surfaceOffsetAfter(
                    massKg: mass, volumeL: corrected, sigmaMassKg: sigmaMass, sigmaVolumeL: sigma,
                    surfaceSigmaL: surfaceSigma,
                    declared: .dry))
            squaredError += pow(surfaceAfter - after.meanL, 2)
            claimedVariance += after.varianceL2
            #expect(after.varianceL2 <= surfaceSigma * surfaceSigma)
            known = after
            surfaceBefore = surfaceAfter
        }
        let meanSquaredError = squaredError / Double(trials)
        #expect(meanSquaredError < 0.85 * surfaceSigma * surfaceSigma, "\(meanSquaredError)")
        #expect(
            abs(meanSquaredError / (claimedVariance / Double(trials)) - 1) < 0.15,
            "\(meanSquaredError) \(claimedVariance / Double(trials))")
        #expect(correctedSquaredError < 0.97 * rawSquaredError, "\(correctedSquaredError) \(rawSquaredError)")
    }

    /// A small bag whose volume change came out below zero (every hypothesis predicts at least 0.07 L for
    /// 0.2 kg) says the surface it left reads low, and pins it down better than the roughness alone. A change
    /// that some hypothesis explains (here, 0.2 kg in 2 L is residual waste, or a bag in the gap) says little.
    @Test func surfaceOffsetFollowsTheResidual() {
        let surfaceSigma = 4 * 0.264
        let low = try! #require(
            classifier.surfaceOffsetAfter(
                massKg: 0.2, volumeL: -1.5, sigmaMassKg: sigmaMass, sigmaVolumeL: boxSigmaL,
                surfaceSigmaL: surfaceSigma, declared: .dry))
        #expect(low.meanL < -0.5 && low.varianceL2 < 0.8 * surfaceSigma * surfaceSigma, "\(low)")
        let explained = try! #require(
            classifier.surfaceOffsetAfter(
                massKg: 0.2, volumeL: 2, sigmaMassKg: sigmaMass, sigmaVolumeL: boxSigmaL, surfaceSigmaL: surfaceSigma,
                declared: .dry))
        #expect(abs(explained.meanL) < 0.3 && explained.varianceL2 <= surfaceSigma * surfaceSigma, "\(explained)")
    }

    /// The estimate of the volume noise stays at the configured σ when the deposits agree with it and grows
    /// when they are noisier, but never goes below it.
    @Test func volumeNoiseIsLearnedUpwardsOnly() {
        var quiet = VolumeNoiseEstimate()
        var noisy = VolumeNoiseEstimate()
        var generator = SplitMix64(seed: 7)
        for i in 0..<120 {
            let wet = i % 2 == 0
            let mass = generator.nextDouble(in: 0.5...2.5)
            let density = wet ? generator.nextDouble(in: 0.3...0.8) : generator.nextDouble(in: 0.08...0.13)
            // Box-Muller: a standard normal error.
            let error =
                (-2 * log(generator.nextDouble(in: 1e-12...1))).squareRoot()
                * cos(2 * Double.pi * generator.nextDouble(in: 0...1))
            quiet.observe(
                massKg: mass, volumeL: mass / density + error * boxSigmaL * 0.5, sigmaMassKg: sigmaMass,
                sigmaVolumeL: boxSigmaL,
                declared: .wet, classifier: classifier)
            noisy.observe(
                massKg: mass, volumeL: mass / density + error * boxSigmaL * 2, sigmaMassKg: sigmaMass,
                sigmaVolumeL: boxSigmaL,
                declared: .wet, classifier: classifier)
        }
        #expect(quiet.factor == 1)
        #expect(noisy.factor > 1.6 && noisy.factor < 2.5, "\(noisy.factor)")
        #expect(VolumeNoiseEstimate().factor == 1)
    }

    /// A deposit that does not belong in the bin at the flag's confidence is called the other class at
    /// `min_confidence`, even when `other` keeps that class below `against_stream_confidence`: a light
    /// residual bag near foam's densities is not kept from its flag.
    @Test func aDepositThatDoesNotBelongIsCalledAndFlagged() {
        // 1 kg in 17.5 L (0.057 kg/L) into the wet bin: residual waste or foam, certainly not kitchen waste.
        let result = classifier.classify(
            massKg: 1, volumeL: 17.5, sigmaMassKg: sigmaMass, sigmaVolumeL: 2.6, declared: .wet)
        let posterior = try! #require(result.posterior)
        #expect(posterior.dry >= 0.8 && posterior.dry < 0.95 && posterior.other > 0.05, "\(posterior)")
        #expect(1 - posterior.wet >= 0.99)
        #expect(result.observed == .dry && result.reason == .classified)
        #expect(classifier.isContaminated(result, declared: .wet))
        // With a flag out of reach, only `against_stream_confidence` could make the call, and it does not.
        var strict = classifier
        strict.thresholds.contaminationConfidence = 1 - 1e-12
        let withoutFlag = strict.classify(
            massKg: 1, volumeL: 17.5, sigmaMassKg: sigmaMass, sigmaVolumeL: 2.6, declared: .wet)
        #expect(withoutFlag.observed == .unknown && !strict.isContaminated(withoutFlag, declared: .wet))
    }

    /// A call for the bin's own stream needs `min_confidence`; a call against it needs the higher
    /// `against_stream_confidence`: the same measurement is called in one bin and not in the other.
    @Test func aCallAgainstTheBinsStreamNeedsMoreEvidence() {
        // Residual waste at 0.1 kg/L, measured with a wide σ: the posterior of dry is between the two limits.
        let sigma = 3.5
        let inDry = classifier.classify(
            massKg: 1, volumeL: 10, sigmaMassKg: sigmaMass, sigmaVolumeL: sigma, declared: .dry)
        let inWet = classifier.classify(
            massKg: 1, volumeL: 10, sigmaMassKg: sigmaMass, sigmaVolumeL: sigma, declared: .wet)
        let posterior = try! #require(inDry.posterior?.dry)
        #expect(posterior >= 0.8 && posterior < 0.95, "\(posterior)")
        #expect(inWet.posterior == inDry.posterior)  // the default prior says nothing about the bin
        #expect(inDry.observed == .dry && inDry.reason == .classified)
        #expect(
            inWet.observed == .unknown && inWet.reason == .lowConfidence
                && !classifier.isContaminated(inWet, declared: .wet))
        #expect(classifier.requiredConfidence(for: .dry, declared: .dry) == 0.8)
        #expect(classifier.requiredConfidence(for: .wet, declared: .dry) == 0.95)
        #expect(classifier.requiredConfidence(for: .wet, declared: .recyclable) == 0.95)
    }
}
