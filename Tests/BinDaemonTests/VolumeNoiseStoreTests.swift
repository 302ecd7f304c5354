import BinProtocol
import BinsTestSupport
import Foundation
import Testing

@testable import BinDaemon

/// What a bin learned of its volume noise, kept in the state directory across restarts.
@Suite struct VolumeNoiseStoreTests {
    /// An estimate that has seen `count` deposits noisier than configured.
    static func learned(_ count: Int) -> VolumeNoiseEstimate {
        let classifier = DensityClassifier()
        let sigma = 1.62
        var estimate = VolumeNoiseEstimate()
        for index in 0..<count {
            let mass = 0.5 + Double(index % 5) * 0.4
            // Residual waste at 0.1 kg/L, measured 3 L off either way: twice the configured σ.
            estimate.observe(
                massKg: mass, volumeL: mass / 0.1 + (index % 2 == 0 ? 3 : -3), sigmaMassKg: 0.003,
                sigmaVolumeL: sigma, declared: .dry, classifier: classifier)
        }
        return estimate
    }

    static func configuration(_ yaml: String = validConfigYAML) throws -> DepositDetector.Configuration {
        let config = try parseConfig(yaml)
        return DepositDetector.Configuration(bin: config.bins[0], config: config)
    }

    @Test func anEstimateIsStoredAndReadBackUnderItsConfiguration() throws {
        let directory = try TemporaryDirectory(prefix: "binsd-volume-noise")
        let store = VolumeNoiseStore(directory: directory.file("volume-noise"))
        let basis = VolumeNoiseStore.basis(of: try Self.configuration())
        #expect(try store.load(bin: "wet", basis: basis) == nil)  // nothing stored yet

        let estimate = Self.learned(20)
        #expect(estimate.factor > 1.1 && estimate.deposits == 20)
        try store.save(estimate, bin: "wet", basis: basis)
        let restored = try #require(try store.load(bin: "wet", basis: basis))
        #expect(restored == estimate)
        #expect(restored.factor == estimate.factor)

        // Learned under another configuration (a changed roughness): not used, as a reload would drop it.
        let rougher = try Self.configuration(
            replacing("  scale_noise_kg: 0.004", with: "  scale_noise_kg: 0.004\n  surface_roughness_mm: 8"))
        let otherBasis = VolumeNoiseStore.basis(of: rougher)
        #expect(otherBasis != basis)
        #expect(try store.load(bin: "wet", basis: otherBasis) == nil)
        // The same configuration read again gives the same basis.
        #expect(VolumeNoiseStore.basis(of: try Self.configuration()) == basis)
        // What a call or a flag needs, fill thresholds and intervals are not what the noise was learned
        // against: tuning them keeps the estimate.
        let tuned = try Self.configuration(
            validConfigYAML
                + "\nclassification: {min_confidence: 0.85, against_stream_confidence: 0.97, contamination_confidence: 0.995}\n"
        )
        #expect(tuned.classifier.thresholds.minConfidence == 0.85)
        #expect(VolumeNoiseStore.basis(of: tuned) == basis)
        #expect(try store.load(bin: "wet", basis: VolumeNoiseStore.basis(of: tuned)) == estimate)
        let otherPrior = try Self.configuration(validConfigYAML + "\nclassification: {stream_prior: 0.9}\n")
        #expect(
            VolumeNoiseStore.basis(of: otherPrior) != basis, "the prior weighs the deposits the estimate learned from")
    }

    @Test func aReloadKeepsWhatTheBinLearnedUnlessItChangesWhatItWasLearnedAgainst() throws {
        var detector = DepositDetector(configuration: try Self.configuration())
        detector.restoreVolumeNoise(Self.learned(20))
        #expect(detector.volumeNoise.deposits == 20)
        detector.reconfigure(
            try Self.configuration(validConfigYAML + "\nclassification: {min_confidence: 0.85}\n"))
        #expect(detector.volumeNoise.deposits == 20, "a new confidence threshold keeps the estimate")
        detector.reconfigure(
            try Self.configuration(
                replacing("  scale_noise_kg: 0.004", with: "  scale_noise_kg: 0.004\n  surface_roughness_mm: 8")))
        #expect(detector.volumeNoise.deposits == 0, "a new roughness starts it again")
    }

    @Test func aDamagedFileIsAnErrorNamingIt() throws {
        let directory = try TemporaryDirectory(prefix: "binsd-volume-noise")
        let store = VolumeNoiseStore(directory: directory.path)
        let basis = VolumeNoiseStore.basis(of: try Self.configuration())
        try #"{"basis": "x", "estimate": {"deposits": 3, "log_likelihood": [0, 1, 2]}}"#
            .write(toFile: store.path(bin: "wet"), atomically: true, encoding: .utf8)
        #expect {
            _ = try store.load(bin: "wet", basis: basis)
        } throws: { error in
            "\(error)".contains("\(store.path(bin: "wet")): not a usable volume noise estimate")
                && "\(error)".contains("expected 29 finite numbers, one per factor")
        }
        try #"{"basis": "x", "estimate": {"deposits": -1, "log_likelihood": \#(Array(repeating: 0, count: 29))}}"#
            .write(toFile: store.path(bin: "wet"), atomically: true, encoding: .utf8)
        #expect {
            _ = try store.load(bin: "wet", basis: basis)
        } throws: { error in
            "\(error)".contains("a count of deposits cannot be negative")
        }
    }
}
