import YAMLConfig

/// A bin's inner shape as a measuring object: from the ranger's distance to the waste surface, to the
/// filled volume and fill fraction, and back. Heights are measured from the bin's bottom, distances
/// from the ranger's face; the ranger sits `mountMm` above the top rim.
public struct BinGeometry: Sendable, Equatable, Encodable {
    /// Depth from the rim to the bottom.
    public let depthMm: Double
    /// Volume at full depth, announced as `capacity_l` in the birth message.
    public let capacityL: Double
    /// Height -> volume breakpoints (for box and cylinder: the two ends of one straight line).
    private let points: [HeightVolume]

    /// A problem with a shape, against the shape's field (e.g. `depth_mm`).
    public struct Problem: Sendable, Equatable {
        public var field: String
        public var message: String
    }

    /// Everything impossible about `shape`: non-positive sizes, too few or non-increasing table points.
    public static func problems(in shape: BinShape) -> [Problem] {
        var problems: [Problem] = []
        func positive(_ value: Double, _ field: String) {
            if !(value > 0) || !value.isFinite {
                problems.append(
                    Problem(field: field, message: "must be greater than 0, got \(ConfigText.number(value))"))
            }
        }
        switch shape {
        case .box(let width, let length, let depth):
            positive(width, "width_mm")
            positive(length, "length_mm")
            positive(depth, "depth_mm")
        case .cylinder(let diameter, let depth):
            positive(diameter, "diameter_mm")
            positive(depth, "depth_mm")
        case .table(let points):
            if points.count < 2 {
                problems.append(Problem(field: "points", message: "needs at least 2 points, got \(points.count)"))
            }
            for (index, point) in points.enumerated() {
                if point.heightMm < 0 || point.volumeL < 0 {
                    problems.append(
                        Problem(
                            field: "points[\(index)]",
                            message:
                                "height and volume cannot be negative, got [\(ConfigText.number(point.heightMm)), \(ConfigText.number(point.volumeL))]"
                        ))
                }
                if index > 0 {
                    let previous = points[index - 1]
                    if point.heightMm <= previous.heightMm {
                        problems.append(
                            Problem(
                                field: "points[\(index)]",
                                message:
                                    "heights must increase, got \(ConfigText.number(point.heightMm)) mm after \(ConfigText.number(previous.heightMm)) mm"
                            ))
                    } else if point.volumeL <= previous.volumeL {
                        problems.append(
                            Problem(
                                field: "points[\(index)]",
                                message:
                                    "volumes must increase with height, got \(ConfigText.number(point.volumeL)) L after \(ConfigText.number(previous.volumeL)) L"
                            ))
                    }
                }
            }
            if let first = points.first, first.heightMm == 0, first.volumeL != 0 {
                problems.append(
                    Problem(
                        field: "points[0]",
                        message: "the volume at height 0 must be 0, got \(ConfigText.number(first.volumeL))"))
            }
        }
        return problems
    }

    /// The geometry of a valid shape; nil when `problems(in:)` finds anything.
    public init?(shape: BinShape) {
        guard Self.problems(in: shape).isEmpty else { return nil }
        switch shape {
        case .box(let width, let length, let depth):
            self.init(points: [
                HeightVolume(heightMm: 0, volumeL: 0),
                HeightVolume(heightMm: depth, volumeL: width * length * depth / 1e6),
            ])
        case .cylinder(let diameter, let depth):
            let area = Double.pi * diameter * diameter / 4
            self.init(points: [
                HeightVolume(heightMm: 0, volumeL: 0), HeightVolume(heightMm: depth, volumeL: area * depth / 1e6),
            ])
        case .table(let points):
            let start = points.first!.heightMm > 0 ? [HeightVolume(heightMm: 0, volumeL: 0)] : []
            self.init(points: start + points)
        }
    }

    private init(points: [HeightVolume]) {
        self.points = points
        self.depthMm = points.last!.heightMm
        self.capacityL = points.last!.volumeL
    }

    /// Filled volume with the surface `heightMm` above the bottom (clamped to the bin).
    public func volumeL(atHeightMm heightMm: Double) -> Double {
        let h = min(max(heightMm, 0), depthMm)
        let i = segment(containingHeight: h)
        let a = points[i]
        let b = points[i + 1]
        return a.volumeL + (b.volumeL - a.volumeL) * (h - a.heightMm) / (b.heightMm - a.heightMm)
    }

    /// Surface height at which the bin holds `volumeL` (clamped to 0...capacity): the inverse of
    /// `volumeL(atHeightMm:)`, used by tests and by the simulator's world.
    public func heightMm(forVolumeL volumeL: Double) -> Double {
        let v = min(max(volumeL, 0), capacityL)
        var i = 0
        while i < points.count - 2 && v > points[i + 1].volumeL { i += 1 }
        let a = points[i]
        let b = points[i + 1]
        return a.heightMm + (b.heightMm - a.heightMm) * (v - a.volumeL) / (b.volumeL - a.volumeL)
    }

    /// Litres per millimetre of surface height at `heightMm` (the cross-section, in L/mm): what one
    /// millimetre of ranger error is worth in volume.
    public func litresPerMm(atHeightMm heightMm: Double) -> Double {
        let i = segment(containingHeight: min(max(heightMm, 0), depthMm))
        let a = points[i]
        let b = points[i + 1]
        return (b.volumeL - a.volumeL) / (b.heightMm - a.heightMm)
    }

    /// Surface height for a ranger distance: depth - (distance - mount), not clamped, so a caller can
    /// tell "above the rim" (> depth) and "below the bottom" (< 0) from noise.
    public func surfaceHeightMm(distanceMm: Double, mountMm: Double) -> Double {
        depthMm - (distanceMm - mountMm)
    }

    /// Ranger distance that a surface at `heightMm` gives (inverse of `surfaceHeightMm`).
    public func distanceMm(surfaceHeightMm heightMm: Double, mountMm: Double) -> Double {
        mountMm + depthMm - heightMm
    }

    /// Fill level for a ranger distance, clamped to the bin.
    public func fill(distanceMm: Double, mountMm: Double) -> FillLevel {
        let height = min(max(surfaceHeightMm(distanceMm: distanceMm, mountMm: mountMm), 0), depthMm)
        let volume = volumeL(atHeightMm: height)
        return FillLevel(surfaceHeightMm: height, volumeL: volume, fraction: capacityL > 0 ? volume / capacityL : 0)
    }

    private func segment(containingHeight h: Double) -> Int {
        var i = 0
        while i < points.count - 2 && h > points[i + 1].heightMm { i += 1 }
        return i
    }
}

/// Where the waste surface is, as volume and fraction of the bin.
public struct FillLevel: Sendable, Equatable {
    public var surfaceHeightMm: Double
    public var volumeL: Double
    /// 0...1 of the capacity.
    public var fraction: Double

    public init(surfaceHeightMm: Double, volumeL: Double, fraction: Double) {
        self.surfaceHeightMm = surfaceHeightMm
        self.volumeL = volumeL
        self.fraction = fraction
    }
}
