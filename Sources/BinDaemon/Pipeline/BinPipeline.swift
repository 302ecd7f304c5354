import BinProtocol
import Sensors

/// An event body and the time it happened, before the outbox gives it a seq.
public struct TimedEvent: Sendable, Equatable {
    public var body: EventBody
    public var at: WireTimestamp

    public init(body: EventBody, at: WireTimestamp) {
        self.body = body
        self.at = at
    }
}

/// One bin's processing chain, without I/O: the deposit detector, the fault tracker, the state reporter,
/// the sensor monitors (stuck or noisy scale, stuck ranger) and the scale calibration, fed with the results
/// of sensor reads and lid edges.
/// It keeps the sampling work the detector asked for (`pendingScaleReadings`, `pendingRangerPings`); the
/// sampling loop does that work and hands the results back. What comes out: events for the outbox,
/// calibration changes to store, and state snapshots worth publishing.
public struct BinPipeline: Sendable {
    public private(set) var bin: BinConfig
    public private(set) var detector: DepositDetector
    public private(set) var faults: FaultTracker
    public private(set) var calibration: StoredCalibration
    private var reporter: StateReporter
    private var stuck = ScaleStuckMonitor()
    private var noise: ScaleNoiseMonitor
    private var rangerStuck = RangerStuckMonitor()
    private var lastScaleFailed = false

    /// Scale conversions still to take (a burst in progress, or back-to-back weighing while settling).
    public private(set) var pendingScaleReadings = 0
    /// A ranger reading asked for and not yet taken.
    public private(set) var pendingRangerPings: Int?
    private var lastRangerFailed = false
    /// The air temperature last used, published in the state.
    public var temperatureC: Double?

    /// While the ranger fails, repeats itself, or a ranger or consistency fault is raised or on its way, it
    /// is read this often instead of at the slow heartbeat: such faults are raised and cleared within
    /// minutes, not hours.
    public static let rangerRetryS = 30.0

    /// What feeding the pipeline produced.
    public struct Output: Sendable, Equatable {
        public var events: [TimedEvent] = []
        /// The zero moved (auto-zero after a collection): store `calibration`.
        public var calibrationChanged = false

        public init() {}

        mutating func append(_ other: Output) {
            events += other.events
            calibrationChanged = calibrationChanged || other.calibrationChanged
        }
    }

    public init(bin: BinConfig, config: DaemonConfig, calibration: StoredCalibration) {
        self.bin = bin
        detector = DepositDetector(configuration: DepositDetector.Configuration(bin: bin, config: config))
        faults = FaultTracker(bin: bin.id)
        reporter = StateReporter(policy: StateReporter.Policy(heartbeatS: config.sampling.stateHeartbeatS))
        self.calibration = calibration
        noise = ScaleNoiseMonitor(windowReadings: config.sampling.burstReadings)
    }

    // MARK: Inputs

    /// A debounced lid edge.
    public mutating func lidChanged(open: Bool, at time: WireTimestamp) -> Output {
        stuck.worldChanged()
        noise.interrupt()
        return apply(detector.lidChanged(open: open, at: time), at: time)
    }

    /// One HX711 conversion, or why there was none.
    public mutating func scaleRead(_ result: Result<Int32, SensorError>, at time: WireTimestamp) -> Output {
        pendingScaleReadings = max(pendingScaleReadings - 1, 0)
        switch result {
        case .success(let code):
            lastScaleFailed = false
            var output = observe(
                stuck.reading(rawCode: code) + [FaultObservation(.scaleNotReady, present: false)], at: time)
            guard let scale = calibration.scale else { return output }
            let reading = WeightReading(at: time, massKg: scale.kilograms(fromCounts: Double(code)))
            if detector.lidOpen {
                noise.interrupt()  // hands and falling waste, not the load cell's noise
            } else if let observation = noise.reading(reading, limitKg: noiseLimitKg) {
                output.append(observe([observation], at: time))
                detector.scaleNoiseMeasured(sigmaKg: noise.noisySigmaKg)
            }
            output.append(apply(detector.weighed(reading), at: time))
            if pendingScaleReadings == 0, detector.isSettling { pendingScaleReadings = 1 }
            return output
        case .failure(let error):
            // A failed conversion ends the burst: the next tick tries again.
            pendingScaleReadings = 0
            lastScaleFailed = true
            noise.interrupt()
            let observation: FaultObservation =
                error.code == .saturated
                ? FaultObservation(.scaleSaturated, present: true, detail: error.detail ?? "saturated")
                : FaultObservation(
                    .scaleNotReady, present: true, detail: "\(error.code.summary): \(error.detail ?? "")")
            return observe([observation], at: time)
        }
    }

