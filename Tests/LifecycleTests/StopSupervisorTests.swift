import Logging
import ServiceLifecycle
import Synchronization
import Testing

@testable import Lifecycle

#if canImport(Glibc)
import Glibc
#endif

/// The supervisor against real ServiceGroups, with stop requests fed in as SIGTERM/SIGINT would be
/// (the process's own signals stay untouched). Limits are short; what is asserted is how a stop ends.
@Suite("Stop supervisor", .timeLimit(.minutes(1)))
struct StopSupervisorTests {
    /// Log messages, kept for assertions.
    final class LogRecorder: Sendable {
        private let lines = Mutex<[String]>([])
        var messages: [String] { lines.withLock { $0 } }
        func append(_ message: String) { lines.withLock { $0.append(message) } }

        var logger: Logger {
            Logger(label: "test") { _ in RecordingHandler(recorder: self) }
        }
    }

    struct RecordingHandler: LogHandler {
        let recorder: LogRecorder
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) { recorder.append(event.message.description) }
    }

    /// Ends when told to stop gracefully.
    struct Graceful: Service {
        func run() async throws { try? await gracefulShutdown() }
    }

    /// Ignores a graceful stop; ends (with CancellationError) only when cancelled.
    struct IgnoresGracefulStop: Service {
        func run() async throws { try await Task.sleep(for: .seconds(3600)) }
    }

    /// Ignores both a graceful stop and cancellation, until the test opens its gate.
    struct Stubborn: Service {
        let gate: Gate
        func run() async throws { await gate.wait() }
    }

    struct Broken: Error {}

    /// Fails on its own.
    struct Failing: Service {
        func run() async throws { throw Broken() }
    }

    /// A wait that only `open()` ends, whatever happens to the waiting task.
    final class Gate: Sendable {
        private let state = Mutex<(open: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

        func wait() async {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state -> Bool in
                    if state.open { return true }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }

        func open() {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                state.open = true
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }
    }

    func supervise(
        _ services: [any Service], requests: Int32...,
        limits: StopLimits = StopLimits(graceful: .seconds(30), cancellation: .seconds(30)),
        log: LogRecorder
    ) async throws {
        let supervisor = StopSupervisor(limits: limits, label: "test", logger: log.logger)
        let group = supervisor.serviceGroup(services.map { .init(service: $0) })
        let (stopRequests, sender) = AsyncStream.makeStream(of: Int32.self)
        for number in requests { sender.yield(number) }
        try await supervisor.run(group, stopRequests: stopRequests)
    }

    @Test("a signal stops the services gracefully")
    func gracefulStop() async throws {
        let log = LogRecorder()
        try await supervise([Graceful(), Graceful()], requests: SIGTERM, log: log)
        #expect(log.messages.contains("test.stopping"))
        #expect(!log.messages.contains("test.stop_forced"))
    }

    @Test("a second signal cancels services that ignore the graceful stop; that ends the stop as asked")
    func secondSignalForcesTheStop() async throws {
        let log = LogRecorder()
        try await supervise([Graceful(), IgnoresGracefulStop()], requests: SIGTERM, SIGINT, log: log)
        #expect(log.messages.contains("test.stopping"))
        #expect(log.messages.contains("test.stop_forced"))
        #expect(log.messages.contains("test.services_cancelled"))
    }

    @Test("a graceful stop that outlasts its limit is escalated to cancellation")
    func overdueGracefulStop() async throws {
        let log = LogRecorder()
        try await supervise(
            [IgnoresGracefulStop()], requests: SIGTERM,
            limits: StopLimits(graceful: .milliseconds(50), cancellation: .seconds(30)),
            log: log)
        #expect(log.messages.contains("test.services_cancelled"))
        #expect(!log.messages.contains("test.stop_forced"))
    }

    @Test("services that ignore cancellation too are given up on after the cancellation limit", arguments: [1, 2])
    func abandoned(signals: Int) async throws {
        let log = LogRecorder()
        let gate = Gate()
        defer { gate.open() }
        let requests: [Int32] = [SIGTERM, SIGINT]
        do {
            let supervisor = StopSupervisor(
                limits: StopLimits(graceful: .milliseconds(50), cancellation: .milliseconds(50)), label: "test",
                logger: log.logger)
            let group = supervisor.serviceGroup([.init(service: Stubborn(gate: gate))])
            let (stopRequests, sender) = AsyncStream.makeStream(of: Int32.self)
            for number in requests.prefix(signals) { sender.yield(number) }
            try await supervisor.run(group, stopRequests: stopRequests)
            Issue.record("the supervisor waited for a service that ignores cancellation")
        } catch let error as LifecycleError {
            #expect(error.code == .stopAbandoned)
        }
        #expect(log.messages.contains("test.stop_abandoned"))
    }

    @Test("a service failing on its own, with no stop asked for, fails the run with its error")
    func failure() async throws {
        let log = LogRecorder()
        await #expect(throws: Broken.self) { try await supervise([Failing(), Graceful()], log: log) }
        #expect(!log.messages.contains("test.services_cancelled"))
    }
}
