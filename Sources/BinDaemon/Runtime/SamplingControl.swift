import BinProtocol
import GPIO
import Synchronization

/// What other threads ask of the sampling thread. Sensor lines belong to that thread alone, so a tare, a
/// calibration or an installer's `read` is queued here and carried out between two samples; the reply
/// comes back through the closure.
public enum SamplingCommand: Sendable {
    case tare(bin: String, reply: @Sendable (Result<StoredCalibration, BinDaemonError>) -> Void)
    case calibrate(bin: String, knownKg: Double, reply: @Sendable (Result<StoredCalibration, BinDaemonError>) -> Void)
    case read(reply: @Sendable ([SensorReading]) -> Void)
    /// New run-time settings (thresholds, classification, sampling) from a configuration reload.
    case reconfigure(DaemonConfig, reply: @Sendable () -> Void)

    /// Answers the command without carrying it out (the loop has stopped).
    func refuse(_ reason: String) {
        let error = BinDaemonError(.hardware, reason)
        switch self {
        case .tare(_, let reply), .calibrate(_, _, let reply): reply(.failure(error))
        case .read(let reply): reply([])
        case .reconfigure(_, let reply): reply()
        }
    }
}

/// The queue into the sampling thread, its wakeup and its stop flag. The thread waits on lid edges with
/// this wakeup, so a command or a stop request is seen at once, not at the next deadline.
public final class SamplingControl: Sendable {
    public let wakeup = GPIOWakeup()
    private let state = Mutex<(commands: [SamplingCommand], closed: Bool)>(([], false))
    private let stopping = Atomic<Bool>(false)

    public init() {}

    /// Queues a command; answered at once with an error if the loop no longer runs.
    public func submit(_ command: SamplingCommand) {
        let accepted = state.withLock { state -> Bool in
            guard !state.closed else { return false }
            state.commands.append(command)
            return true
        }
        if accepted { wakeup.signal() } else { command.refuse("the sampling loop is not running") }
    }

    /// Asks the loop to end after the current step.
    public func stop() {
        stopping.store(true, ordering: .releasing)
        wakeup.signal()
    }

    public var isStopping: Bool { stopping.load(ordering: .acquiring) }

    func takeCommands() -> [SamplingCommand] {
        state.withLock { state in
            defer { state.commands = [] }
            return state.commands
        }
    }

    /// Called by the loop as it ends: later commands are refused, queued ones answered with an error.
    func close() {
        let left = state.withLock { state -> [SamplingCommand] in
            state.closed = true
            defer { state.commands = [] }
            return state.commands
        }
        for command in left { command.refuse("the sampling loop stopped") }
    }

    // MARK: Async forms for the MQTT command handler

    public func tare(bin: String) async -> Result<StoredCalibration, BinDaemonError> {
        await withCheckedContinuation { continuation in
            submit(.tare(bin: bin) { continuation.resume(returning: $0) })
        }
    }

    public func calibrate(bin: String, knownKg: Double) async -> Result<StoredCalibration, BinDaemonError> {
        await withCheckedContinuation { continuation in
            submit(.calibrate(bin: bin, knownKg: knownKg) { continuation.resume(returning: $0) })
        }
    }

    public func read() async -> [SensorReading] {
        await withCheckedContinuation { continuation in
            submit(.read { continuation.resume(returning: $0) })
        }
    }

    public func reconfigure(_ config: DaemonConfig) async {
        await withCheckedContinuation { continuation in
            submit(.reconfigure(config) { continuation.resume() })
        }
    }
}
