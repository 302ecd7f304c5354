/// The raise/clear decision for one alert subject: hysteresis between a raise and a lower clear
/// threshold, and a minimum duration the value must stay at or above the raise threshold. A value type
/// driven by observations `(value, time)`; device-derived conditions pass the payload's `ts` (so a
/// simulated device in virtual time, or a replayed day, is judged on its own clock), liveness and targets
/// pass wall time.
public struct AlertCondition: Sendable, Equatable {
    public enum Phase: Sendable, Equatable {
        case normal
        /// At or above the raise threshold since this time, not yet for the minimum duration.
        case pending(sinceMs: Int64)
        /// An alert is open.
        case active
    }

    public enum Decision: Sendable, Equatable {
        case raise
        case clear
    }

    public private(set) var phase: Phase
    /// Time of the newest observation; older ones arriving late are ignored, since the condition is
    /// judged on the newest picture.
    public private(set) var lastObservedMs: Int64?

    public init(active: Bool = false) {
        phase = active ? .active : .normal
    }

    public var isActive: Bool { phase == .active }

    public mutating func observe(value: Double, atMs: Int64, rule: AlertRule) -> Decision? {
        if let lastObservedMs, atMs < lastObservedMs { return nil }
        lastObservedMs = atMs
        let minimumMs = Int64(rule.minimumDurationSeconds) * 1000
        switch phase {
        case .normal:
            guard value >= rule.raise else { return nil }
            if minimumMs == 0 {
                phase = .active
                return .raise
            }
            phase = .pending(sinceMs: atMs)
            return nil
        case .pending(let since):
            guard value >= rule.raise else {
                phase = .normal
                return nil
            }
            guard atMs - since >= minimumMs else { return nil }
            phase = .active
            return .raise
        case .active:
            guard value <= rule.clear else { return nil }
            phase = .normal
            return .clear
        }
    }
}
