import Synchronization

/// Counters for the health message, shared between the sampling thread and the publishers.
public final class DaemonCounters: Sendable {
    public let samples = Atomic<Int64>(0)
    public let sampleErrors = Atomic<Int64>(0)
    public let hx711Retries = Atomic<Int64>(0)
    public let publishFailures = Atomic<Int64>(0)
    public let reconnects = Atomic<Int64>(0)
    public let dropped = Atomic<Int64>(0)
    public let eventsRecorded = Atomic<Int64>(0)

    public init() {}
}
