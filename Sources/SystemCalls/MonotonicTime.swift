#if canImport(Glibc)
import Glibc
#endif

/// Nanosecond readings of the kernel's clocks, for deadlines that must not move with NTP or the RTC
/// (`CLOCK_MONOTONIC`) and for converting timestamps of kernels that stamp GPIO edges with
/// `CLOCK_REALTIME`.
public enum MonotonicTime {
    public static func now(_ clock: clockid_t = CLOCK_MONOTONIC) -> UInt64 {
        var ts = timespec()
        clock_gettime(clock, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    /// Busy-waits: bit-banging needs microsecond delays, far below what the scheduler can promise a
    /// sleeping thread.
    public static func spin(until deadline: UInt64) {
        while now() < deadline {}
    }

    /// Sleeps with `clock_nanosleep` to an absolute deadline, so signals (EINTR) neither stretch nor
    /// shorten the pause.
    public static func sleep(until deadline: UInt64) {
        var ts = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nil) == EINTR {}
    }
}

extension UInt64 {
    public func saturatingAdd(_ other: UInt64) -> UInt64 {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? .max : sum
    }
}
