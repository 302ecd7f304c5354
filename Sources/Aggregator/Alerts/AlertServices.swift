import ServiceLifecycle
import Synchronization

/// What ingest committed for the alert engine, handed over from ingest's thread without waiting: the
/// pump takes everything that arrived since its last turn as one batch.
public final class AlertObservationQueue: Sendable {
    private let queued = Mutex<[AlertObservation]>([])
    private let wake = WakeSignal()

    public init() {}

    /// Safe from any thread (ingest's).
    public func push(_ observation: AlertObservation) {
        queued.withLock { $0.append(observation) }
        wake.signal()
    }

    /// Everything queued, waiting up to `timeout` for something when nothing is.
    func take(waiting timeout: Duration) async -> [AlertObservation] {
        let taken = queued.withLock { queued in
            defer { queued.removeAll(keepingCapacity: true) }
            return queued
        }
        guard taken.isEmpty else { return taken }
        await wake.wait(timeout: timeout)
        return queued.withLock { queued in
            defer { queued.removeAll(keepingCapacity: true) }
            return queued
        }
    }
}

/// Feeds what ingest committed to the alert engine, in order, off the ingest thread, in batches: the
/// engine decides a batch in memory and writes its raises and clears in one transaction.
public final class AlertObservationPump: Service, Sendable {
    private let engine: AlertEngine
    private let observations: AlertObservationQueue

    public init(engine: AlertEngine, observations: AlertObservationQueue) {
        self.engine = engine
        self.observations = observations
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                let batch = await self.observations.take(waiting: .seconds(1))
                if !batch.isEmpty { await self.engine.observe(batch) }
            }
        }
    }
}

/// Runs the engine's wall-clock evaluation (liveness, targets, coverage) every `interval`, the first
/// time right at start.
public final class AlertTicker: Service, Sendable {
    private let engine: AlertEngine
    private let interval: Duration

    public init(engine: AlertEngine, interval: Duration) {
        self.engine = engine
        self.interval = interval
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.engine.tick()
                try? await Task.sleep(for: self.interval)
            }
        }
    }
}
