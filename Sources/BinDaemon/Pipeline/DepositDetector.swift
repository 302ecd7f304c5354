import BinProtocol

/// The deposit and collection state machine of one bin (DESIGN section 5). A value type without I/O:
/// the owner feeds it debounced lid edges, calibrated weight readings, fill readings and the time, and
/// carries out what it returns (publish an event, take a sample, move the scale's zero, tell the fault
/// tracker).
///
/// A deposit is measured across a whole lid cycle: from the stable weight and trusted fill before the lid
/// opened to the stable weight after it closed and the ranger reading after that. Several items dropped in
/// one cycle are one deposit. With the lid closed the weight may drift, creep or jump when waste is
/// pressed down; that moves the baseline and never makes a deposit. Bins without a lid switch detect
/// deposits from a weight step alone. A large drop in weight is a collection.
///
/// A switch stuck closed (or a cut wire) would hide every deposit behind that rule. So steps up with the
/// lid closed are remembered until the next lid edge, and the ones a later step down takes back (someone
/// leaned on the bin) are forgotten; at `lidStuckAfterGains` of them the switch is doubted (`lid.stuck`),
/// they are reported as deposits after all, and the bin works from the weight alone until the switch moves.
public struct DepositDetector: Sendable {
    public struct Configuration: Sendable, Equatable {
        public var binID: String
        public var stream: WasteStream
        public var geometry: BinGeometry
        public var thresholds: BinThresholds
        public var classifier: DensityClassifier
        public var sampling: SamplingConfig
        public var hasLid: Bool
        public var hasRanger: Bool

        public init(
            binID: String, stream: WasteStream, geometry: BinGeometry, thresholds: BinThresholds,
            classifier: DensityClassifier, sampling: SamplingConfig, hasLid: Bool, hasRanger: Bool
        ) {
            self.binID = binID
            self.stream = stream
            self.geometry = geometry
            self.thresholds = thresholds
            self.classifier = classifier
            self.sampling = sampling
            self.hasLid = hasLid
            self.hasRanger = hasRanger
        }

        /// The configuration of `bin` in `config`.
        public init(bin: BinConfig, config: DaemonConfig) {
            self.init(
                binID: bin.id, stream: bin.stream, geometry: bin.geometry, thresholds: bin.thresholds,
                classifier: DensityClassifier(thresholds: config.classification), sampling: config.sampling,
                hasLid: bin.lid != nil, hasRanger: bin.ranger != nil)
        }
    }

    /// A trusted fill reading.
    public struct FillSnapshot: Sendable, Equatable {
        public var level: FillLevel
        public var at: WireTimestamp
    }

    /// Waste in the bin since the last collection: the steadier whole-bin density signal.
    public struct SinceCollection: Sendable, Equatable {
        public var massKg: Double
        public var volumeL: Double?
    }

    enum Phase: Sendable, Equatable {
        case idle
        case active(Cycle)
        case awaitingFill(Pending)
    }

    /// A lid cycle or a weight disturbance in progress.
    struct Cycle: Sendable, Equatable {
        var startedAt: WireTimestamp
        var lidWasOpened: Bool
        var lidOpenedAt: WireTimestamp?
        var lidClosedAt: WireTimestamp?
        /// Fill before the cycle; nil once unknown (no reading, or deposits flushed during a long opening).
        var fillBefore: FillSnapshot?
        var timedOut = false
    }

    /// A stable step up with the lid closed, kept until the next lid edge.
    struct ClosedLidGain: Sendable, Equatable {
        var massKg: Double
        var baselineBeforeKg: Double
        var at: WireTimestamp
    }

    /// A settled deposit waiting for the ranger reading after it.
    struct Pending: Sendable, Equatable {
        var massKg: Double
        var baselineBeforeKg: Double
        var settledAt: WireTimestamp
        var fillBefore: FillSnapshot?
        var deadline: WireTimestamp
        var quality: ReadingQuality
        var cycle: Cycle
    }