    /// One ranger measurement (the median of its pings), or why there was none.
    public mutating func rangerRead(_ result: Result<UltrasonicRanger.Reading, SensorError>, at time: WireTimestamp)
        -> Output
    {
        pendingRangerPings = nil
        var output = Output()
        let outcome: FillReading.Outcome
        switch result {
        case .success(.distance(let millimetres)):
            if !detector.lidOpen {
                let observation = rangerStuck.reading(
                    distanceMm: millimetres, massKg: detector.baselineKg, minMassChangeKg: bin.thresholds.minDepositKg)
                output.append(observe([observation], at: time))
                if observation.present {
                    outcome = .rejected
                    break
                }
            }
            outcome = .level(bin.geometry.fill(distanceMm: millimetres, mountMm: bin.ranger?.mountMm ?? 0))
        case .success(.blindZone):
            outcome = .aboveTop
        case .success(.noEcho), .failure:
            outcome = .noEcho
        }
        switch outcome {
        case .noEcho, .rejected: lastRangerFailed = true
        case .level, .aboveTop: lastRangerFailed = false
        }
        output.append(apply(detector.ranged(FillReading(at: time, outcome: outcome)), at: time))
        return output
    }

    /// The passage of time: timeouts, heartbeat sampling, ranger retries.
    public mutating func tick(at time: WireTimestamp) -> Output {
        let output = apply(detector.tick(at: time), at: time)
        if let due = rangerRetryDue, due <= time, pendingRangerPings == nil { pendingRangerPings = rangerPings }
        return output
    }

    /// When `tick` next has something to do, or the state heartbeat falls due.
    public func nextDeadline() -> WireTimestamp? {
        [detector.nextDeadline(), reporter.nextHeartbeat, rangerRetryDue].compactMap { $0 }.min()
    }

    /// Whether the sampling loop has sensor work for this bin right now.
    public var hasPendingWork: Bool { pendingScaleReadings > 0 || pendingRangerPings != nil }

    // MARK: Calibration and configuration

    /// A tare or calibration was made: the detector starts its mass history over.
    public mutating func setCalibration(_ calibration: StoredCalibration) {
        self.calibration = calibration
        detector.scaleRecalibrated()
        noise.interrupt()
        pendingScaleReadings = max(pendingScaleReadings, burstReadings)
    }

    /// The detector's volume noise as learned before a restart (`DepositDetector.restoreVolumeNoise`).
    public mutating func restoreVolumeNoise(_ estimate: VolumeNoiseEstimate) {
        detector.restoreVolumeNoise(estimate)
    }

    /// New thresholds, classification or sampling settings from a configuration reload; `bin` must be the
    /// same bin (same id, sensors and shape).
    public mutating func reconfigure(bin: BinConfig, config: DaemonConfig) {
        self.bin = bin
        detector.reconfigure(DepositDetector.Configuration(bin: bin, config: config))
        reporter.policy.heartbeatS = config.sampling.stateHeartbeatS
        noise.windowReadings = config.sampling.burstReadings
    }

    // MARK: State

    /// What the retained state says now.
    public var snapshot: BinStateSnapshot {
        BinStateSnapshot(
            fill: detector.currentFill.map { DepositDetector.round($0, places: 3) },
            massKg: detector.currentMassKg.map { DepositDetector.round($0, places: 3) }, lidOpen: detector.lidOpen,
            quality: faults.quality, temperatureC: temperatureC.map { DepositDetector.round($0, places: 1) })
    }

    /// The state message, if the reporter says it is worth publishing now.
    public mutating func stateIfDue(device: String, at time: WireTimestamp) -> StatePayload? {
        let snapshot = snapshot
        guard reporter.shouldPublish(snapshot, at: time) else { return nil }
        return snapshot.payload(device: device, bin: bin.id, stream: bin.stream, at: time)
    }

    /// Active faults as `bin/code`, for the health message.
    public var activeFaultNames: [String] { faults.activeCodes.map { "\(bin.id)/\($0.rawValue)" } }

