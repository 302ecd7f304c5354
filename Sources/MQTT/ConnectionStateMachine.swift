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
