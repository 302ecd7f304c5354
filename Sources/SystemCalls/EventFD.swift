import CBinsSystem

#if canImport(Glibc)
import Glibc
#endif

/// An eventfd a thread blocked in `poll` is kicked with: the MQTT network thread between connection
/// attempts, a GPIO wait when a command arrives, the simulator's clock. The descriptor is owned here and
/// closed in deinit.
public final class EventFD: Sendable {
    public let fileDescriptor: Int32

    public init() throws(Errno) {
        fileDescriptor = try systemCall { eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK)) }
    }

    deinit {
        close(fileDescriptor)
    }

    /// Makes the descriptor readable until `drain()`. Cannot fail short of a closed descriptor: the counter
    /// would have to reach 2^64 - 1 first.
    public func signal() {
        var one: UInt64 = 1
        _ = try? systemCall { withUnsafeBytes(of: &one) { write(fileDescriptor, $0.baseAddress, 8) } }
    }

    /// Clears a pending signal without waiting (the descriptor is non-blocking).
    public func drain() {
        var value: UInt64 = 0
        _ = try? systemCall { withUnsafeMutableBytes(of: &value) { read(fileDescriptor, $0.baseAddress, 8) } }
    }

    /// Sleeps until `signal()` or the timeout, then clears the signal.
    public func wait(timeoutNanoseconds: UInt64) {
        let deadline = MonotonicTime.now().saturatingAdd(timeoutNanoseconds)
        _ = try? DescriptorPoll.wait([fileDescriptor], deadline: deadline)
        drain()
    }
}
