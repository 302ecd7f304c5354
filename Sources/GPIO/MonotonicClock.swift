#if canImport(Glibc)
import Glibc
#endif

/// The clock of real lines: `CLOCK_MONOTONIC`, the base the kernel stamps GPIO edge events with
/// since Linux 5.7 (older kernels stamp with `CLOCK_REALTIME`; `LibgpiodChip` converts those), so a
/// driver can subtract an edge timestamp from `nanoseconds()` directly. It never jumps with NTP or
/// the RTC, which a bit-banged timing check must not see.
public final class MonotonicClock: ChipClock {
    public init() {}

    public func nanoseconds() -> UInt64 { MonotonicClock.now(CLOCK_MONOTONIC) }

    /// Busy-waits on `clock_gettime`: bit-banging needs microsecond delays, far below what the
    /// scheduler can promise for a sleeping thread.
    public func spin(nanoseconds: UInt64) {
        MonotonicClock.spin(untilMonotonic: MonotonicClock.now(CLOCK_MONOTONIC) &+ nanoseconds)
    }

    /// Sleeps with `clock_nanosleep` to an absolute deadline, so signals (EINTR) do not stretch or
    /// shorten the pause.
    public func sleep(nanoseconds: UInt64) {
        MonotonicClock.sleep(untilMonotonic: MonotonicClock.now(CLOCK_MONOTONIC) &+ nanoseconds)
    }

    package static func now(_ clock: clockid_t) -> UInt64 {
        var ts = timespec()
        clock_gettime(clock, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    package static func spin(untilMonotonic deadline: UInt64) {
        while MonotonicClock.now(CLOCK_MONOTONIC) < deadline {}
    }

    package static func sleep(untilMonotonic deadline: UInt64) {
        var ts = timespec(
            tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nil) == EINTR {}
    }
}

extension UInt64 {
    package func saturatingAdd(_ other: UInt64) -> UInt64 {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? .max : sum
    }
}
