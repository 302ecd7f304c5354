import GPIO
import Synchronization

/// The HX711 load-cell ADC at the level of its two wires, after its datasheet (Avia Semiconductor):
///
/// - DOUT is high while no conversion is ready and goes low when one is (10 or 80 per second, the
///   RATE pin), holding the result until it is read.
/// - Each rising edge of PD_SCK shifts out the next bit of the 24-bit two's complement result, MSB
///   first. The 25th rising edge pulls DOUT high again; 25, 26 or 27 pulses in all select gain 128
///   (channel A), 32 (channel B) or 64 (channel A) for the *next* conversion, so the read that
///   changes the gain still returns data converted at the old one.
/// - PD_SCK held high for more than 60 µs powers the chip down (DOUT high, conversions stop); the
///   falling edge wakes it reset to gain 128. After wake-up the first result is ready once the
///   settling time has passed (400 ms at 10 SPS, 50 ms at 80 SPS); after a gain change the
///   conversions keep their cadence but none is output before the settling time has passed.
/// - A result still being shifted out when the next conversion finishes is not overwritten; that
///   conversion is lost, as on the part.
///
/// The value is `(offsetCounts + countsPerKilogram × mass) × gain / 128` plus gaussian noise from a
/// seeded generator, clipped to 0x7FFFFF / 0x800000. Both channels see the same bridge (channel B
/// simply at gain 32). Physical inputs (`massKilograms`) may be set from any thread at any time;
/// they are read when a conversion completes.
public final class HX711Model: SimulatedLineDevice {
    public enum DataRate: Sendable, Hashable {
        case tenPerSecond
        case eightyPerSecond

        /// 10 or 80 (the RATE pin low or high); nil for anything else.
        public init?(samplesPerSecond: Int) {
            switch samplesPerSecond {
            case 10: self = .tenPerSecond
            case 80: self = .eightyPerSecond
            default: return nil
            }
        }

        public var conversionPeriodNanoseconds: UInt64 {
            switch self {
            case .tenPerSecond: 100_000_000
            case .eightyPerSecond: 12_500_000
            }
        }

        /// Datasheet "output settling time" after power-up, reset, channel or gain change.
        public var settlingNanoseconds: UInt64 {
            switch self {
            case .tenPerSecond: 400_000_000
            case .eightyPerSecond: 50_000_000
            }
        }
    }

    public enum Gain: Int, Sendable, Hashable, CaseIterable {
        case channelA128 = 128
        case channelB32 = 32
        case channelA64 = 64

        /// PD_SCK pulses of a read that select this gain for the next conversion.
        public var pulsesPerRead: Int {
            switch self {
            case .channelA128: 25
            case .channelB32: 26
            case .channelA64: 27
            }
        }
    }

    /// Injectable faults.
    public enum Fault: Sendable, Hashable {
        /// DOUT stuck high (unplugged data wire or dead part): never ready, clocks ignored.
        case disconnected
        /// Every conversion returns the same code.
        case stuck(code: Int32)
        /// Every conversion clips at the positive limit (overload, broken bridge wire).
        case saturated
        /// Extra gaussian noise on top of the configured noise.
        case extraNoise(standardDeviationCounts: Double)
    }

    public struct Configuration: Sendable, Hashable {
        public var dataRate: DataRate
        /// Code with nothing on the scale, at gain 128.
        public var offsetCounts: Double
        /// Counts per kilogram at gain 128.
        public var countsPerKilogram: Double
        /// Standard deviation of the gaussian noise added to each conversion, in counts.
        public var noiseCounts: Double
        public var seed: UInt64

        public init(
            dataRate: DataRate = .tenPerSecond, offsetCounts: Double = 0, countsPerKilogram: Double = 20_000,
            noiseCounts: Double = 0, seed: UInt64 = 1
        ) {
            self.dataRate = dataRate
            self.offsetCounts = offsetCounts
            self.countsPerKilogram = countsPerKilogram
            self.noiseCounts = noiseCounts
            self.seed = seed
        }
    }

    /// PD_SCK high for longer than this powers the part down.
    public static let powerDownThresholdNanoseconds: UInt64 = 60_000
    public static let maximumCode: Int32 = 0x7F_FFFF
    public static let minimumCode: Int32 = -0x80_0000

