import SystemCalls

#if canImport(Glibc)
import Glibc
#endif

/// The clock of real lines: `CLOCK_MONOTONIC`, the base the kernel stamps GPIO edge events with
/// since Linux 5.7 (older kernels stamp with `CLOCK_REALTIME`; `LibgpiodChip` converts those), so a
/// driver can subtract an edge timestamp from `nanoseconds()` directly. It never jumps with NTP or
/// the RTC, which a bit-banged timing check must not see.
public final class MonotonicClock: ChipClock {
    public init() {}

    public func nanoseconds() -> UInt64 { MonotonicTime.now() }

    /// Busy-waits on `clock_gettime`: bit-banging needs microsecond delays, far below what the
    /// scheduler can promise for a sleeping thread.
    public func spin(nanoseconds: UInt64) {
        MonotonicTime.spin(until: MonotonicTime.now() &+ nanoseconds)
    }

    /// Sleeps with `clock_nanosleep` to an absolute deadline, so signals (EINTR) do not stretch or
    /// shorten the pause.
    public func sleep(nanoseconds: UInt64) {
        MonotonicTime.sleep(until: MonotonicTime.now() &+ nanoseconds)
    }
}
