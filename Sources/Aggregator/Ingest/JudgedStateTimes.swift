import BinProtocol

/// The newest state time judged on receipt, per device and bin, kept for at most
/// ``WireLimits/maxBins`` bins of each device.
///
/// Devices are bounded by the registry, but a bin is whatever name a state's topic carries: a device with
/// valid credentials (or a fault in its configuration) could name a new bin in every message, and a table
/// keyed by any name would grow with them. A bin beyond a device's first ``WireLimits/maxBins`` is not
/// tracked; its states are judged after their commit, as the store orders them, which is correct, only
/// slower.
struct JudgedStateTimes: Sendable {
    enum Outcome: Equatable {
        /// The newest state of its bin so far: judge it now.
        case newest
        /// A newer state of the bin was judged already.
        case superseded
        /// The device has as many bins tracked as a birth may declare, not this one.
        case untracked
    }

    private var newestMs: [String: [String: Int64]] = [:]

    mutating func record(device: String, bin: String, atMs: Int64) -> Outcome {
        if let known = newestMs[device]?[bin] {
            guard atMs >= known else { return .superseded }
        } else if newestMs[device, default: [:]].count >= WireLimits.maxBins {
            return .untracked
        }
        newestMs[device, default: [:]][bin] = atMs
        return .newest
    }
}