    public private(set) var configuration: Configuration
    private(set) var phase: Phase = .idle
    private var window: [WeightReading] = []
    /// The settled net mass everything is measured against; nil until the first stable window.
    public private(set) var baselineKg: Double?
    public private(set) var lastTrustedFill: FillSnapshot?
    public private(set) var lidOpen = false
    public private(set) var lastWeight: WeightReading?
    /// Mass and fill right after the last collection (or the first settle).
    private var afterCollection: (massKg: Double, fill: FillLevel?)?
    /// σ of one reading while the scale is noisy (see `scaleNoiseMeasured`).
    public private(set) var measuredNoiseKg: Double?
    /// Mass and fill compared since one reference point (`consistency.*` faults).
    public private(set) var consistency = ConsistencyCheck()
    private var lastScaleSampleAt: WireTimestamp?
    private(set) var lastRangerAt: WireTimestamp?
    private var rangerRequestedAt: WireTimestamp?
    /// Steps up since the last lid edge that the lid switch did not explain.
    private var closedLidGains: [ClosedLidGain] = []
    /// The lid switch is doubted (`lid.stuck`): deposits come from the weight alone until it moves again.
    public private(set) var lidSwitchDoubted = false
    /// How much noisier this bin's volume changes are than configured, learned from its deposits.
    public private(set) var volumeNoise = VolumeNoiseEstimate()
    /// What the last deposit told about the surface under the beam; nil when nothing is known beyond the
    /// roughness (since a start, a collection, a reload, a deposit without a trusted volume, or a surface
    /// that moved between deposits).
    public private(set) var surfaceOffset: SurfaceOffset?

    /// Steps up with the lid closed, none taken back, before the switch is doubted. One is a hand or a knee
    /// on the lid that stayed long enough to settle; two can be waste settling against a wall and then
    /// slipping; three without a single lid edge in between, each at least `min_deposit_kg`, is waste going
    /// in past a switch that does not move. The first two are reported late rather than lost.
    public static let lidStuckAfterGains = 3

    public init(configuration: Configuration) {
        self.configuration = configuration
    }

    private var thresholds: BinThresholds { configuration.thresholds }

    /// Whether a deposit needs a lid cycle: with a working lid switch, yes.
    private var lidGatesDeposits: Bool { configuration.hasLid && !lidSwitchDoubted }

    /// True while a cycle waits for the weight to settle with the lid closed: the owner keeps weighing back
    /// to back until it settles, or until `settle_timeout_s` closes the cycle on the last readings.
    public var isSettling: Bool {
        if case .active = phase { return !lidOpen }
        return false
    }

    /// New thresholds, classification or sampling settings (a configuration reload). The state carries on:
    /// a cycle in progress is finished under the new values.
    public mutating func reconfigure(_ configuration: Configuration) {
        // What the noise was learned against has changed.
        if VolumeNoiseBasis(configuration) != VolumeNoiseBasis(self.configuration) {
            volumeNoise = VolumeNoiseEstimate()
            surfaceOffset = nil
        }
        self.configuration = configuration
    }

    /// What this bin learned of its volume noise before a restart, under the same configuration
    /// (`VolumeNoiseStore`): deposits are judged with it from the first one on.
    public mutating func restoreVolumeNoise(_ estimate: VolumeNoiseEstimate) {
        volumeNoise = estimate
    }

    /// The scale shows noise far above its calibration (`scale.noisy`): σ of one reading, or nil once it is
    /// quiet again. Stable windows, deposit steps and the classifier's mass uncertainty follow it.
    public mutating func scaleNoiseMeasured(sigmaKg: Double?) {
        measuredNoiseKg = sigmaKg
    }

    /// The scale's zero or slope was set anew (a tare or calibration command): masses measured before are on
    /// another scale, so the baseline, the history since the last collection and any cycle in progress are
    /// dropped, and the next stable window starts over. The lid state and the last fill are kept.
    public mutating func scaleRecalibrated() {
        phase = .idle
        window = []
        baselineKg = nil
        lastWeight = nil
        afterCollection = nil
        consistency.reset()
        lastScaleSampleAt = nil
        closedLidGains = []
    }

    // MARK: Inputs