    public let clockLine: LineOffset
    public let dataLine: LineOffset
    public let configuration: Configuration
    private weak let chip: SimulatedChip?
    private let state: Mutex<State>

    private struct State: Sendable {
        var massKilograms = 0.0
        var fault: Fault?
        var random: SeededRandomGenerator
        var poweredDown = false
        var clockHigh = false
        var riseGeneration: UInt64 = 0
        var conversionGeneration: UInt64 = 0
        /// Gain the ADC converts at now.
        var gain: Gain = .channelA128
        /// Gain selected by the pulse count of the read in progress, and when: it applies from the
        /// next conversion, whose output is held back until the settling time has passed.
        var selectedGain: Gain?
        var selectedAt: UInt64 = 0
        var settledAt: UInt64 = 0
        var latchedCode: Int32 = 0
        var dataReady = false
        /// Rising PD_SCK edges since the current result was latched.
        var pulses = 0
        var completedReads = 0
    }

    /// Wires a model to `clockLine` (PD_SCK, driven by the host) and `dataLine` (DOUT, driven by the
    /// model). It starts powered up and settling, as after power is applied.
    public init(
        chip: SimulatedChip, clockLine: LineOffset, dataLine: LineOffset, configuration: Configuration = .init()
    ) throws(GPIOError) {
        self.chip = chip
        self.clockLine = clockLine
        self.dataLine = dataLine
        self.configuration = configuration
        state = Mutex(State(random: SeededRandomGenerator(seed: configuration.seed)))
        guard Int(dataLine) < chip.info.lineCount else {
            throw GPIOError(.noSuchLine, chip: chip.info.name, line: dataLine, detail: "HX711 DOUT")
        }
        try chip.attach(self, listeningTo: [clockLine])
        chip.perform { bus in
            let clockHigh = bus.level(of: clockLine)
            state.withLock { state in
                bus.drive(dataLine, high: true)
                restartConversions(&state, after: configuration.dataRate.settlingNanoseconds, bus: &bus)
            }
            if clockHigh { hostDidDrive(clockLine, high: true, bus: &bus) }
        }
    }

    // MARK: Physical inputs and faults

    /// True mass on the load cell, kg. Read at each conversion.
    public var massKilograms: Double {
        get { state.withLock { $0.massKilograms } }
        set { state.withLock { $0.massKilograms = newValue } }
    }

    public var fault: Fault? { state.withLock { $0.fault } }

    /// Sets or clears a fault now (from any thread except inside a scheduled action: use
    /// `setFault(_:on:)` there).
    public func setFault(_ fault: Fault?) {
        chip?.perform { bus in setFault(fault, on: &bus) }
    }

    public func setFault(_ fault: Fault?, on bus: inout SimulationBus) {
        let dataLine = self.dataLine
        state.withLock { state in
            state.fault = fault
            if case .disconnected = fault {
                state.dataReady = false
                state.pulses = 0
                bus.drive(dataLine, high: true)
            }
        }
    }

    // MARK: Inspection

    /// Gain of the next conversion: selected by the last read's pulse count, 128 after power-up.
    public var gain: Gain { state.withLock { $0.selectedGain ?? $0.gain } }
    public var isPoweredDown: Bool { state.withLock { $0.poweredDown } }
    public var isDataReady: Bool { state.withLock { $0.dataReady } }
    /// Reads that shifted out all 24 bits.
    public var completedReads: Int { state.withLock { $0.completedReads } }

    /// The code a conversion gives for `massKilograms` at `gain` without noise, clipped like the part.
    public func idealCode(massKilograms: Double, gain: Gain) -> Int32 {
        Self.clip(idealValue(massKilograms: massKilograms, gain: gain).rounded())
    }

    // MARK: Wires

    public func hostDidDrive(_ offset: LineOffset, high: Bool, bus: inout SimulationBus) {
        guard offset == clockLine else { return }
        state.withLock { state in
            if high { clockRose(&state, bus: &bus) } else { clockFell(&state, bus: &bus) }
        }
    }

