import BinProtocol

/// What a bin's last deposit told about the waste surface under the ranger's beam.
///
/// A ranger reading is off from the bin's true fill mostly because the surface under the beam is uneven, and
/// that unevenness stays put until the next deposit lands on it: the reading after one deposit and the reading
/// before the next look at the same surface. So the volume changes of consecutive deposits share one surface
/// offset with opposite signs (their errors correlate at about −0.5). Once a deposit is judged, the part of
/// its measured change that its mass and the density ranges do not explain says something about the surface
/// it left behind (`DensityClassifier.surfaceOffsetAfter`); the next deposit's volume is measured from that
/// surface, so its change is corrected by the expected offset and judged with the σ that is left.
/// docs/binsd.md section 5 gives the model.
public struct SurfaceOffset: Sendable, Equatable {
    /// Expected offset of the reading after the deposit from the true fill, litres (positive: the reading
    /// shows more fill than there is).
    public var meanL: Double
    /// Its variance as a share of the surface's own variance (roughness × cross-section, squared): 1 says
    /// nothing beyond the roughness, 0 would be a surface known exactly.
    public var varianceShare: Double
    /// The reading after the deposit: the surface this describes, and the fill it showed.
    public var reading: DepositDetector.FillSnapshot

    public init(meanL: Double, varianceShare: Double, reading: DepositDetector.FillSnapshot) {
        self.meanL = meanL
        self.varianceShare = min(max(varianceShare, 0), 1)
        self.reading = reading
    }
}
