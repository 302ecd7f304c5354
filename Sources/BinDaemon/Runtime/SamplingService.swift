import Lifecycle
import Logging
import MQTT
import ServiceLifecycle
import SystemCalls

/// Runs the sampling loop on a dedicated thread (GPIO waits and bit-banging block, so they stay off Swift's
/// cooperative pool) as a ServiceLifecycle service: graceful shutdown stops the loop between two samples.
/// When the loop reaches the end of a scenario the service reports it and stays up until the group shuts
/// down, so the publishers can drain.
public final class SamplingService: Service, Sendable {
    let dependencies: SamplingEngine.Dependencies
    public let control: SamplingControl
    private let startGate: (@Sendable () async throws -> Void)?
    private let ended = OneShot<SamplingEnd>()

    init(dependencies: SamplingEngine.Dependencies, startGate: (@Sendable () async throws -> Void)? = nil) {
        self.dependencies = dependencies
        self.control = dependencies.control
        self.startGate = startGate
    }

    /// Waits until the loop has ended, and says why.
    public func waitUntilEnded() async -> SamplingEnd { await ended.wait() }

    public func run() async throws {
        if let startGate {
            do {
                try await startGate()
            } catch {
                ended.fulfil(.stopped)
                dependencies.control.close()
                throw error
            }
        }
        let dependencies = dependencies
        let ended = ended
        do {
            try DedicatedThread.start(name: "binsd-sampling") {
                let engine = SamplingEngine(dependencies)
                ended.fulfil(engine.run())
            }
        } catch {
            ended.fulfil(.stopped)
            dependencies.control.close()
            throw BinDaemonError(
                .resources, "the sampling thread could not be started: pthread_create failed: \(error)", cause: error)
        }
        let control = control
        let end = await withTaskCancellationOrGracefulShutdownHandler {
            await ended.wait()
        } onCancelOrGracefulShutdown: {
            control.stop()
        }
        if end == .reachedEnd { dependencies.logger.info("sampling.scenario_ended") }
        // Ended by itself (a scenario's end, or stopped by another service): stay up until the group shuts
        // down, so the services after it are stopped in order (the publishers still drain the outbox).
        if !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await gracefulShutdown()
        }
    }
}
