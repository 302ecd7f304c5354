import Foundation
import BinProtocol
import Testing

@testable import BinDaemon

@Suite struct DensityClassifierTests {
    let classifier = DensityClassifier()

    @Test func boundaryIsTheGeometricMeanOfTheInnerEdges() {
        #expect(abs(classifier.boundaryKgL - (0.13 * 0.24).squareRoot()) < 1e-12)
    }

    @Test func knownDensitiesWithSmallErrorsAreClassified() {
        let wet = classifier.classify(massKg: 3.0, volumeL: 5.0, sigmaMassKg: 0.005, sigmaVolumeL: 0.3)
        #expect(wet.observed == .wet && wet.reason == .classified && wet.confidence > 0.999)
        #expect(abs(wet.densityKgL! - 0.6) < 1e-12)
        let dry = classifier.classify(massKg: 1.0, volumeL: 10.0, sigmaMassKg: 0.005, sigmaVolumeL: 0.3)
        #expect(dry.observed == .dry && dry.confidence > 0.99)
    }

    @Test func confidenceFollowsTheUncertainty() {
        // 0.2 kg/L is just above the boundary: confident only with a precise volume.
        let precise = classifier.classify(massKg: 4.0, volumeL: 20.0, sigmaMassKg: 0.002, sigmaVolumeL: 0.05)
        let rough = classifier.classify(massKg: 4.0, volumeL: 20.0, sigmaMassKg: 0.002, sigmaVolumeL: 3)
        #expect(precise.observed == .wet)
        #expect(rough.observed == .unknown && rough.reason == .lowConfidence)
        #expect(rough.confidence < precise.confidence)
        // Exact value: z = ln(0.2 / 0.17664) / sqrt((0.002/4)^2 + (3/20)^2).
        let z = log(0.2 / (0.13 * 0.24).squareRoot()) / ((0.002 / 4.0) * (0.002 / 4.0) + 0.15 * 0.15).squareRoot()
        #expect(abs(rough.confidence - 0.5 * erfc(-z / 2.0.squareRoot())) < 1e-12)
    }

    @Test func smallMissingOrImplausibleDepositsAreUnknown() {
        #expect(classifier.classify(massKg: 0.6, volumeL: 1.0, sigmaMassKg: 0.001, sigmaVolumeL: 0.01).reason == .tooSmall)
        #expect(classifier.classify(massKg: 0.05, volumeL: 2.0, sigmaMassKg: 0.001, sigmaVolumeL: 0.01).reason == .tooSmall)
        #expect(classifier.classify(massKg: 2, volumeL: nil, sigmaMassKg: 0.001, sigmaVolumeL: 0.01) .reason == .noVolume)
        #expect(classifier.classify(massKg: 2, volumeL: -1, sigmaMassKg: 0.001, sigmaVolumeL: 0.5).reason == .tooSmall)
        let brick = classifier.classify(massKg: 8, volumeL: 4, sigmaMassKg: 0.005, sigmaVolumeL: 0.1)  // 2 kg/L
        #expect(brick.observed == .unknown && brick.reason == .outsideRanges)
        let foam = classifier.classify(massKg: 0.2, volumeL: 20, sigmaMassKg: 0.005, sigmaVolumeL: 0.1)  // 0.01 kg/L
        #expect(foam.observed == .unknown && foam.reason == .outsideRanges)
        // In the gap between the classes, 0.177 kg/L, nothing can be said.
        let gap = classifier.classify(massKg: 1.77, volumeL: 10, sigmaMassKg: 0.001, sigmaVolumeL: 0.01)
        #expect(gap.observed == .unknown)
    }

    @Test func contaminationOnlyForWetAndDryBins() {
        #expect(DensityClassifier.isContaminated(declared: .wet, observed: .dry))
        #expect(DensityClassifier.isContaminated(declared: .dry, observed: .wet))
        #expect(!DensityClassifier.isContaminated(declared: .wet, observed: .wet))
        #expect(!DensityClassifier.isContaminated(declared: .dry, observed: .unknown))
        #expect(!DensityClassifier.isContaminated(declared: .recyclable, observed: .wet))
        #expect(!DensityClassifier.isContaminated(declared: .hazardous, observed: .dry))
    }

    @Test func minimumClassifiableVolumeIsExactlyWhereConfidenceReachesTheThreshold() {
        let sigmaMass = 0.004
        let sigmaVolume = DensityClassifier.volumeSigmaL(rangerSigmaMm: 3, surfaceRoughnessMm: 4, rangerPings: 5, litresPerMm: 0.264)
        let vMin = classifier.minimumClassifiableVolumeL(sigmaMassKg: sigmaMass, sigmaVolumeL: sigmaVolume)
        // At the worst-case density (dry at 0.13), a deposit of vMin reaches min_confidence and a smaller one does not.
        let at = classifier.classify(massKg: 0.13 * vMin * 1.0001, volumeL: vMin * 1.0001, sigmaMassKg: sigmaMass, sigmaVolumeL: sigmaVolume)
        let below = classifier.classify(massKg: 0.13 * vMin * 0.98, volumeL: vMin * 0.98, sigmaMassKg: sigmaMass, sigmaVolumeL: sigmaVolume)
        #expect(at.observed == .dry)
        #expect(below.observed == .unknown)
        // More noise, bigger minimum; a typical wet density needs less than the worst case.
        #expect(classifier.minimumClassifiableVolumeL(sigmaMassKg: sigmaMass, sigmaVolumeL: sigmaVolume * 2) > vMin)
        #expect(classifier.minimumClassifiableVolumeL(sigmaMassKg: sigmaMass, sigmaVolumeL: sigmaVolume, densityKgL: 0.6) < vMin)
        // Never below the configured floor.
        #expect(classifier.minimumClassifiableVolumeL(sigmaMassKg: 0, sigmaVolumeL: 0, densityKgL: 0.6) == 1.5)
    }

    @Test func sensorLevelPredictionMatchesTheComposedOne() {
        let direct = classifier.minimumClassifiableVolumeL(
            scaleSigmaKg: 0.005, windowReadings: 5, rangerSigmaMm: 3, surfaceRoughnessMm: 4, rangerPings: 5, litresPerMm: 0.264)
        let composed = classifier.minimumClassifiableVolumeL(
            sigmaMassKg: DensityClassifier.massSigmaKg(scaleSigmaKg: 0.005, windowReadings: 5),
            sigmaVolumeL: DensityClassifier.volumeSigmaL(rangerSigmaMm: 3, surfaceRoughnessMm: 4, rangerPings: 5, litresPerMm: 0.264))
        #expect(direct == composed)
        #expect(direct > 1.5 && direct < 20)
    }

    /// The figures docs/binsd.md quotes for the default sensors in the 480 x 550 mm box.
    @Test func documentedMinimumVolumes() {
        func minimum(_ density: Double?) -> Double {
            classifier.minimumClassifiableVolumeL(
                scaleSigmaKg: 0.005, windowReadings: 5, rangerSigmaMm: 3, surfaceRoughnessMm: 4, rangerPings: 5, litresPerMm: 0.264,
                densityKgL: density)
        }
        let sigmaVolume = DensityClassifier.volumeSigmaL(rangerSigmaMm: 3, surfaceRoughnessMm: 4, rangerPings: 5, litresPerMm: 0.264)
        #expect(abs(sigmaVolume - 1.6) < 0.05)
        #expect(abs(minimum(nil) - 6.8) < 0.05)
        #expect(abs(minimum(0.6) - 1.7) < 0.05)
        #expect(abs(minimum(0.10) - 3.65) < 0.02)
    }
}
