import Foundation

/// Purpose-built scenario files (format: docs/DESIGN.md section 8) for tests that need a situation the
/// library's day-long files do not isolate: a bin filled past the alert threshold, a fault window, an
/// outage, steady traffic to disturb. Bins are the library's household bins.
public struct ScenarioWriter: Sendable {
    public struct Bin: Sendable {
        public var id: String
        public var stream: String
        public var shape: String
        public var scale: String
        public var ranger = "{mount_mm: 40, jitter_us: 8, surface_roughness_mm: 4}"

        /// A 240 L wheelie-bin body (480 × 550 × 900 mm, 238 L) on a load cell, HC-SR04 under the lid, over a
        /// waste surface `surfaceRoughnessMm` uneven under the beam.
        public static func box240(
            _ id: String, stream: String, countsPerKg: Int = 21_000, offset: Int = 84_000, surfaceRoughnessMm: Int = 4
        ) -> Bin {
            Bin(
                id: id, stream: stream, shape: "{kind: box, width_mm: 480, length_mm: 550, depth_mm: 900}",
                scale: "{counts_per_kg: \(countsPerKg), offset_counts: \(offset), noise_counts: 30}",
                ranger: "{mount_mm: 40, jitter_us: 8, surface_roughness_mm: \(surfaceRoughnessMm)}")
        }

        /// A 360 L round bin (700 mm across, 950 mm deep).
        public static func round360(_ id: String, stream: String) -> Bin {
            Bin(
                id: id, stream: stream, shape: "{kind: cylinder, diameter_mm: 700, depth_mm: 950}",
                scale: "{counts_per_kg: 19500, offset_counts: 72000, noise_counts: 30}")
        }
    }

    public var device: String
    public var start = "2026-06-01T06:00:00+08:00"
    public var seed = 11
    public var bins: [Bin]
    public var end: Int
    public private(set) var timeline: [(at: Int, yaml: String)] = []

    public init(device: String, bins: [Bin], end: Int) {
        self.device = device
        self.bins = bins
        self.end = end
    }

    /// Streams by bin id.
    public var streams: [String: String] { Dictionary(uniqueKeysWithValues: bins.map { ($0.id, $0.stream) }) }

    public mutating func deposit(at: Int, bin: String, kg: Double, litres: Double, material: String? = nil) {
        let materialField = material.map { ", material: \($0)" } ?? ""
        timeline.append(
            (
                at,
                "{at: \(at), deposit: {bin: \(bin), mass_kg: \(fixed(kg, 3)), volume_l: \(fixed(litres, 2))\(materialField)}}"
            ))
    }

    public mutating func collect(at: Int, bin: String) {
        timeline.append((at, "{at: \(at), collect: {bin: \(bin)}}"))
    }

    public mutating func fault(at: Int, bin: String, sensor: String, kind: String, forS: Int) {
        timeline.append((at, "{at: \(at), fault: {bin: \(bin), sensor: \(sensor), kind: \(kind), for_s: \(forS)}}"))
    }

    public mutating func networkDown(at: Int, forS: Int) {
        timeline.append((at, "{at: \(at), network: {down_for_s: \(forS)}}"))
    }

    public var yaml: String {
        var lines = [
            "# Written by a test.", "device: \(device)", "start: \(start)", "seed: \(seed)",
            "temperature_c: 22",
            "bins:",
        ]
        for bin in bins {
            lines += [
                "  - id: \(bin.id)", "    stream: \(bin.stream)", "    shape: \(bin.shape)", "    scale: \(bin.scale)",
                "    ranger: \(bin.ranger)", "    lid: true",
            ]
        }
        lines.append("events:")
        lines += timeline.sorted { $0.at < $1.at }.map { "  - \($0.yaml)" }
        lines.append("end: \(end)")
        return lines.joined(separator: "\n") + "\n"
    }

    /// Writes the file and returns its path.
    public func write(in directory: TemporaryDirectory) throws -> String {
        try directory.write("\(device).yaml", yaml)
    }

    private func fixed(_ value: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", value) }
}

/// Bulk densities the library's generator uses (scenarios/generate.py, from docs/binsd.md section 5), kg/L.
public enum BulkDensity {
    public static let wet = 0.30...0.80
    public static let dry = 0.08...0.13
    public static let recyclable = 0.03...0.07
}
