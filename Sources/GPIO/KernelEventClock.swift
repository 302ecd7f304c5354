import SystemCalls

#if canImport(Glibc)
import Glibc
#endif

/// Which clock the kernel stamps GPIO edge events with. libgpiod 1.6 speaks the v1 uAPI
/// (`GPIO_GET_LINEEVENT_IOCTL`), whose `gpioevent_data.timestamp` came from `ktime_get_real_ns()`
/// (`CLOCK_REALTIME`) until Linux 5.6 and from `ktime_get_ns()` (`CLOCK_MONOTONIC`) since Linux 5.7
/// (kernel commit 26d060e47e25). Drivers compare edge timestamps with `ChipClock.nanoseconds()`,
/// which is `CLOCK_MONOTONIC`, so realtime stamps are converted on read.
enum KernelEventClock: Sendable, Hashable {
    case monotonic
    case realtime

    /// Decided once per chip from the running kernel's release (`uname -r`).
    static func forRunningKernel() -> KernelEventClock {
        var name = utsname()
        guard uname(&name) == 0 else { return .monotonic }
        let release = withUnsafeBytes(of: &name.release) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        return forKernelRelease(release)
    }

    /// `5.7.0-foo` and later stamp with the monotonic clock; unparsable releases are assumed recent.
    static func forKernelRelease(_ release: String) -> KernelEventClock {
        let numbers = release.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
        guard numbers.count == 2 else { return .monotonic }
        return (numbers[0], numbers[1]) >= (5, 7) ? .monotonic : .realtime
    }

    /// Converts a batch of kernel timestamps to `CLOCK_MONOTONIC` nanoseconds. For realtime stamps
    /// the offset between the clocks is read now, so a wall-clock step between the edge and this read
    /// (NTP, RTC) shifts the result: a limitation of pre-5.7 kernels that this cannot undo.
    func monotonic(_ timestamps: [UInt64]) -> [UInt64] {
        switch self {
        case .monotonic:
            return timestamps
        case .realtime:
            let monotonicNow = MonotonicTime.now()
            let realtimeNow = MonotonicTime.now(CLOCK_REALTIME)
            return timestamps.map { stamp in
                let age = realtimeNow > stamp ? realtimeNow - stamp : 0
                return monotonicNow > age ? monotonicNow - age : 0
            }
        }
    }
}
