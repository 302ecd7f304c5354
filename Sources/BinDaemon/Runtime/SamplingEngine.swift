import BinProtocol
import GPIO
import Logging
import MQTT
import Sensors

/// Where the sampling thread's results go. `record` must be durable when it returns (the outbox); the
/// others hand over to the publishers without blocking.
public protocol SamplingSink: Sendable {
    /// Stores an event in the outbox; returns its seq.
    func record(_ event: TimedEvent) throws(BinDaemonError) -> Int64
    /// Turns the outbox's drop reports into `outbox.dropped` fault events; returns the reports.
    func recordDropReports(at time: WireTimestamp) -> [OutboxDropReport]
    /// Records that the `outbox.dropped` fault is over.
    func recordDropCleared(at time: WireTimestamp)
    func publishState(_ state: StatePayload)
    func healthDue(at time: WireTimestamp, activeFaults: [String])
}

/// Lets a simulation shape the passage of time: called at the top of every loop turn on the sampling
/// thread, it may block (follow the wall clock at a given speed, hold virtual time while the simulated
/// network link comes back). Never used on hardware.
public protocol SamplingPacer: Sendable {
    /// `maximumRealNanoseconds` bounds how long it may block (the watchdog must still be fed); a signal on
    /// `wakeup` (a command) should end the block early, without consuming the signal.
    func pace(chipNanoseconds: UInt64, wakeup: GPIOWakeup, maximumRealNanoseconds: UInt64)
    /// Chip time at which the pacer next needs a turn.
    func nextDeadlineNanoseconds() -> UInt64?
}

/// Why the loop ended.
public enum SamplingEnd: Sendable, Equatable {
    /// `stop()` was called (shutdown).
    case stopped
    /// The chip reached `stopAtChipNanoseconds` (a scenario's end).
    case reachedEnd
}

/// The sampling loop of one point, run on its own thread: waits for lid edges with a timeout that is the
/// next deadline of any bin, does the sensor work the pipelines ask for (scale bursts, ranger readings),
/// feeds the results back, records events, publishes state and health, carries out queued commands, and
/// feeds the systemd watchdog. Idle, it is one blocking wait per deadline (a scale reading every
/// `scale_interval_s`, a ranger reading every `ranger_heartbeat_s`, a state heartbeat): no polling.
final class SamplingEngine {
    struct Dependencies: Sendable {
        var config: DaemonConfig
        var sensors: [BinSensors]
        var calibrations: [StoredCalibration]
        var store: CalibrationStore
        var volumeNoise: VolumeNoiseStore
        var clock: any WallClock
        var temperature: any TemperatureProbe
        var sink: any SamplingSink
        var control: SamplingControl
        var counters: DaemonCounters
        var watchdog: WatchdogFeeder?
        var pacer: (any SamplingPacer)?
        var stopAtChipNanoseconds: UInt64?
        var logger: Logger
    }

    private var config: DaemonConfig
    private let sensors: [BinSensors]
    private var pipelines: [BinPipeline]
    private let store: CalibrationStore
    private let volumeNoiseStore: VolumeNoiseStore
    /// What each bin's volume noise estimate was when last stored (or tried to be): stored again when it
    /// changes, that is after a deposit, not at every reading while a disk refuses the write.
    private var storedVolumeNoise: [VolumeNoiseEstimate]
    /// A store of the estimate failed and was logged; the next failures are not, until one succeeds.
    private var volumeNoiseSaveFailing = false
    private let calibrator = ScaleCalibrator()
    private let clock: any WallClock
    private let temperature: any TemperatureProbe
    private let sink: any SamplingSink
    private let control: SamplingControl
    private let counters: DaemonCounters
    private let watchdog: WatchdogFeeder?
    private let pacer: (any SamplingPacer)?
    private let stopAt: UInt64?
    private let logger: Logger
    /// The chip whose clock the loop runs on and whose lid lines it waits on.
    private let chip: any GPIOChip
    /// Lids on `chip` (waited on) and lids on other chips (read after each wait), with their bin index.
    private let waitedLids: [(bin: Int, lid: LidSwitch)]
    private let polledLids: [(bin: Int, lid: LidSwitch)]
    /// Events the outbox could not take yet (disk trouble); retried every turn, oldest first.
    private var unrecorded: [TimedEvent] = []
    private var nextHealthAt: WireTimestamp?
    private var dropFaultSince: WireTimestamp?
    /// Drop reports are looked for after events were recorded, and at every turn while some may wait.
    private var dropCheckDue = true
    private var lastRecordFailureLogged = false

