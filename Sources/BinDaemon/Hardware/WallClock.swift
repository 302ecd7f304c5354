import BinProtocol

#if canImport(Glibc)
import Glibc
#endif

/// Turns the chip's time (what drivers and edge events are stamped with) into the wall-clock time payloads
/// carry. The detector and everything above it work in `WireTimestamp`s; only this mapping knows where
/// they come from.
public protocol WallClock: Sendable {
    func timestamp(atChipNanoseconds nanoseconds: UInt64) -> WireTimestamp
}

/// Real lines: the chip clock is `CLOCK_MONOTONIC`; the wall clock is `CLOCK_REALTIME` in the local zone.
/// The offset between the two is taken afresh at every conversion, so an NTP step moves later timestamps,
/// never the chip's timing.
public struct SystemWallClock: WallClock {
    public init() {}

    public func timestamp(atChipNanoseconds nanoseconds: UInt64) -> WireTimestamp {
        var realtime = timespec()
        var monotonic = timespec()
        clock_gettime(CLOCK_REALTIME, &realtime)
        clock_gettime(CLOCK_MONOTONIC, &monotonic)
        let offsetNs =
            (Int64(realtime.tv_sec) - Int64(monotonic.tv_sec)) * 1_000_000_000
            + (Int64(realtime.tv_nsec) - Int64(monotonic.tv_nsec))
        let milliseconds = (Int64(bitPattern: nanoseconds) + offsetNs) / 1_000_000
        return WireTimestamp(
            millisecondsSinceEpoch: milliseconds,
            utcOffsetSeconds: WireTimestamp.localUTCOffsetSeconds(atMilliseconds: milliseconds))
    }
}