    /// A debounced lid edge.
    public mutating func lidChanged(open: Bool, at time: WireTimestamp) -> [DetectorAction] {
        guard open != lidOpen else { return [] }
        lidOpen = open
        var actions: [DetectorAction] = [.sample(.scale(readings: configuration.sampling.burstReadings))]
        // The switch moves: the steps before it are explained (or at least no longer the switch's fault).
        closedLidGains = []
        if lidSwitchDoubted {
            lidSwitchDoubted = false
            actions.append(.observation(FaultObservation(.lidStuck, present: false)))
        }
        if open {
            switch phase {
            case .idle:
                phase = .active(
                    Cycle(startedAt: time, lidWasOpened: true, lidOpenedAt: time, fillBefore: lastTrustedFill))
            case .active(var cycle):
                cycle.lidWasOpened = true
                cycle.lidOpenedAt = time
                cycle.lidClosedAt = nil
                phase = .active(cycle)
            case .awaitingFill(let pending):
                // Reopened before the ranger confirmed: fold the pending deposit into this cycle.
                baselineKg = pending.baselineBeforeKg
                var cycle = pending.cycle
                cycle.lidOpenedAt = time
                cycle.lidClosedAt = nil
                phase = .active(cycle)
            }
        } else {
            if case .active(var cycle) = phase {
                cycle.lidClosedAt = time
                phase = .active(cycle)
            }
            actions.append(.observation(FaultObservation(.lidOpenTooLong, present: false)))
        }
        return actions
    }

    /// A calibrated scale reading.
    public mutating func weighed(_ reading: WeightReading) -> [DetectorAction] {
        lastWeight = reading
        lastScaleSampleAt = reading.at
        window.append(reading)
        if window.count > thresholds.stableReadings { window.removeFirst(window.count - thresholds.stableReadings) }
        let stable = stableMass()

        switch phase {
        case .idle:
            guard let baseline = baselineKg else {
                if let stable { settleFirst(stable, at: reading.at) }
                return []
            }
            guard let stable else {
                if abs(reading.massKg - baseline) > stableToleranceKg {
                    phase = .active(Cycle(startedAt: reading.at, lidWasOpened: false, fillBefore: lastTrustedFill))
                    return [.sample(.scale(readings: configuration.sampling.burstReadings))]
                }
                return []
            }
            let change = stable - baseline
            if change <= -collectionThreshold(baseline) || (!lidGatesDeposits && change >= minDepositKg) {
                return settle(
                    stable, at: reading.at,
                    cycle: Cycle(startedAt: reading.at, lidWasOpened: !lidGatesDeposits, fillBefore: lastTrustedFill),
                    quality: .good)
            }
            baselineKg = stable  // creep, temperature drift, pressed-down waste
            return []
        case .active(let cycle):
            guard let stable else { return [] }
            if lidOpen {
                // Only a lid left open past the timeout closes off deposits before it shuts.
                guard cycle.timedOut, let baseline = baselineKg, stable - baseline >= minDepositKg else { return [] }
                return flushWithoutVolume(stable, at: reading.at, cycle: cycle)
            }
            // The whole window must postdate the lid closing, or it mixes open-lid weights in.
            if let closedAt = cycle.lidClosedAt, window.first!.at < closedAt { return [] }
            return settle(stable, at: reading.at, cycle: cycle, quality: .good)
        case .awaitingFill(let pending):
            if abs(reading.massKg - (pending.baselineBeforeKg + pending.massKg)) > stableToleranceKg {
                // More waste without a lid edge: measure it all together.
                baselineKg = pending.baselineBeforeKg
                phase = .active(pending.cycle)
                return [.sample(.scale(readings: configuration.sampling.burstReadings))]
            }
            return []
        }
    }

