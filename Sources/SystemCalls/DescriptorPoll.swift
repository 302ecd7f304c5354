#if canImport(Glibc)
import Glibc
#endif

/// `poll()` on a few descriptors until one is readable or a `CLOCK_MONOTONIC` deadline passes.
/// `poll` counts in milliseconds, so the wait is rounded up to the next millisecond and the deadline
/// re-checked on return: a wait never ends early and overshoots by under a millisecond. (Swift's
/// Glibc module does not expose `ppoll`.) EINTR restarts the wait with the time left.
public enum DescriptorPoll {
    /// What `poll` said about one descriptor.
    public struct Readiness: Sendable, Hashable {
        public var revents: Int16

        public var isReadable: Bool { revents & Int16(POLLIN | POLLPRI) != 0 }
        /// POLLERR, POLLHUP or POLLNVAL: reading would not help.
        public var isBroken: Bool { revents & Int16(POLLERR | POLLHUP | POLLNVAL) != 0 }
        public var isSet: Bool { revents != 0 }
    }

    /// Returns, per descriptor, what `poll` reported; all empty when the deadline passed. A negative
    /// descriptor is ignored by `poll` and reported empty.
    public static func wait(_ descriptors: [Int32], deadline: UInt64) throws(Errno) -> [Readiness] {
        var fds = descriptors.map { pollfd(fd: $0, events: Int16(POLLIN | POLLPRI), revents: 0) }
        while true {
            let now = MonotonicTime.now()
            let remaining = deadline > now ? deadline - now : 0
            let milliseconds = Int32(clamping: (remaining / 1_000_000) + (remaining % 1_000_000 == 0 ? 0 : 1))
            for index in fds.indices { fds[index].revents = 0 }
            let result: Int32
            do {
                result = try systemCall(retryingOnInterrupt: false) {
                    fds.withUnsafeMutableBufferPointer { poll($0.baseAddress, nfds_t($0.count), milliseconds) }
                }
            } catch  where error == Errno.interrupted {
                continue  // the time left is computed again
            }
            if result == 0 {
                if MonotonicTime.now() >= deadline { return fds.map { _ in Readiness(revents: 0) } }
                continue
            }
            return fds.map { Readiness(revents: $0.revents) }
        }
    }
}