    /// Most events kept in memory while the outbox refuses writes.
    static let unrecordedLimit = 10_000
    /// Polled lids (on another chip than the first one) are looked at this often.
    static let lidPollNanoseconds: UInt64 = 50_000_000

    init(_ dependencies: Dependencies) {
        config = dependencies.config
        sensors = dependencies.sensors
        pipelines = zip(dependencies.sensors, dependencies.calibrations).map { sensors, calibration in
            BinPipeline(bin: sensors.bin, config: dependencies.config, calibration: calibration)
        }
        store = dependencies.store
        volumeNoiseStore = dependencies.volumeNoise
        clock = dependencies.clock
        temperature = dependencies.temperature
        sink = dependencies.sink
        control = dependencies.control
        counters = dependencies.counters
        watchdog = dependencies.watchdog
        pacer = dependencies.pacer
        stopAt = dependencies.stopAtChipNanoseconds
        logger = dependencies.logger
        let lids = sensors.enumerated().compactMap { index, sensors in sensors.lid.map { (bin: index, lid: $0) } }
        let chip = lids.first?.lid.eventLine.chip ?? sensors[0].scaleChip
        self.chip = chip
        waitedLids = lids.filter { $0.lid.eventLine.chip === chip }
        polledLids = lids.filter { $0.lid.eventLine.chip !== chip }
        storedVolumeNoise = []
        for index in pipelines.indices {
            let id = pipelines[index].bin.id
            do {
                let basis = VolumeNoiseStore.basis(of: pipelines[index].detector.configuration)
                if let estimate = try volumeNoiseStore.load(bin: id, basis: basis) {
                    pipelines[index].restoreVolumeNoise(estimate)
                    logger.info(
                        "volume_noise.restored",
                        metadata: ["bin.id": "\(id)", "volume_noise.deposits": "\(estimate.deposits)"])
                }
            } catch {
                // Learned state only: the bin learns again from its next deposits.
                logger.warning("volume_noise.unreadable", metadata: ["bin.id": "\(id)", "error": "\(error)"])
            }
            storedVolumeNoise.append(pipelines[index].detector.volumeNoise)
        }
    }

    // MARK: The loop

    func run() -> SamplingEnd {
        defer { control.close() }
        let start = now()
        for (index, sensors) in sensors.enumerated() where sensors.lid?.isOpen == true {
            handle(pipelines[index].lidChanged(open: true, at: start.time), bin: index)
        }
        publishDueStates(at: start.time)
        logger.info(
            "sampling.started",
            metadata: [
                "sampling.bins": "\(sensors.map(\.bin.id).joined(separator: ","))", "gpio.chip": "\(chip.info.name)",
            ])
        while true {
            if control.isStopping { return .stopped }
            var current = now()
            if let stopAt, current.nanoseconds >= stopAt { return .reachedEnd }
            if let pacer {
                pacer.pace(
                    chipNanoseconds: current.nanoseconds, wakeup: control.wakeup,
                    maximumRealNanoseconds: watchdog?.nanosecondsUntilDue() ?? 1_000_000_000)
                if control.isStopping { return .stopped }
                current = now()
            }
            watchdog?.feedIfDue()
            for command in control.takeCommands() { execute(command) }
            for index in pipelines.indices {
                handle(pipelines[index].tick(at: current.time), bin: index)
            }
            doSensorWork()
            finishTurn()
            handleLidEdges(waitForLids(timeout: timeout(), wakeup: control.wakeup))
        }
    }

    private func now() -> (nanoseconds: UInt64, time: WireTimestamp) {
        let nanoseconds = chip.clock.nanoseconds()
        return (nanoseconds, clock.timestamp(atChipNanoseconds: nanoseconds))
    }