    /// A ranger reading.
    public mutating func ranged(_ reading: FillReading) -> [DetectorAction] {
        lastRangerAt = reading.at
        rangerRequestedAt = nil
        var actions: [DetectorAction] = []
        let level: FillLevel?
        switch reading.outcome {
        case .level(let l):
            level = l
            actions.append(.observation(FaultObservation(.rangerNoEcho, present: false)))
            actions.append(.observation(FaultObservation(.rangerBlind, present: false)))
        case .aboveTop:
            let g = configuration.geometry
            level = FillLevel(surfaceHeightMm: g.depthMm, volumeL: g.capacityL, fraction: 1)
            actions.append(.observation(FaultObservation(.rangerNoEcho, present: false)))
            actions.append(
                .observation(
                    FaultObservation(
                        .rangerBlind, present: true,
                        detail: "echo inside the blind zone: full, or the sensor is covered")))
        case .noEcho:
            level = nil
            actions.append(
                .observation(FaultObservation(.rangerNoEcho, present: true, detail: "no echo within the range timeout"))
            )
        case .rejected:
            level = nil
        }
        // Readings with the lid open see the lid's underside or the person; they are not fill.
        guard !lidOpen else { return actions }
        let snapshot = level.map { FillSnapshot(level: $0, at: reading.at) }

        switch phase {
        case .awaitingFill(let pending):
            guard reading.at >= pending.settledAt else { return actions }
            if let snapshot { lastTrustedFill = snapshot }
            phase = .idle
            actions += finishDeposit(pending, fillAfter: snapshot, at: reading.at)
        case .idle:
            guard let snapshot else { return actions }
            lastTrustedFill = snapshot
            if let offset = surfaceOffset, surfaceMoved(from: offset.reading, to: snapshot) { surfaceOffset = nil }
            actions += judgeConsistency(snapshot)
            if afterCollection != nil, afterCollection?.fill == nil { afterCollection?.fill = snapshot.level }
        case .active:
            break
        }
        return actions
    }

    /// The passage of time: timeouts and heartbeat sampling.
    public mutating func tick(at time: WireTimestamp) -> [DetectorAction] {
        var actions: [DetectorAction] = []
        switch phase {
        case .active(var cycle):
            if lidOpen, !cycle.timedOut, let openedAt = cycle.lidOpenedAt,
                openedAt.seconds(to: time) >= thresholds.lidOpenTimeoutS
            {
                cycle.timedOut = true
                phase = .active(cycle)
                actions.append(
                    .observation(
                        FaultObservation(
                            .lidOpenTooLong, present: true,
                            detail: "lid open for more than \(Self.round(thresholds.lidOpenTimeoutS)) s")))
                if let stable = stableMass(), let baseline = baselineKg, stable - baseline >= minDepositKg {
                    actions += flushWithoutVolume(stable, at: time, cycle: cycle)
                }
            } else if !lidOpen, (cycle.lidClosedAt ?? cycle.startedAt).seconds(to: time) >= thresholds.settleTimeoutS {
                // The weight never settled (wind, someone leaning on the bin): settle on the last readings.
                if let mean = windowMean() {
                    actions += settle(mean, at: time, cycle: cycle, quality: .degraded)
                } else {
                    phase = .idle
                }
            }
        case .awaitingFill(let pending):
            if time >= pending.deadline {
                phase = .idle
                actions += finishDeposit(pending, fillAfter: nil, at: time)
            }
        case .idle:
            break
        }
        if let last = lastScaleSampleAt, last.seconds(to: time) >= configuration.sampling.scaleIntervalS {
            lastScaleSampleAt = time
            actions.append(.sample(.scale(readings: 1)))
        } else if lastScaleSampleAt == nil {
            lastScaleSampleAt = time
            actions.append(.sample(.scale(readings: thresholds.stableReadings)))
        }
        if configuration.hasRanger, !lidOpen, phase == .idle, rangerRequestedAt == nil,
            lastRangerAt.map({ $0.seconds(to: time) >= configuration.sampling.rangerHeartbeatS }) ?? true
        {
            rangerRequestedAt = time
            actions.append(.sample(.ranger(pings: configuration.sampling.rangerPings)))
        }
        return actions
    }

