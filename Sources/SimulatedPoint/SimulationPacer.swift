import BinDaemon
import GPIO
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Shapes virtual time for a simulated point (`binsd simulate`, or `binsd run` on the `sim` board):
///
/// - **Speed**: from `originNanoseconds` on (the scenario's start; the installer's lead-in before it runs at
///   full speed), virtual time follows the wall clock at `speed` virtual seconds per real second. Without a
///   speed it runs as fast as the loop can go.
/// - **Network outages**: a scenario's `network: {down_for_s}` event cuts the point's link for that long in
///   virtual time. Virtual time would otherwise race through an outage in milliseconds while the real MQTT
///   client still needs its real reconnect time, so the pacer holds virtual time at both edges: before the
///   cut until what was recorded earlier has gone out (it happened before the outage, so it is not late),
///   and after the link is back until the client has reconnected and the backlog has gone out (on a real
///   point minutes pass while it drains; here the rest of the day could otherwise pass in those real
///   milliseconds, before the point has even had room to record its `outbox.dropped` fault). Events
///   recorded in between wait in the outbox and go out marked historical, as they would on a real point.
///
/// `networkDown(untilNanoseconds:)` is called from a scheduled action under the chip's lock, so it only
/// records the request and wakes the sampling thread, where `pace` does the waiting.
public final class SimulationPacer: SamplingPacer {
    /// Hooks into the rest of the simulated point.
    public struct Link: Sendable {
        /// Drops live connections abruptly and refuses new ones.
        public var cut: @Sendable () -> Void
        /// Accepts connections again.
        public var restore: @Sendable () -> Void
        /// Blocks until nothing waits in the outbox, at most the given real time; false on timeout.
        public var waitUntilDelivered: @Sendable (Duration) -> Bool
        /// Blocks until the MQTT client is connected, at most the given real time; false on timeout.
        public var waitUntilConnected: @Sendable (Duration) -> Bool

        public init(
            cut: @escaping @Sendable () -> Void, restore: @escaping @Sendable () -> Void,
            waitUntilDelivered: @escaping @Sendable (Duration) -> Bool,
            waitUntilConnected: @escaping @Sendable (Duration) -> Bool
        ) {
            self.cut = cut
            self.restore = restore
            self.waitUntilDelivered = waitUntilDelivered
            self.waitUntilConnected = waitUntilConnected
        }
    }

    private struct State: Sendable {
        /// An outage asked for by the timeline, not yet begun (the end's virtual time).
        var requestedOutageEnd: UInt64?
        /// The outage in progress.
        var outageEnd: UInt64?
        /// Real time at which virtual time passed `originNanoseconds`.
        var realOrigin: UInt64?
    }

    public let originNanoseconds: UInt64
    public let speed: Double?
    public let link: Link?
    /// How long to hold virtual time at an outage's edges before going on anyway (logged).
    public let edgeTimeout: Duration
    private let wakeup: GPIOWakeup
    private let logger: Logger
    private let state = Mutex(State())

    public init(
        originNanoseconds: UInt64, speed: Double?, link: Link?, wakeup: GPIOWakeup,
        edgeTimeout: Duration = .seconds(60),
        logger: Logger
    ) {
        self.originNanoseconds = originNanoseconds
        self.speed = speed
        self.link = link
        self.wakeup = wakeup
        self.edgeTimeout = edgeTimeout
        self.logger = logger
    }

    /// The timeline's network event: the link goes down now and comes back at `untilNanoseconds`.
    public func networkDown(untilNanoseconds: UInt64) {
        guard link != nil else { return }
        state.withLock { $0.requestedOutageEnd = max($0.requestedOutageEnd ?? 0, untilNanoseconds) }
        wakeup.signal()
    }

    public func nextDeadlineNanoseconds() -> UInt64? {
        state.withLock { $0.requestedOutageEnd != nil ? 0 : $0.outageEnd }
    }

    public func pace(chipNanoseconds now: UInt64, wakeup: GPIOWakeup, maximumRealNanoseconds: UInt64) {
        handleOutage(now: now)
        guard let speed, speed > 0, now >= originNanoseconds else { return }
        let realNow = Self.monotonicNow()
        let origin = state.withLock { state -> UInt64 in
            if let origin = state.realOrigin { return origin }
            state.realOrigin = realNow
            return realNow
        }
        let target = origin &+ UInt64(Double(now - originNanoseconds) / speed)
        guard target > realNow else { return }
        Self.sleep(nanoseconds: min(target - realNow, maximumRealNanoseconds), unlessSignalled: wakeup)
    }

    private func handleOutage(now: UInt64) {
        guard let link else { return }
        let (begin, end) = state.withLock { state -> (UInt64?, UInt64?) in
            let begin = state.requestedOutageEnd
            if let begin {
                state.requestedOutageEnd = nil
                state.outageEnd = max(state.outageEnd ?? 0, begin)
            }
            return (begin, state.outageEnd)
        }
        if let begin {
            let delivered = link.waitUntilDelivered(edgeTimeout)
            link.cut()
            logger.notice(
                "simulation.network_down",
                metadata: ["simulation.until_ns": "\(begin)", "simulation.delivered_before": "\(delivered)"])
        }
        if let end, now >= end {
            state.withLock { $0.outageEnd = nil }
            link.restore()
            let connected = link.waitUntilConnected(edgeTimeout)
            let drained = connected && link.waitUntilDelivered(edgeTimeout)
            logger.notice(
                "simulation.network_up",
                metadata: ["simulation.reconnected": "\(connected)", "simulation.drained": "\(drained)"])
        }
    }

    static func monotonicNow() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// Sleeps in `poll()` on the wakeup's eventfd, so a command ends the sleep; the signal is left for the
    /// loop's own wait to consume.
    static func sleep(nanoseconds: UInt64, unlessSignalled wakeup: GPIOWakeup) {
        guard !wakeup.isSignalled else { return }
        var descriptor = pollfd(fd: wakeup.fileDescriptor, events: Int16(POLLIN), revents: 0)
        let milliseconds = Int32(min(nanoseconds / 1_000_000 + 1, 1_000_000))
        if wakeup.fileDescriptor >= 0 {
            _ = poll(&descriptor, 1, milliseconds)
        } else {
            var ts = timespec(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
            _ = nanosleep(&ts, nil)
        }
    }

    /// Blocks the calling (non-async) thread until `condition` holds or `timeout` passes, looking every 5 ms.
    /// Only for the simulation's outage edges, which wait on the real MQTT client from the sampling thread.
    public static func block(until condition: () -> Bool, timeout: Duration) -> Bool {
        let deadline =
            monotonicNow() &+ UInt64(timeout.components.seconds) * 1_000_000_000
            &+ UInt64(timeout.components.attoseconds / 1_000_000_000)
        while !condition() {
            if monotonicNow() >= deadline { return false }
            var ts = timespec(tv_sec: 0, tv_nsec: 5_000_000)
            _ = nanosleep(&ts, nil)
        }
        return true
    }
}
