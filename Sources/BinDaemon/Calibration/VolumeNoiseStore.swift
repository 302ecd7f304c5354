import BinProtocol

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What each bin has learned of its volume noise, kept in `<state_dir>/volume-noise/<bin>.json` so that a
/// restart (a power cut, an update, a reboot) does not send the bin back to the prior: a bin that has seen a
/// day of deposits is judged with that day's evidence, not as unsure as on its first deposit
/// (docs/binsd.md section 5). The estimate is kept with the configuration it was learned against (its
/// `basis`) and used again only under the same one, as a reload that changes the bin starts it again.
public struct VolumeNoiseStore: Sendable {
    public let directory: String

    public init(directory: String) {
        self.directory = directory
    }

    public func path(bin: String) -> String { "\(directory)/\(bin).json" }

    /// The estimate stored for `bin` under `basis`; nil when there is none or it was learned under another
    /// configuration. A file that cannot be read or decoded is an error naming it.
    public func load(bin: String, basis: String) throws(BinDaemonError) -> VolumeNoiseEstimate? {
        let stored = try JSONStateFile.read(
            StoredVolumeNoise.self, path: path(bin: bin), what: "volume noise estimate", code: .fileUnreadable)
        guard let stored, stored.basis == basis else { return nil }
        return stored.estimate
    }

    public func save(_ estimate: VolumeNoiseEstimate, bin: String, basis: String) throws(BinDaemonError) {
        try JSONStateFile.write(
            StoredVolumeNoise(basis: basis, estimate: estimate), path: path(bin: bin), directory: directory,
            what: "volume noise estimate")
    }

    /// What an estimate is learned against (`VolumeNoiseBasis`), as canonical JSON: what
    /// `DepositDetector.reconfigure` compares when it decides to start the estimate again, so a restart keeps
    /// an estimate exactly when a reload would have.
    public static func basis(of configuration: DepositDetector.Configuration) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(VolumeNoiseBasis(configuration))) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}

/// One bin's file: the estimate and what it was learned against.
struct StoredVolumeNoise: Codable, Sendable, Equatable {
    var basis: String
    var estimate: VolumeNoiseEstimate
}