    /// Debounced lid edges into the pipelines; the lid's new state goes out at once, not after the next
    /// turn's sensor work (waking a powered-down HX711 alone takes 400 ms).
    private func handleLidEdges(_ edges: [(bin: Int, edge: LidEdge)]) {
        guard !edges.isEmpty else { return }
        for (bin, edge) in edges {
            handle(
                pipelines[bin].lidChanged(
                    open: edge.isOpen, at: clock.timestamp(atChipNanoseconds: edge.timestampNanoseconds)),
                bin: bin)
        }
        publishDueStates(at: now().time)
    }

    /// One scale conversion per bin with work, or one ranger reading: then back to the top, so lid edges,
    /// commands and other bins are seen between two conversions of a long burst. Lid edges that came in
    /// during one bin's work are handled before the next bin's, so a lid's state waits for at most one
    /// sensor operation (the wake-up and conversion of one HX711, or one ranger reading).
    private func doSensorWork() {
        for index in pipelines.indices {
            let scale = sensors[index].scale
            if pipelines[index].pendingScaleReadings > 0 {
                let result = sample(bin: index) { () throws(SensorError) in try scale.read() }
                handle(pipelines[index].scaleRead(result, at: now().time), bin: index)
                if pipelines[index].pendingScaleReadings == 0 { powerDown(scale, bin: index) }
            } else if let pings = pipelines[index].pendingRangerPings, let ranger = sensors[index].ranger {
                let air = temperature.read()
                pipelines[index].temperatureC = air.celsius
                let result = sample(bin: index) { () throws(SensorError) in
                    try ranger.measure(temperatureCelsius: air.celsius ?? 20, pings: pings).reading
                }
                handle(pipelines[index].rangerRead(result, at: now().time), bin: index)
            } else {
                continue
            }
            // Without the wakeup: a command's signal must still end the turn's wait.
            handleLidEdges(waitForLids(timeout: 0, wakeup: nil))
        }
    }

    /// One sensor operation: a success counts as a sample, a failure is a sensor error.
    private func sample<Value>(bin: Int, _ operation: () throws(SensorError) -> Value) -> Result<Value, SensorError> {
        do {
            let value = try operation()
            counters.samples.add(1, ordering: .relaxed)
            return .success(value)
        } catch {
            sensorError(error, bin: bin)
            return .failure(error)
        }
    }

    private func powerDown(_ scale: HX711, bin: Int) {
        guard !scale.isPoweredDown else { return }
        do {
            try scale.powerDown()
        } catch {
            sensorError(error, bin: bin)
        }
    }

    private func sensorError(_ error: SensorError, bin: Int) {
        counters.sampleErrors.add(1, ordering: .relaxed)
        logger.debug(
            "sampling.sensor_error", metadata: ["bin.id": "\(sensors[bin].bin.id)", "sensor.error": "\(error)"])
    }

    /// Records events, stores calibration changes, logs deposits.
    private func handle(_ output: BinPipeline.Output, bin: Int) {
        if output.calibrationChanged {
            do {
                try store.save(pipelines[bin].calibration, bin: sensors[bin].bin.id)
                logger.info(
                    "calibration.auto_zero",
                    metadata: [
                        "bin.id": "\(sensors[bin].bin.id)",
                        "calibration.offset_counts": "\(pipelines[bin].calibration.offsetCounts)",
                    ])
            } catch {
                logger.error(
                    "calibration.save_failed", metadata: ["bin.id": "\(sensors[bin].bin.id)", "error": "\(error)"])
            }
        }
        storeVolumeNoiseIfChanged(bin: bin)
        unrecorded += output.events
        recordPending()
    }

    /// Keeps what the bin learned of its volume noise across a restart; a failure costs only that.
    private func storeVolumeNoiseIfChanged(bin: Int) {
        let estimate = pipelines[bin].detector.volumeNoise
        guard estimate != storedVolumeNoise[bin] else { return }
        storedVolumeNoise[bin] = estimate
        do {
            try volumeNoiseStore.save(
                estimate, bin: sensors[bin].bin.id,
                basis: VolumeNoiseStore.basis(of: pipelines[bin].detector.configuration))
            volumeNoiseSaveFailing = false
        } catch {
            if !volumeNoiseSaveFailing {
                logger.error(
                    "volume_noise.save_failed", metadata: ["bin.id": "\(sensors[bin].bin.id)", "error": "\(error)"])
            }
            volumeNoiseSaveFailing = true
        }
    }

