import Dispatch
import Logging
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// How long each stage of stopping may take, so a stop always ends: `bins-aggregator`'s systemd unit
/// allows 30 s (`TimeoutStopSec`) before it kills the process.
public struct ShutdownLimits: Sendable, CustomStringConvertible {
    /// Waiting for the broker's acknowledgement of the retained `online: false`; a broker that does not
    /// answer in time is logged (`aggregator.status_offline_not_published`) and the stop goes on.
    public var offlineStatus: Duration
    /// The whole graceful stop; services still running then are cancelled.
    public var graceful: Duration
    /// How long cancelled services (after `graceful`, or after a second signal) have to end before the
    /// process gives up on them.
    public var cancellation: Duration

    public init(offlineStatus: Duration = .seconds(5), graceful: Duration = .seconds(20), cancellation: Duration = .seconds(5)) {
        self.offlineStatus = offlineStatus
        self.graceful = graceful
        self.cancellation = cancellation
    }

    public var description: String {
        "offline status \(offlineStatus), graceful stop \(graceful), cancellation \(cancellation)"
    }
}

extension AggregatorRuntime {
    fileprivate enum StopEvent: Sendable {
        case ended(Result<Void, any Error>)
        case signal(Int32)
        case deadlinePassed
    }

    /// Runs `group` and turns SIGTERM/SIGINT into its stop: graceful on the first signal, cancellation on
    /// the next, and giving up on services that ignore even that.
    static func superviseStop(of group: ServiceGroup, limits: ShutdownLimits, logger: Logger) async throws {
        let (events, sink) = AsyncStream.makeStream(of: StopEvent.self)
        let signals = ShutdownSignals()
        defer { signals.stop() }
        let forwarding = Task {
            for await number in signals.signals { sink.yield(.signal(number)) }
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
            deadline = (at, Task {
                guard (try? await Task.sleep(until: at, clock: .continuous)) != nil else { return }
                sink.yield(.deadlinePassed)
            })
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
                        logger.notice("aggregator.services_cancelled", metadata: ["aggregator.error": "\(error)"])
                        return
                    }
                    throw error
                case .signal(let number):
                    signalsReceived += 1
                    let metadata: Logger.Metadata = ["aggregator.signal": "\(ShutdownSignals.name(number))"]
                    if signalsReceived == 1 {
                        logger.notice("aggregator.stopping", metadata: metadata)
                        await group.triggerGracefulShutdown()
                        arm(limits.graceful + limits.cancellation)
                    } else {
                        logger.warning("aggregator.stop_forced", metadata: metadata)
                        running.cancel()
                        arm(limits.cancellation)
                    }
                case .deadlinePassed:
                    logger.critical("aggregator.stop_abandoned")
                    throw AggregatorError(
                        .shutdown, "the services did not end within the shutdown limits (\(limits)); exiting without them")
                }
            }
            // The stream ends only for a cancelled caller; the services were cancelled with it.
            throw CancellationError()
        } onCancel: {
            running.cancel()
        }
    }
}

/// SIGTERM and SIGINT, every one of them, as a stream.
///
/// ServiceLifecycle's `gracefulShutdownSignals` acts on the first signal only and leaves the signal
/// ignored afterwards, and its `cancellationSignals` may not name the same signals; so a second SIGTERM
/// or Ctrl-C during a stuck stop would do nothing. The aggregator watches the signals itself and
/// escalates (see `AggregatorRuntime.run`).
///
/// The process-level disposition is `SIG_IGN` while watched (dispatch sources still see the signals);
/// `stop()` restores the default, so a signal after the services have ended terminates the process.
final class ShutdownSignals: Sendable {
    static let watched: [Int32] = [SIGTERM, SIGINT]

    let signals: AsyncStream<Int32>
    private let continuation: AsyncStream<Int32>.Continuation
    private let sources: Mutex<[any DispatchSourceSignal]>

    init() {
        (signals, continuation) = AsyncStream.makeStream(of: Int32.self)
        let queue = DispatchQueue(label: "bins-aggregator.signals")
        var sources: [any DispatchSourceSignal] = []
        for number in Self.watched {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { [continuation] in continuation.yield(number) }
            source.resume()
            sources.append(source)
        }
        self.sources = Mutex(sources)
    }

    /// Stops watching and gives the signals their default action back.
    func stop() {
        let sources = self.sources.withLock { sources in
            defer { sources.removeAll() }
            return sources
        }
        guard !sources.isEmpty else { return }
        for source in sources { source.cancel() }
        for number in Self.watched { signal(number, SIG_DFL) }
        continuation.finish()
    }

    deinit {
        stop()
    }

    static func name(_ number: Int32) -> String {
        switch number {
        case SIGTERM: "SIGTERM"
        case SIGINT: "SIGINT"
        default: "signal \(number)"
        }
    }
}
