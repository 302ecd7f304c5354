import Lifecycle

/// How long each stage of stopping may take, so a stop always ends: `bins-aggregator`'s systemd unit
/// allows 30 s (`TimeoutStopSec`) before it kills the process.
public struct ShutdownLimits: Sendable, CustomStringConvertible {
    /// Waiting for the broker's acknowledgement of the retained `online: false`; a broker that does not
    /// answer in time is logged (`aggregator.status_offline_not_published`) and the stop goes on.
    public var offlineStatus: Duration
    /// The whole graceful stop; services still running then are cancelled.
    public var graceful: Duration
    /// How long cancelled services (after `graceful`, or after a second signal) have to end before the
    /// process gives up on them.
    public var cancellation: Duration

    public init(
        offlineStatus: Duration = .seconds(5), graceful: Duration = .seconds(20), cancellation: Duration = .seconds(5)
    ) {
        self.offlineStatus = offlineStatus
        self.graceful = graceful
        self.cancellation = cancellation
    }

    /// The limits of the stop itself, as `StopSupervisor` enforces them.
    public var stop: StopLimits { StopLimits(graceful: graceful, cancellation: cancellation) }

    public var description: String {
        "offline status \(offlineStatus), graceful stop \(graceful), cancellation \(cancellation)"
    }
}