    private func clockRose(_ state: inout State, bus: inout SimulationBus) {
        state.clockHigh = true
        state.riseGeneration += 1
        guard !state.poweredDown else { return }
        let generation = state.riseGeneration
        bus.schedule(afterNanoseconds: Self.powerDownThresholdNanoseconds + 1) { bus in
            self.powerDownCheck(riseGeneration: generation, bus: &bus)
        }
        if case .disconnected = state.fault { return }
        guard state.dataReady || state.pulses > 0 else { return }  // nothing to shift out
        state.dataReady = false
        state.pulses += 1
        if state.pulses <= 24 {
            let raw = UInt32(bitPattern: state.latchedCode) & 0xFF_FFFF
            bus.drive(dataLine, high: (raw >> UInt32(24 - state.pulses)) & 1 == 1)
            if state.pulses == 24 { state.completedReads += 1 }
        } else {
            bus.drive(dataLine, high: true)
            let selected: Gain =
                switch state.pulses {
                case 25: .channelA128
                case 26: .channelB32
                default: .channelA64
                }
            state.selectedGain = selected
            state.selectedAt = bus.nowNanoseconds
        }
    }

    private func clockFell(_ state: inout State, bus: inout SimulationBus) {
        state.clockHigh = false
        guard state.poweredDown else { return }
        state.poweredDown = false
        state.gain = .channelA128
        state.selectedGain = nil
        state.pulses = 0
        state.dataReady = false
        bus.drive(dataLine, high: true)
        restartConversions(&state, after: configuration.dataRate.settlingNanoseconds, bus: &bus)
    }

    private func powerDownCheck(riseGeneration: UInt64, bus: inout SimulationBus) {
        let dataLine = self.dataLine
        state.withLock { state in
            guard state.riseGeneration == riseGeneration, state.clockHigh, !state.poweredDown else { return }
            state.poweredDown = true
            state.dataReady = false
            state.pulses = 0
            state.conversionGeneration += 1
            bus.drive(dataLine, high: true)
        }
    }

    /// Drops the conversion schedule and starts a new one whose first result is due after `delay`.
    private func restartConversions(_ state: inout State, after delay: UInt64, bus: inout SimulationBus) {
        state.settledAt = bus.nowNanoseconds.addingReportingOverflow(delay).partialValue
        state.conversionGeneration += 1
        let generation = state.conversionGeneration
        bus.schedule(afterNanoseconds: delay) { bus in self.conversionDue(generation: generation, bus: &bus) }
    }

    private func conversionDue(generation: UInt64, bus: inout SimulationBus) {
        state.withLock { state in
            guard state.conversionGeneration == generation, !state.poweredDown else { return }
            bus.schedule(afterNanoseconds: configuration.dataRate.conversionPeriodNanoseconds) { bus in
                self.conversionDue(generation: generation, bus: &bus)
            }
            if state.clockHigh || (state.pulses > 0 && state.pulses < 24) { return }  // being read: lost
            if let selected = state.selectedGain {
                state.selectedGain = nil
                if selected != state.gain {
                    state.gain = selected
                    state.settledAt = state.selectedAt + configuration.dataRate.settlingNanoseconds
                }
            }
            if bus.nowNanoseconds < state.settledAt { return }  // still settling: output not valid
            if case .disconnected = state.fault { return }
            state.latchedCode = conversionCode(&state)
            state.dataReady = true
            state.pulses = 0
            bus.drive(dataLine, high: false)
        }
    }

    private func conversionCode(_ state: inout State) -> Int32 {
        var deviation = configuration.noiseCounts
        switch state.fault {
        case .stuck(let code): return Self.clip(Double(code))
        case .saturated: return Self.maximumCode
        case .extraNoise(let extra): deviation = (deviation * deviation + extra * extra).squareRoot()
        case .disconnected, nil: break
        }
        let value = idealValue(massKilograms: state.massKilograms, gain: state.gain)
        return Self.clip((value + state.random.nextGaussian(standardDeviation: deviation)).rounded())
    }

    private func idealValue(massKilograms: Double, gain: Gain) -> Double {
        (configuration.offsetCounts + configuration.countsPerKilogram * massKilograms) * Double(gain.rawValue) / 128
    }

    private static func clip(_ value: Double) -> Int32 {
        guard value.isFinite else { return value < 0 ? minimumCode : maximumCode }
        return Int32(min(max(value, Double(minimumCode)), Double(maximumCode)))
    }
}
