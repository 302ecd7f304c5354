/// Exponential backoff with jitter between connection attempts.
///
/// The n-th consecutive failure waits a delay drawn uniformly from `[d/2, d]` where
/// `d = min(maximum, minimum × 2ⁿ)`: growing delays spare a broker that is struggling, and the random half
/// spreads out a fleet of devices that all lost the broker at the same moment.
struct ReconnectBackoff: Sendable, Equatable {
    let minimum: Duration
    let maximum: Duration
    /// Failed attempts since the last reset.
    private(set) var failures = 0

    init(minimum: Duration, maximum: Duration) {
        self.minimum = max(minimum, .milliseconds(1))
        self.maximum = max(maximum, self.minimum)
    }

    /// The upper bound of the next delay, without jitter.
    var ceiling: Duration {
        var delay = minimum
        var step = 0
        while step < failures && delay < maximum {
            delay = delay * 2
            step += 1
        }
        return min(delay, maximum)
    }

    /// Counts one more failure and returns how long to wait before the next attempt.
    mutating func nextDelay(using generator: inout some RandomNumberGenerator) -> Duration {
        let upper = ceiling.nanoseconds
        failures += 1
        let lower = upper / 2
        return .nanoseconds(Int64.random(in: lower...upper, using: &generator))
    }

    mutating func reset() { failures = 0 }
}

extension Duration {
    /// Whole nanoseconds, saturating; enough for delays and timeouts.
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        return scaled.addingReportingOverflow(attoseconds / 1_000_000_000).partialValue
    }

    /// Whole milliseconds, clamped to what C `int` timeouts accept.
    var clampedMilliseconds: Int32 {
        let milliseconds = nanoseconds / 1_000_000
        return Int32(clamping: max(0, milliseconds))
    }
}
