import BinProtocol

/// Fault codes binsd raises (DESIGN sections 5 and 6), with the sensor they belong to and what an active
/// fault does to the quality of readings.
public enum FaultCode: String, Sendable, Hashable, CaseIterable {
    /// The HX711 did not signal data ready within its bounded wait.
    case scaleNotReady = "scale.not_ready"
    /// The HX711 returned a saturated code (0x7FFFFF or 0x800000): overload or a broken wire.
    case scaleSaturated = "scale.saturated"
    /// The same raw code again and again while the world changes (lid cycles): a frozen converter.
    case scaleStuck = "scale.stuck"
    /// Back-to-back readings spread far more than the calibration measured: a loose wire, a damaged load
    /// cell, interference. Stable windows settle late or not at all, on means that are off.
    case scaleNoisy = "scale.noisy"
    /// No echo within the range timeout.
    case rangerNoEcho = "ranger.no_echo"
    /// The ranger repeats one distance exactly while the scale sees waste go in or out.
    case rangerStuck = "ranger.stuck"
    /// Echo inside the blind zone for long: the bin is over-full or something covers the sensor.
    case rangerBlind = "ranger.blind"
    /// Since the same reference, the fill rose while the mass did not: something blocks the beam, or the
    /// scale is wrong.
    case fillWithoutMass = "consistency.fill_without_mass"
    /// Since the same reference, the mass rose while the fill did not: the ranger misses the surface, or the
    /// scale is wrong.
    case massWithoutFill = "consistency.mass_without_fill"
    /// The lid stayed open past the timeout; fill readings are not trusted meanwhile.
    case lidOpenTooLong = "lid.open_too_long"
    /// Waste kept arriving (weight steps up, the lid switch never moved): the switch is stuck closed or its
    /// wire is cut. Deposits are then found from the weight alone, as on a bin without a switch.
    case lidStuck = "lid.stuck"
    /// The outbox had to drop events (detail names the seq range).
    case outboxDropped = "outbox.dropped"

    public var sensor: FaultSensor {
        switch self {
        case .scaleNotReady, .scaleSaturated, .scaleStuck, .scaleNoisy: .scale
        case .rangerNoEcho, .rangerStuck, .rangerBlind: .ranger
        case .fillWithoutMass, .massWithoutFill: .system
        case .lidOpenTooLong, .lidStuck: .lid
        case .outboxDropped: .outbox
        }
    }

    /// The quality readings get while the fault is active; nil for faults that say nothing about the
    /// readings (an over-full bin, a dropped outbox event).
    public var readingImpact: ReadingQuality? {
        switch self {
        case .scaleNotReady, .scaleNoisy, .rangerNoEcho, .rangerStuck, .lidOpenTooLong, .lidStuck: .degraded
        case .scaleSaturated, .scaleStuck, .fillWithoutMass, .massWithoutFill: .suspect
        case .rangerBlind, .outboxDropped: nil
        }
    }

    /// Hysteresis: how many observations over how long raise and clear the fault.
    public var defaultPolicy: FaultPolicy {
        switch self {
        case .scaleNotReady: FaultPolicy(raiseObservations: 3, raiseAfterS: 5, clearObservations: 3, clearAfterS: 10)
        case .scaleSaturated: FaultPolicy(raiseObservations: 2, raiseAfterS: 0, clearObservations: 5, clearAfterS: 30)
        case .scaleStuck: FaultPolicy(raiseObservations: 1, raiseAfterS: 0, clearObservations: 3, clearAfterS: 0)
        case .scaleNoisy: FaultPolicy(raiseObservations: 3, raiseAfterS: 60, clearObservations: 3, clearAfterS: 60)
        case .rangerNoEcho: FaultPolicy(raiseObservations: 3, raiseAfterS: 60, clearObservations: 2, clearAfterS: 0)
        case .rangerStuck: FaultPolicy(raiseObservations: 1, raiseAfterS: 0, clearObservations: 2, clearAfterS: 0)
        case .rangerBlind: FaultPolicy(raiseObservations: 3, raiseAfterS: 600, clearObservations: 2, clearAfterS: 0)
        case .fillWithoutMass, .massWithoutFill:
            FaultPolicy(raiseObservations: 2, raiseAfterS: 60, clearObservations: 2, clearAfterS: 60)
        case .lidOpenTooLong, .lidStuck:
            FaultPolicy(raiseObservations: 1, raiseAfterS: 0, clearObservations: 1, clearAfterS: 0)
        case .outboxDropped: FaultPolicy(raiseObservations: 1, raiseAfterS: 0, clearObservations: 1, clearAfterS: 600)
        }
    }
}

/// A fault is raised once it has been observed present at least `raiseObservations` times in a row
/// spanning at least `raiseAfterS` seconds, and cleared once observed absent `clearObservations` times
/// in a row spanning at least `clearAfterS`. A single glitch neither raises nor clears.
public struct FaultPolicy: Sendable, Equatable, Hashable {
    public var raiseObservations: Int
    public var raiseAfterS: Double
    public var clearObservations: Int
    public var clearAfterS: Double

