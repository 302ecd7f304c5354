import Synchronization
import SystemCalls

/// Interrupts a thread blocked in `GPIOChip.waitForEvents`: signalled from any thread (a command
/// arrived, the service is shutting down), it makes the wait return early. Backed by an eventfd so
/// the libgpiod backend can `poll()` it next to the line descriptors, and by a flag the simulator reads.
public final class GPIOWakeup: Sendable {
    /// nil only if the process could not get an eventfd (EMFILE, ENOMEM): waits then look at the flag
    /// every 10 ms instead of being woken at once (`GPIOWakeup.fallbackSliceNanoseconds`).
    private let notifier = try? EventFD()
    private let pending = Atomic<Bool>(false)

    /// The eventfd, or -1 if none could be created (the flag still works for the simulator).
    public var fileDescriptor: Int32 { notifier?.fileDescriptor ?? -1 }

    /// How long a wait sleeps between looks at the flag when there is no eventfd to poll.
    package static let fallbackSliceNanoseconds: UInt64 = 10_000_000

    public init() {}

    /// Wakes the current or next wait.
    public func signal() {
        pending.store(true, ordering: .releasing)
        notifier?.signal()
    }

    /// Whether a signal is pending, without consuming it.
    public var isSignalled: Bool { pending.load(ordering: .acquiring) }

    /// Consumes a pending signal; returns whether there was one.
    @discardableResult
    public func consume() -> Bool {
        notifier?.drain()
        return pending.exchange(false, ordering: .acquiringAndReleasing)
    }
}
