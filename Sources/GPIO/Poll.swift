#if canImport(Glibc)
import Glibc
#endif
import CBinsGPIOD

/// `poll()` on a few descriptors until one is readable or a `CLOCK_MONOTONIC` deadline passes.
/// `poll` counts in milliseconds, so the wait is rounded up to the next millisecond and the deadline
/// re-checked on return: a wait never ends early and overshoots by under a millisecond. (Swift's
/// Glibc module does not expose `ppoll`.) EINTR restarts the wait with the time left.
package enum DescriptorPoll {
    package struct Failure: Error {
        package var errno: Int32
    }

    /// What `poll` said about one descriptor.
    package struct Readiness: Sendable, Hashable {
        package var revents: Int16

        package var isReadable: Bool { revents & Int16(POLLIN | POLLPRI) != 0 }
        /// POLLERR, POLLHUP or POLLNVAL: reading would not help.
        package var isBroken: Bool { revents & Int16(POLLERR | POLLHUP | POLLNVAL) != 0 }
        package var isSet: Bool { revents != 0 }
    }

    /// Returns, per descriptor, what `poll` reported; all empty when the deadline passed.
    package static func wait(_ descriptors: [Int32], deadline: UInt64) throws(Failure) -> [Readiness] {
        var fds = descriptors.map { pollfd(fd: $0, events: Int16(POLLIN | POLLPRI), revents: 0) }
        while true {
            let now = MonotonicClock.now(CLOCK_MONOTONIC)
            let remaining = deadline > now ? deadline - now : 0
            let milliseconds = Int32(clamping: (remaining / 1_000_000) + (remaining % 1_000_000 == 0 ? 0 : 1))
            for index in fds.indices { fds[index].revents = 0 }
            let result = fds.withUnsafeMutableBufferPointer { poll($0.baseAddress, nfds_t($0.count), milliseconds) }
            if result < 0 {
                let error = errno
                if error == EINTR { continue }
                throw Failure(errno: error)
            }
            if result == 0 {
                if MonotonicClock.now(CLOCK_MONOTONIC) >= deadline { return fds.map { _ in Readiness(revents: 0) } }
                continue
            }
            return fds.map { Readiness(revents: $0.revents) }
        }
    }
}

/// An eventfd used to kick a thread out of `poll()`; owned here and closed in deinit.
package final class EventNotifier: Sendable {
    package let fileDescriptor: Int32

    package init() {
        fileDescriptor = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
    }

    deinit {
        if fileDescriptor >= 0 { close(fileDescriptor) }
    }

    package func signal() {
        guard fileDescriptor >= 0 else { return }
        var one: UInt64 = 1
        _ = withUnsafeBytes(of: &one) { write(fileDescriptor, $0.baseAddress, 8) }
    }

    package func drain() {
        guard fileDescriptor >= 0 else { return }
        var value: UInt64 = 0
        _ = withUnsafeMutableBytes(of: &value) { read(fileDescriptor, $0.baseAddress, 8) }
    }
}