    public init(raiseObservations: Int, raiseAfterS: Double, clearObservations: Int, clearAfterS: Double) {
        self.raiseObservations = raiseObservations
        self.raiseAfterS = raiseAfterS
        self.clearObservations = clearObservations
        self.clearAfterS = clearAfterS
    }
}

/// One look at a condition: present (the fault's cause was seen) or absent (seen fine).
public struct FaultObservation: Sendable, Equatable, Hashable {
    public var code: FaultCode
    public var present: Bool
    /// Human detail carried into the fault event (e.g. `3 pings without echo`, `seq 1200-1350`).
    public var detail: String

    public init(_ code: FaultCode, present: Bool, detail: String = "") {
        self.code = code
        self.present = present
        self.detail = detail
    }
}

/// A fault event body and when it happened.
public struct TimedFault: Sendable, Equatable {
    public var fault: Fault
    public var at: WireTimestamp

    public init(fault: Fault, at: WireTimestamp) {
        self.fault = fault
        self.at = at
    }
}

/// Raises and clears faults for one bin (or the device, with `bin == nil`) with hysteresis, and derives
/// the quality of readings from what is active. A value type: feed it observations, publish what it returns.
public struct FaultTracker: Sendable, Equatable {
    public let bin: String?
    public var policies: [FaultCode: FaultPolicy]
    private var states: [FaultCode: CodeState] = [:]

    private struct CodeState: Sendable, Equatable {
        var active = false
        /// Run of observations against the current state (present while inactive, absent while active).
        var runCount = 0
        var runStart: WireTimestamp?
        var detail = ""
    }

    public init(bin: String?, policies: [FaultCode: FaultPolicy] = [:]) {
        self.bin = bin
        self.policies = policies
    }

    public func policy(for code: FaultCode) -> FaultPolicy { policies[code] ?? code.defaultPolicy }

    /// Records one observation; returns the fault event when the fault is raised or cleared by it.
    public mutating func observe(_ observation: FaultObservation, at time: WireTimestamp) -> TimedFault? {
        let code = observation.code
        var state = states[code] ?? CodeState()
        defer { states[code] = state }
        let policy = policy(for: code)
        if observation.present { state.detail = observation.detail }
        guard observation.present != state.active else {
            state.runCount = 0
            state.runStart = nil
            return nil
        }
        if state.runStart == nil { state.runStart = time }
        state.runCount += 1
        let elapsed = Double(time.millisecondsSinceEpoch - state.runStart!.millisecondsSinceEpoch) / 1000
        let (count, duration) =
            observation.present
            ? (policy.raiseObservations, policy.raiseAfterS) : (policy.clearObservations, policy.clearAfterS)
        guard state.runCount >= count, elapsed >= duration else { return nil }
        state.active = observation.present
        state.runCount = 0
        state.runStart = nil
        let detail =
            observation.present ? observation.detail : (observation.detail.isEmpty ? "cleared" : observation.detail)
        return TimedFault(
            fault: Fault(
                bin: bin, sensor: code.sensor, code: code.rawValue, active: observation.present, detail: detail),
            at: time)
    }

    /// Several observations at once, in order.
    public mutating func observe(_ observations: [FaultObservation], at time: WireTimestamp) -> [TimedFault] {
        observations.compactMap { observe($0, at: time) }
    }

    public func isActive(_ code: FaultCode) -> Bool { states[code]?.active ?? false }

    /// Observed present but not (yet) raised: a run towards raising it is under way.
    public func isPending(_ code: FaultCode) -> Bool {
        guard let state = states[code] else { return false }
        return !state.active && state.runCount > 0
    }

    /// Active faults in `FaultCode` order.
    public var activeCodes: [FaultCode] { FaultCode.allCases.filter(isActive) }

    /// The quality of a reading taken now: the worst impact of the active faults.
    public var quality: ReadingQuality { quality(of: activeCodes) }

    /// The quality of a reading of one sensor: only that sensor's faults and the consistency faults count.
    public func quality(for sensor: FaultSensor) -> ReadingQuality {
        quality(of: activeCodes.filter { $0.sensor == sensor || $0.sensor == .system })
    }

    private func quality(of codes: [FaultCode]) -> ReadingQuality {
        codes.compactMap(\.readingImpact).reduce(ReadingQuality.good) { $0.worse($1) }
    }
}

extension ReadingQuality {
    private var rank: Int {
        switch self {
        case .good: 0
        case .degraded: 1
        case .suspect: 2
        }
    }

    /// The worse of two qualities (good < degraded < suspect).
    public func worse(_ other: ReadingQuality) -> ReadingQuality { other.rank > rank ? other : self }
}
