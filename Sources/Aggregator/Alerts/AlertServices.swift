import ServiceLifecycle

/// Feeds what ingest committed to the alert engine, in order, off the ingest thread.
public final class AlertObservationPump: Service, Sendable {
    private let engine: AlertEngine
    private let observations: AsyncStream<AlertObservation>

    public init(engine: AlertEngine, observations: AsyncStream<AlertObservation>) {
        self.engine = engine
        self.observations = observations
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            for await observation in self.observations {
                await self.engine.observe(observation)
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