    // MARK: Internals

    private var rangerPings: Int { detector.configuration.sampling.rangerPings }
    private var burstReadings: Int { detector.configuration.sampling.burstReadings }

    private var rangerRetryDue: WireTimestamp? {
        guard bin.ranger != nil, !detector.lidOpen, let last = detector.lastRangerAt else { return nil }
        let lookAgain =
            lastRangerFailed || rangerStuck.wantsAnotherLook
            || Self.rangerConfirmed.contains { faults.isActive($0) || faults.isPending($0) }
        return lookAgain ? last.adding(seconds: Self.rangerRetryS) : nil
    }

    /// Faults whose raising and clearing wait for ranger readings.
    private static let rangerConfirmed: [FaultCode] = [.rangerNoEcho, .rangerStuck, .fillWithoutMass, .massWithoutFill]

    /// The σ above which a burst counts as noisy: from the larger of the configured `scale_noise_kg` and
    /// the noise the last tare measured.
    private var noiseLimitKg: Double {
        var calibrated = bin.thresholds.scaleNoiseKg
        if let counts = calibration.noiseCounts, let slope = calibration.countsPerKg, slope != 0 {
            calibrated = max(calibrated, counts / abs(slope))
        }
        return ScaleNoiseMonitor.limitKg(
            calibratedSigmaKg: calibrated, stableToleranceKg: bin.thresholds.effectiveStableToleranceKg)
    }

    /// While a sensor is failing or its fault is on its way, a contradiction between mass and fill says
    /// nothing new: the consistency checks wait until both sensors are fine again.
    private var sensorsInDoubt: Bool {
        lastScaleFailed || lastRangerFailed || noise.lastWindowNoisy
            || FaultCode.allCases.contains { code in
                (code.sensor == .scale || code.sensor == .ranger) && (faults.isActive(code) || faults.isPending(code))
            }
    }

    /// A deposit's volume is not to be judged by while a ranger fault is raised or on its way, or a
    /// consistency fault (mass and fill disagree) is raised.
    private var volumeInDoubt: Bool {
        FaultCode.allCases.contains { code in
            (code.sensor == .ranger && (faults.isActive(code) || faults.isPending(code)))
                || (code.sensor == .system && faults.isActive(code))
        }
    }

    private mutating func observe(_ observations: [FaultObservation], at time: WireTimestamp) -> Output {
        var output = Output()
        for fault in faults.observe(observations, at: time) {
            output.events.append(TimedEvent(body: .fault(fault.fault), at: fault.at))
        }
        return output
    }

    private mutating func apply(_ actions: [DetectorAction], at time: WireTimestamp) -> Output {
        var output = Output()
        for action in actions {
            switch action {
            case .deposit(var deposit, let at):
                if deposit.volumeL != nil, volumeInDoubt {
                    // The ranger or the agreement of the two sensors is in question: keep the evidence for a
                    // reader, but judge nothing by it.
                    deposit.observed = .unknown
                    deposit.contaminated = false
                    deposit.evidence?.reason = DensityClassifier.Reason.sensorFault.rawValue
                }
                deposit.quality = deposit.quality.worse(faults.quality)
                // Weighed on a noisy window whose fault is not raised yet: not `good` either.
                if noise.lastWindowNoisy { deposit.quality = deposit.quality.worse(.degraded) }
                output.events.append(TimedEvent(body: .deposit(deposit), at: at))
            case .collection(let collection, let at):
                output.events.append(TimedEvent(body: .collection(collection), at: at))
            case .sample(.scale(var readings)):
                // A noisy scale is judged on bursts: idle readings become bursts until it is cleared.
                if faults.isActive(.scaleNoisy) || faults.isPending(.scaleNoisy) {
                    readings = max(readings, burstReadings)
                }
                pendingScaleReadings = max(pendingScaleReadings, readings)
            case .sample(.ranger(let pings)):
                if bin.ranger != nil { pendingRangerPings = max(pendingRangerPings ?? 0, pings) }
            case .autoZero(let correctionKg, _):
                if let slope = calibration.countsPerKg {
                    calibration.offsetCounts += correctionKg * slope
                    output.calibrationChanged = true
                }
            case .observation(let observation):
                if observation.code.sensor == .system, sensorsInDoubt { continue }
                output.append(observe([observation], at: time))
            }
        }
        return output
    }
}