    private func recordPending() {
        var recorded = 0
        while let event = unrecorded.first {
            do {
                _ = try sink.record(event)
                unrecorded.removeFirst()
                recorded += 1
                lastRecordFailureLogged = false
            } catch {
                if !lastRecordFailureLogged {
                    logger.error(
                        "outbox.append_failed",
                        metadata: ["outbox.error": "\(error)", "outbox.waiting": "\(unrecorded.count)"])
                    lastRecordFailureLogged = true
                }
                if unrecorded.count > Self.unrecordedLimit {
                    unrecorded.removeFirst(unrecorded.count - Self.unrecordedLimit)
                }
                break
            }
        }
        if recorded > 0 {
            counters.eventsRecorded.add(Int64(recorded), ordering: .relaxed)
            dropCheckDue = true
        }
    }

    private func noteDropReports(_ reports: [OutboxDropReport]) {
        dropCheckDue = false
        guard !reports.isEmpty else { return }
        counters.dropped.add(Int64(reports.reduce(0) { $0 + $1.count }), ordering: .relaxed)
        dropFaultSince = now().time
        for report in reports {
            logger.warning(
                "outbox.dropped",
                metadata: [
                    "outbox.first_seq": "\(report.firstSeq)", "outbox.last_seq": "\(report.lastSeq)",
                    "outbox.count": "\(report.count)", "outbox.reason": "\(report.reason.rawValue)",
                ])
        }
    }

    /// State messages, health, the end of an `outbox.dropped` fault.
    private func finishTurn() {
        let current = now().time
        publishDueStates(at: current)
        if let since = dropFaultSince, since.seconds(to: current) >= FaultCode.outboxDropped.defaultPolicy.clearAfterS {
            dropFaultSince = nil
            sink.recordDropCleared(at: current)
        }
        let healthDue = nextHealthAt.map { $0 <= current } ?? true
        if dropCheckDue || healthDue { noteDropReports(sink.recordDropReports(at: current)) }
        if healthDue {
            if nextHealthAt != nil {
                counters.hx711Retries.store(
                    Int64(sensors.reduce(0) { $0 + $1.scale.statistics.retries }), ordering: .relaxed)
                var faults = pipelines.flatMap(\.activeFaultNames)
                if dropFaultSince != nil { faults.append(FaultCode.outboxDropped.rawValue) }
                sink.healthDue(at: current, activeFaults: faults)
            }
            nextHealthAt = current.adding(seconds: config.sampling.healthIntervalS)
        }
    }

    private func publishDueStates(at time: WireTimestamp) {
        for index in pipelines.indices {
            if let state = pipelines[index].stateIfDue(device: config.device, at: time) { sink.publishState(state) }
        }
    }

    /// How long the next wait may last, in chip nanoseconds.
    private func timeout() -> UInt64 {
        if pipelines.contains(where: \.hasPendingWork) { return 0 }
        let current = now()
        var deadlines = pipelines.compactMap { $0.nextDeadline() }
        if let nextHealthAt { deadlines.append(nextHealthAt) }
        var timeout: UInt64 = 3_600_000_000_000
        if let next = deadlines.min() {
            let milliseconds = next.millisecondsSinceEpoch - current.time.millisecondsSinceEpoch
            // A deadline already past that `tick` did not move must not turn the loop into a spin.
            timeout = milliseconds > 0 ? UInt64(milliseconds) * 1_000_000 : 10_000_000
        }
        if !unrecorded.isEmpty { timeout = min(timeout, 1_000_000_000) }  // retry the outbox soon
        if let watchdog { timeout = min(timeout, watchdog.nanosecondsUntilDue()) }
        if let due = pacer?.nextDeadlineNanoseconds() {
            timeout = min(timeout, due > current.nanoseconds ? due - current.nanoseconds : 0)
        }
        if let stopAt { timeout = min(timeout, stopAt > current.nanoseconds ? stopAt - current.nanoseconds : 0) }
        if !polledLids.isEmpty { timeout = min(timeout, Self.lidPollNanoseconds) }
        return timeout
    }

