#if canImport(Glibc)
import Glibc
#endif
import Logging
import MQTT
import ServiceLifecycle
import Synchronization

/// A value delivered once, awaited by any number of tasks.
package final class OneShot<Value: Sendable>: Sendable {
    private let state = Mutex<(value: Value?, waiters: [CheckedContinuation<Value, Never>])>((nil, []))

    package init() {}

    package func fulfil(_ value: Value) {
        let waiters = state.withLock { state -> [CheckedContinuation<Value, Never>] in
            guard state.value == nil else { return [] }
            state.value = value
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: value) }
    }

    package var value: Value? { state.withLock { $0.value } }

    package func wait() async -> Value {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> Value? in
                if let value = state.value { return value }
                state.waiters.append(continuation)
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}

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
        let started = startDedicatedThread(name: "binsd-sampling") {
            let engine = SamplingEngine(dependencies)
            ended.fulfil(engine.run())
        }
        if started != 0 {
            ended.fulfil(.stopped)
            dependencies.control.close()
            throw BinDaemonError(
                .resources, "the sampling thread could not be started: pthread_create failed: \(String(cString: strerror(started))) (errno \(started))")
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
