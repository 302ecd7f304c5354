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

/// When to connect, when to wait and when to stop, for one client: a value type so the policy is
/// tested without sockets. The network thread feeds it what happened and does what it returns.
struct ConnectionStateMachine: Sendable {
    enum Action: Sendable, Equatable {
        case connect
        case wait(Duration)
        case stop
    }

    private(set) var state: MQTTConnectionState = .disconnected
    private(set) var isStopping = false
    private(set) var backoff: ReconnectBackoff
    /// A connection that lasted at least this long resets the backoff; a shorter one (a broker that
    /// accepts and then drops us, a client id taken over) keeps escalating it.
    let stableConnection: Duration

    init(backoff: ReconnectBackoff, stableConnection: Duration) {
        self.backoff = backoff
        self.stableConnection = stableConnection
    }

    /// The service starts.
    mutating func start() -> Action {
        beginAttempt()
    }

    /// The attempt failed before the broker accepted it (DNS, TCP, TLS, CONNACK refusal).
    mutating func attemptFailed(using generator: inout some RandomNumberGenerator) -> Action {
        state = .disconnected
        if isStopping { return .stop }
        return .wait(backoff.nextDelay(using: &generator))
    }

    /// CONNACK with success.
    mutating func accepted() {
        state = .connected
    }

    /// The connection ended; `connectedFor` is how long it was accepted, `nil` if it never was.
    mutating func ended(connectedFor: Duration?, using generator: inout some RandomNumberGenerator) -> Action {
        guard let connectedFor else { return attemptFailed(using: &generator) }
        state = .disconnected
        if isStopping { return .stop }
        if connectedFor >= stableConnection { backoff.reset() }
        return .wait(backoff.nextDelay(using: &generator))
    }

    /// The wait before the next attempt is over (or was interrupted).
    mutating func waitEnded() -> Action {
        beginAttempt()
    }

    /// Graceful shutdown: no new attempts; the caller disconnects the current connection, if any.
    mutating func requestStop() {
        isStopping = true
    }

    private mutating func beginAttempt() -> Action {
        if isStopping {
            state = .disconnected
            return .stop
        }
        state = .connecting
        return .connect
    }
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
