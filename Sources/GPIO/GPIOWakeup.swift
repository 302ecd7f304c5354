#if canImport(Glibc)
import Glibc
#endif
import CBinsGPIOD
import Synchronization

/// Interrupts a thread blocked in `GPIOChip.waitForEvents`: signalled from any thread (a command
/// arrived, the service is shutting down), it makes the wait return early. Backed by an eventfd so
/// the libgpiod backend can `poll()` it next to the line descriptors, and by a flag the simulator reads.
public final class GPIOWakeup: Sendable {
    /// The eventfd, or -1 if none could be created (the flag still works for the simulator).
    public let fileDescriptor: Int32
    private let pending = Atomic<Bool>(false)

    public init() {
        fileDescriptor = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
    }

    deinit {
        if fileDescriptor >= 0 { close(fileDescriptor) }
    }

    /// Wakes the current or next wait.
    public func signal() {
        pending.store(true, ordering: .releasing)
        if fileDescriptor >= 0 {
            var one: UInt64 = 1
            _ = withUnsafeBytes(of: &one) { write(fileDescriptor, $0.baseAddress, 8) }
        }
    }

    /// Whether a signal is pending, without consuming it.
    public var isSignalled: Bool { pending.load(ordering: .acquiring) }

    /// Consumes a pending signal; returns whether there was one.
    @discardableResult
    public func consume() -> Bool {
        if fileDescriptor >= 0 {
            var value: UInt64 = 0
            _ = withUnsafeMutableBytes(of: &value) { read(fileDescriptor, $0.baseAddress, 8) }
        }
        return pending.exchange(false, ordering: .acquiringAndReleasing)
    }
}
