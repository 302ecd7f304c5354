import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// SIGTERM and SIGINT, every one of them, as a stream (`StopSupervisor` says why not ServiceLifecycle's
/// own signal handling).
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
        let queue = DispatchQueue(label: "lifecycle.signals")
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