    /// When `tick` next has something to do, so the owner can sleep until then.
    public func nextDeadline() -> WireTimestamp? {
        var candidates: [WireTimestamp] = []
        switch phase {
        case .active(let cycle):
            if lidOpen, !cycle.timedOut, let openedAt = cycle.lidOpenedAt {
                candidates.append(openedAt.adding(seconds: thresholds.lidOpenTimeoutS))
            } else if !lidOpen {
                candidates.append((cycle.lidClosedAt ?? cycle.startedAt).adding(seconds: thresholds.settleTimeoutS))
            }
        case .awaitingFill(let pending):
            candidates.append(pending.deadline)
        case .idle:
            break
        }
        if let last = lastScaleSampleAt {
            candidates.append(last.adding(seconds: configuration.sampling.scaleIntervalS))
        }
        // The heartbeat reading is only taken idle with the lid closed (see `tick`); otherwise the lid edge
        // or the cycle's own deadlines wake the owner.
        if configuration.hasRanger, let last = lastRangerAt, rangerRequestedAt == nil, !lidOpen, phase == .idle {
            candidates.append(last.adding(seconds: configuration.sampling.rangerHeartbeatS))
        }
        return candidates.min()
    }

    // MARK: State for publishing

    /// Fill fraction to publish: the last trusted reading, nil while the lid is open or none exists.
    public var currentFill: Double? { lidOpen ? nil : lastTrustedFill?.level.fraction }

    /// Mass to publish: the settled baseline while idle, the latest reading otherwise.
    public var currentMassKg: Double? { phase == .idle ? (baselineKg ?? lastWeight?.massKg) : lastWeight?.massKg }

    /// Mass and volume added since the last collection (volume nil without trusted fills).
    public var sinceCollection: SinceCollection? {
        guard let start = afterCollection, let baseline = baselineKg else { return nil }
        let volume: Double? =
            if let startFill = start.fill, let now = lastTrustedFill { now.level.volumeL - startFill.volumeL } else {
                nil
            }
        return SinceCollection(massKg: baseline - start.massKg, volumeL: volume)
    }

    /// The whole-bin density signal: everything since the last collection, classified like one deposit.
    public func wholeBinClassification() -> DensityClassifier.Result? {
        guard let since = sinceCollection else { return nil }
        let sigmaVolume = lastTrustedFill.map { volumeSigma(at: $0.level) * volumeNoise.factor } ?? 0
        return configuration.classifier.classify(
            massKg: since.massKg, volumeL: since.volumeL, sigmaMassKg: massSigma, sigmaVolumeL: sigmaVolume,
            declared: configuration.stream)
    }

    // MARK: Internals

    private var massSigma: Double {
        DensityClassifier.massSigmaKg(scaleSigmaKg: scaleSigmaKg, windowReadings: thresholds.stableReadings)
    }

    /// σ of one reading: as configured, or what a noisy scale shows now.
    private var scaleSigmaKg: Double { max(thresholds.scaleNoiseKg, measuredNoiseKg ?? 0) }

    /// Largest spread of a stable window: 5 σ of the noise the scale shows now, never below the configured
    /// tolerance. A noisy scale still settles (on a mean that is off by σ/√5), instead of never.
    private var stableToleranceKg: Double { max(thresholds.effectiveStableToleranceKg, 5 * (measuredNoiseKg ?? 0)) }

    /// The smallest step reported as a deposit: `min_deposit_kg`, or 4 σ of a step between two window means
    /// when the scale is noisy (so an empty lid cycle does not become a deposit of noise).
    private var minDepositKg: Double { max(thresholds.minDepositKg, measuredNoiseKg == nil ? 0 : 4 * massSigma) }

    /// Whether a reading with the lid closed and no deposit in between shows a different surface than the
    /// reading after the last deposit: more than 4 σ of the pings apart (waste settled or was pushed down).
    private func surfaceMoved(from reading: FillSnapshot, to now: FillSnapshot) -> Bool {
        let pings = Double(max(configuration.sampling.rangerPings, 1))
        let readingSigmaMm = ((Double.pi / 2) * thresholds.rangerSigmaMm * thresholds.rangerSigmaMm / pings)
            .squareRoot()
        let sigmaL =
            2.0.squareRoot() * readingSigmaMm
            * configuration.geometry.litresPerMm(atHeightMm: now.level.surfaceHeightMm)
        return abs(now.level.volumeL - reading.level.volumeL) > 4 * max(sigmaL, 1e-9) * volumeNoise.factor
    }

