import Logging
import ServiceLifecycle

/// How long each stage of a stop may take, so a stop always ends before the service manager's
/// `TimeoutStopSec` kills the process.
public struct StopLimits: Sendable, Equatable, CustomStringConvertible {
    /// The whole graceful stop; services still running then are cancelled (the `ServiceGroup`'s
    /// `maximumGracefulShutdownDuration`).
    public var graceful: Duration
    /// How long cancelled services (after `graceful`, or after a second signal) have to end before the
    /// process gives up on them.
    public var cancellation: Duration

    public init(graceful: Duration, cancellation: Duration) {
        self.graceful = graceful
        self.cancellation = cancellation
    }

    public var description: String { "graceful stop \(graceful), cancellation \(cancellation)" }
}

/// Runs a `ServiceGroup` and turns SIGTERM/SIGINT into its stop: the first signal starts a graceful stop,
/// the next one cancels the services at once, and services that ignore even that are given up on after
/// `limits.cancellation` (`LifecycleError.stopAbandoned`, so the process can exit without them).
///
/// ServiceLifecycle's `gracefulShutdownSignals` acts on the first signal only and leaves the signal
/// ignored afterwards, and its `cancellationSignals` may not name the same signals; so a second SIGTERM or
/// Ctrl-C during a stuck stop would do nothing, and nothing bounds a cancellation. Both daemons stop
/// through this instead.
///
/// Logs, with `label` as the prefix (e.g. `aggregator`): `LABEL.stopping` (first signal),
/// `LABEL.stop_forced` (second signal), `LABEL.services_cancelled` (the services ended by cancellation, as
/// asked), `LABEL.stop_abandoned` (they did not end in time); the signal as `LABEL.signal`.
public struct StopSupervisor: Sendable {
    public var limits: StopLimits
    public var label: String
    public var logger: Logger

    public init(limits: StopLimits, label: String, logger: Logger) {
        self.limits = limits
        self.label = label
        self.logger = logger
    }

    /// A group of `services` whose graceful stop is bounded by `limits.graceful` and started by this
    /// supervisor (not by signals of its own).
    public func serviceGroup(_ services: [ServiceGroupConfiguration.ServiceConfiguration]) -> ServiceGroup {
        var configuration = ServiceGroupConfiguration(services: services, logger: logger)
        configuration.maximumGracefulShutdownDuration = limits.graceful
        return ServiceGroup(configuration: configuration)
    }

    /// Runs `group` until it ends, watching SIGTERM and SIGINT. Returns when the group ends, also when it
    /// ends by the cancellation a stop asked for; throws what a service threw otherwise, and
    /// `LifecycleError.stopAbandoned` when the services outlive the limits.
    public func run(_ group: ServiceGroup) async throws {
        let signals = ShutdownSignals()
        defer { signals.stop() }
        try await run(group, stopRequests: signals.signals)
    }

    fileprivate enum StopEvent: Sendable {
        case ended(Result<Void, any Error>)
        case signal(Int32)
        case deadlinePassed
    }

    /// `run(_:)` with the stop requests (signal numbers) from `stopRequests`.
    func run(_ group: ServiceGroup, stopRequests: AsyncStream<Int32>) async throws {
        let (events, sink) = AsyncStream.makeStream(of: StopEvent.self)
        let forwarding = Task {
            for await number in stopRequests { sink.yield(.signal(number)) }
        }
        let running = Task {
            do {
                try await group.run()
                sink.yield(.ended(.success(())))
            } catch {
                sink.yield(.ended(.failure(error)))
            }
        }
        var deadline: (at: ContinuousClock.Instant, task: Task<Void, Never>)?
        func arm(_ limit: Duration) {
            let at = ContinuousClock.now.advanced(by: limit)
            guard deadline.map({ at < $0.at }) ?? true else { return }
            deadline?.task.cancel()
            deadline = (
                at,
                Task {
                    guard (try? await Task.sleep(until: at, clock: .continuous)) != nil else { return }
                    sink.yield(.deadlinePassed)
                }
            )
        }
        defer {
            forwarding.cancel()
            deadline?.task.cancel()
        }
        var signalsReceived = 0
        try await withTaskCancellationHandler {
            for await event in events {
                switch event {
                case .ended(.success):
                    return
                case .ended(.failure(let error)):
                    // Services cancelled by an overdue stop end with CancellationError, and after a second
                    // signal with whatever their cancellation throws: that is the stop that was asked for.
                    if signalsReceived > 1 || (signalsReceived == 1 && error is CancellationError) {
                        logger.notice("\(label).services_cancelled", metadata: ["\(label).error": "\(error)"])
                        return
                    }
                    throw error
                case .signal(let number):
                    signalsReceived += 1
                    let metadata: Logger.Metadata = ["\(label).signal": "\(ShutdownSignals.name(number))"]
                    if signalsReceived == 1 {
                        logger.notice("\(label).stopping", metadata: metadata)
                        await group.triggerGracefulShutdown()
                        arm(limits.graceful + limits.cancellation)
                    } else {
                        logger.warning("\(label).stop_forced", metadata: metadata)
                        running.cancel()
                        arm(limits.cancellation)
                    }
                case .deadlinePassed:
                    logger.critical("\(label).stop_abandoned")
                    throw LifecycleError(
                        .stopAbandoned,
                        "the services did not end within the stop limits (\(limits)); exiting without them")
                }
            }
            // The stream ends only for a cancelled caller; the services were cancelled with it.
            throw CancellationError()
        } onCancel: {
            running.cancel()
        }
    }
}
