import BinProtocol

/// The bins the aggregator has seen of each device, at most ``WireLimits/maxBins`` per device (what a birth
/// may declare), and the newest state time judged on receipt for each.
///
/// Devices are bounded by the registry, but a bin is whatever name a state's topic or an event carries: a
/// device with valid credentials (or a fault in its configuration) could name a new bin in every message,
/// and every table keyed by bin would grow with them, in memory (the alert engine's conditions, learned
/// fill rates, this table) and in the store. So a device's first ``WireLimits/maxBins`` bins are admitted
/// and no more, for as long as the process runs: a state of a further bin is refused, and an event naming
/// one is booked (the ledger must not lose it) but not handed to the alert engine.
struct DeviceBins: Sendable {
    enum Judgement: Equatable {
        /// The newest state of its bin so far: judge it now.
        case newest
        /// A newer state of the bin was judged already.
        case superseded
        /// The bin is not admitted.
        case refused
    }

    /// Per device, per admitted bin, the newest state time judged on receipt (nil: none yet).
    private var bins: [String: [String: Int64?]] = [:]

    /// Whether `bin` is one of `device`'s admitted bins, admitting it while the device has room.
    mutating func admit(device: String, bin: String) -> Bool {
        if bins[device]?[bin] != nil { return true }
        guard bins[device, default: [:]].count < WireLimits.maxBins else { return false }
        bins[device, default: [:]][bin] = .some(nil)
        return true
    }

    /// A state of `bin` at `atMs`, to be judged on receipt unless a newer one was.
    mutating func judge(device: String, bin: String, atMs: Int64) -> Judgement {
        guard admit(device: device, bin: bin) else { return .refused }
        if let newest = bins[device]?[bin] ?? nil, atMs < newest { return .superseded }
        bins[device, default: [:]][bin] = atMs
        return .newest
    }
}