    private func volumeSigma(at level: FillLevel) -> Double {
        DensityClassifier.volumeSigmaL(
            rangerSigmaMm: thresholds.rangerSigmaMm, surfaceRoughnessMm: thresholds.surfaceRoughnessMm,
            rangerPings: configuration.sampling.rangerPings,
            litresPerMm: configuration.geometry.litresPerMm(atHeightMm: level.surfaceHeightMm))
    }

    /// A trusted fill with the weight settled: compare both sides since the consistency reference.
    private mutating func judgeConsistency(_ fill: FillSnapshot) -> [DetectorAction] {
        guard let baseline = baselineKg else { return [] }
        return consistency.judge(
            massKg: baseline, volumeL: fill.level.volumeL, sigmaVolumeL: volumeSigma(at: fill.level), at: fill.at
        ).map { .observation($0) }
    }

    private func stableMass() -> Double? {
        guard window.count >= thresholds.stableReadings else { return nil }
        let masses = window.map(\.massKg)
        guard masses.max()! - masses.min()! <= stableToleranceKg else { return nil }
        return windowMean()
    }

    private func windowMean() -> Double? {
        window.isEmpty ? nil : window.map(\.massKg).reduce(0, +) / Double(window.count)
    }

    private func collectionThreshold(_ baseline: Double) -> Double {
        max(thresholds.collectionMinKg, thresholds.collectionMinFraction * baseline)
    }

    private mutating func settleFirst(_ stable: Double, at time: WireTimestamp) {
        baselineKg = stable
        afterCollection = (stable, lastTrustedFill?.level)
        if let fill = lastTrustedFill { _ = judgeConsistency(fill) }
    }

    /// The weight is stable after a cycle: decide what happened.
    private mutating func settle(_ stable: Double, at time: WireTimestamp, cycle: Cycle, quality: ReadingQuality)
        -> [DetectorAction]
    {
        guard let baseline = baselineKg else {
            settleFirst(stable, at: time)
            phase = .idle
            return []
        }
        let change = stable - baseline
        phase = .idle
        if lidGatesDeposits && !cycle.lidWasOpened, let undone = closedLidGainUndone(byReturningTo: stable) {
            // Back to where it was before a step with the lid closed: whoever leaned on the bin let go. Not a
            // collection, however heavy the lean was.
            closedLidGains.removeSubrange(undone...)
            baselineKg = stable
            return []
        }
        if change <= -collectionThreshold(baseline) {
            return collect(from: baseline, to: stable, at: time, fillBefore: cycle.fillBefore ?? lastTrustedFill)
        }
        baselineKg = stable
        if lidGatesDeposits && !cycle.lidWasOpened {
            return weightChangedWithLidClosed(change, from: baseline, cycle: cycle, at: time, quality: quality)
        }
        return weighDeposit(change, from: baseline, cycle: cycle, at: time, quality: quality)
    }

    /// A settled step up in a lid cycle (or with no switch to wait for): a deposit once the ranger has
    /// measured its volume.
    private mutating func weighDeposit(
        _ change: Double, from baseline: Double, cycle: Cycle, at time: WireTimestamp, quality: ReadingQuality
    ) -> [DetectorAction] {
        guard change >= minDepositKg else {
            // Too small to report (documented); refresh the fill so the next deposit starts from it.
            return configuration.hasRanger ? [.sample(.ranger(pings: configuration.sampling.rangerPings))] : []
        }
        let pending = Pending(
            massKg: change, baselineBeforeKg: baseline, settledAt: time, fillBefore: cycle.fillBefore,
            deadline: time.adding(seconds: thresholds.rangerWaitS), quality: quality, cycle: cycle)
        guard configuration.hasRanger else { return finishDeposit(pending, fillAfter: nil, at: time) }
        phase = .awaitingFill(pending)
        rangerRequestedAt = time
        return [.sample(.ranger(pings: configuration.sampling.rangerPings))]
    }