    /// Waits for debounced lid edges (or a signal on `wakeup`, or the timeout) and returns them with their bin.
    private func waitForLids(timeout: UInt64, wakeup: GPIOWakeup?) -> [(bin: Int, edge: LidEdge)] {
        var edges: [(bin: Int, edge: LidEdge)] = []
        do {
            if waitedLids.isEmpty {
                if timeout > 0 || wakeup != nil {
                    _ = try chip.waitForEvents(on: [], timeoutNanoseconds: timeout, wakeup: wakeup)
                }
            } else {
                let group = try LidSwitch.waitForEdges(
                    on: waitedLids.map(\.lid), timeoutNanoseconds: timeout, wakeup: wakeup)
                edges += group.map { (bin: waitedLids[$0.lidIndex].bin, edge: $0.edge) }
            }
            for (bin, lid) in polledLids {
                let events = try lid.eventLine.readPendingEvents()
                for edge in try lid.process(events, nowNanoseconds: lid.eventLine.chip.clock.nanoseconds()) {
                    edges.append((bin, edge))
                }
            }
        } catch {
            waitFailed("\(error)")
        }
        return edges.sorted { $0.edge.timestampNanoseconds < $1.edge.timestampNanoseconds }
    }

    private func waitFailed(_ description: String) {
        counters.sampleErrors.add(1, ordering: .relaxed)
        logger.error("sampling.wait_failed", metadata: ["gpio.error": "\(description)"])
        // Do not spin on a chip that keeps failing; the watchdog still sees this thread alive.
        chip.clock.sleep(nanoseconds: 100_000_000)
    }

    // MARK: Commands

    private func execute(_ command: SamplingCommand) {
        let current = now().time
        switch command {
        case .tare(let bin, let reply):
            reply(
                recalibrate(bin: bin) { index throws(BinDaemonError) in
                    try calibrator.tare(sensors[index].scale, previous: pipelines[index].calibration, at: current)
                })
        case .calibrate(let bin, let knownKg, let reply):
            reply(
                recalibrate(bin: bin) { index throws(BinDaemonError) in
                    try calibrator.calibrate(
                        sensors[index].scale, knownKg: knownKg, previous: pipelines[index].calibration, bin: bin,
                        at: current)
                })
        case .read(let reply):
            let air = temperature.read()
            reply(
                sensors.indices.map { index in
                    SensorSurvey.read(
                        sensors[index], calibration: pipelines[index].calibration, temperature: air,
                        pings: config.sampling.rangerPings, quality: pipelines[index].faults.quality)
                })
        case .reconfigure(let newConfig, let reply):
            for index in pipelines.indices {
                if let bin = newConfig.bin(id: sensors[index].bin.id) {
                    pipelines[index].reconfigure(bin: bin, config: newConfig)
                }
            }
            config = newConfig
            nextHealthAt = nil
            reply()
        }
    }

    private func recalibrate(bin: String, _ make: (Int) throws(BinDaemonError) -> StoredCalibration)
        -> Result<StoredCalibration, BinDaemonError>
    {
        guard let index = sensors.firstIndex(where: { $0.bin.id == bin }) else {
            return .failure(
                BinDaemonError(
                    .calibrationFailed, "no bin \"\(bin)\" (bins: \(sensors.map(\.bin.id).joined(separator: ", ")))"))
        }
        do {
            let calibration = try make(index)
            try store.save(calibration, bin: bin)
            pipelines[index].setCalibration(calibration)
            logger.notice(
                "calibration.changed",
                metadata: [
                    "bin.id": "\(bin)", "calibration.offset_counts": "\(calibration.offsetCounts)",
                    "calibration.counts_per_kg": "\(calibration.countsPerKg.map { "\($0)" } ?? "none")",
                ])
            return .success(calibration)
        } catch {
            logger.warning("calibration.failed", metadata: ["bin.id": "\(bin)", "error": "\(error)"])
            return .failure(error)
        }
    }
}