    /// A settled change with the lid closed: nothing can get in, so it moves the baseline (pressed-down
    /// waste, someone leaning on the bin), unless steps up keep coming without the switch ever moving.
    private mutating func weightChangedWithLidClosed(
        _ change: Double, from baseline: Double, cycle: Cycle, at time: WireTimestamp, quality: ReadingQuality
    ) -> [DetectorAction] {
        guard change >= minDepositKg else { return [] }
        closedLidGains.append(ClosedLidGain(massKg: change, baselineBeforeKg: baseline, at: time))
        guard closedLidGains.count >= Self.lidStuckAfterGains else {
            // Refresh the fill, so that if this turns out to be waste the next step's volume is its own.
            return configuration.hasRanger ? [.sample(.ranger(pings: configuration.sampling.rangerPings))] : []
        }
        lidSwitchDoubted = true
        let earlier = closedLidGains.dropLast()
        let totalKg = closedLidGains.reduce(0) { $0 + $1.massKg }
        var actions: [DetectorAction] = [
            .observation(
                FaultObservation(
                    .lidStuck, present: true,
                    detail:
                        "weight rose \(closedLidGains.count) times (\(Self.round(totalKg)) kg) without the lid switch moving"
                ))
        ]
        closedLidGains = []
        // The earlier steps were waste after all: reported now, at the time each settled, by mass alone
        // (their fill before and after is not known apart).
        for gain in earlier {
            let pending = Pending(
                massKg: gain.massKg, baselineBeforeKg: gain.baselineBeforeKg, settledAt: gain.at, fillBefore: nil,
                deadline: gain.at, quality: .degraded, cycle: cycle)
            actions += makeDeposit(pending, volumeL: nil, at: gain.at)
        }
        // This one is measured like any deposit, with the ranger reading after it.
        var trusted = cycle
        trusted.lidWasOpened = true
        return actions + weighDeposit(change, from: baseline, cycle: trusted, at: time, quality: quality)
    }

    /// The earliest closed-lid step whose starting weight `stable` is back at: that step and all after it
    /// were a load that has gone again.
    private func closedLidGainUndone(byReturningTo stable: Double) -> Int? {
        let tolerance = max(stableToleranceKg, minDepositKg)
        return closedLidGains.firstIndex { abs(stable - $0.baselineBeforeKg) <= tolerance }
    }

    /// Closes off a deposit while the lid is still open past its timeout: mass known, volume not.
    private mutating func flushWithoutVolume(_ stable: Double, at time: WireTimestamp, cycle: Cycle) -> [DetectorAction]
    {
        guard let baseline = baselineKg else { return [] }
        baselineKg = stable
        var rest = cycle
        rest.fillBefore = nil
        phase = .active(rest)
        let pending = Pending(
            massKg: stable - baseline, baselineBeforeKg: baseline, settledAt: time, fillBefore: nil, deadline: time,
            quality: .degraded, cycle: rest)
        return makeDeposit(pending, volumeL: nil, at: time)
    }

    private mutating func finishDeposit(_ pending: Pending, fillAfter: FillSnapshot?, at time: WireTimestamp)
        -> [DetectorAction]
    {
        var volume: Double?
        var actions: [DetectorAction] = []
        if let before = pending.fillBefore, let after = fillAfter {
            volume = after.level.volumeL - before.level.volumeL
        }
        if let after = fillAfter { actions += judgeConsistency(after) }
        return actions
            + makeDeposit(pending, volumeL: volume, fillAfter: volume == nil ? nil : fillAfter, at: pending.settledAt)
    }

    private mutating func makeDeposit(
        _ pending: Pending, volumeL: Double?, fillAfter: FillSnapshot? = nil, at time: WireTimestamp
    ) -> [DetectorAction] {
        let level = lastTrustedFill?.level ?? FillLevel(surfaceHeightMm: 0, volumeL: 0, fraction: 0)
        let configuredSigmaVolume = volumeSigma(at: level)
        // The surface this deposit's change was measured from, if the last deposit said something about it:
        // its expected offset is taken back out, and its variance left is what it still adds.
        let surfaceSigma =
            thresholds.surfaceRoughnessMm * configuration.geometry.litresPerMm(atHeightMm: level.surfaceHeightMm)
        let before = surfaceOffset.flatMap { offset in
            pending.fillBefore.map { $0.at >= offset.reading.at } == true ? offset : nil
        }
        let judgedVolume = volumeL.map { $0 + (before?.meanL ?? 0) }
        let knownShare = 1 - (before?.varianceShare ?? 1)
        let knownVariance = knownShare * surfaceSigma * surfaceSigma
        let sigmaVolume = max(configuredSigmaVolume * configuredSigmaVolume - knownVariance, 1e-12).squareRoot()
        let factor = volumeNoise.factor
        let classifier = configuration.classifier
        var result = classifier.classify(
            massKg: pending.massKg, volumeL: judgedVolume, sigmaMassKg: massSigma, sigmaVolumeL: sigmaVolume * factor,
            declared: configuration.stream)
        if let volumeL {
            // The reader's Δm / ΔV is of the change the ranger measured, as the event publishes it.
            result.densityKgL = DensityClassifier.apparentDensity(
                massKg: pending.massKg, volumeL: volumeL, sigmaVolumeL: sigmaVolume * factor)
        }
        surfaceOffset = nil
        if let judgedVolume, pending.quality == .good {
            // Learned from after it is judged, so no deposit vouches for its own noise.
            volumeNoise.observe(
                massKg: pending.massKg, volumeL: judgedVolume, sigmaMassKg: massSigma, sigmaVolumeL: sigmaVolume,
                declared: configuration.stream, classifier: classifier)
            if let fillAfter, surfaceSigma > 0,
                let after = classifier.surfaceOffsetAfter(
                    massKg: pending.massKg, volumeL: judgedVolume, sigmaMassKg: massSigma,
                    sigmaVolumeL: sigmaVolume * factor,
                    surfaceSigmaL: surfaceSigma * factor, declared: configuration.stream)
            {
                surfaceOffset = SurfaceOffset(
                    meanL: after.meanL,
                    varianceShare: after.varianceL2 / (surfaceSigma * factor * surfaceSigma * factor),
                    reading: fillAfter)
            }
        }
        // Closed on the mean of a weight that never settled: the mass is not a measurement to judge by.
        if volumeL != nil, pending.quality != .good { result = result.withdrawn(.unsettled) }
        var quality = pending.quality
        if volumeL == nil, configuration.hasRanger { quality = quality.worse(.degraded) }
        let deposit = Deposit(
            bin: configuration.binID, stream: configuration.stream, massKg: Self.round(pending.massKg, places: 3),
            volumeL: volumeL.map { Self.round(max($0, 0), places: 2) },
            densityKgL: result.densityKgL.map { Self.round($0, places: 3) },
            observed: result.observed, confidence: Self.round(result.confidence, places: 3),
            contaminated: classifier.isContaminated(result, declared: configuration.stream), quality: quality,
            evidence: result.evidence)
        return [.deposit(deposit, at: time)]
    }

    private mutating func collect(
        from baseline: Double, to stable: Double, at time: WireTimestamp, fillBefore: FillSnapshot?
    )
        -> [DetectorAction]
    {
        var actions: [DetectorAction] = [
            .collection(
                Collection(
                    bin: configuration.binID, stream: configuration.stream,
                    massKg: Self.round(baseline - stable, places: 3),
                    fillBefore: fillBefore.map { Self.round($0.level.fraction, places: 3) }),
                at: time)
        ]
        var newBaseline = stable
        if abs(stable) <= thresholds.autoZeroLimitKg, stable != 0 {
            actions.append(.autoZero(correctionKg: stable, at: time))
            window = window.map { WeightReading(at: $0.at, massKg: $0.massKg - stable) }
            newBaseline = 0
        }
        baselineKg = newBaseline
        lastTrustedFill = nil
        surfaceOffset = nil
        consistency.reset()
        afterCollection = (newBaseline, nil)
        if configuration.hasRanger {
            rangerRequestedAt = time
            actions.append(.sample(.ranger(pings: configuration.sampling.rangerPings)))
        }
        return actions
    }

    static func round(_ value: Double, places: Int = 2) -> Double {
        var scale = 1.0
        for _ in 0..<places { scale *= 10 }
        return (value * scale).rounded() / scale + 0  // + 0 turns -0 into 0
    }
}
