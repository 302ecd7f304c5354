import GPIO
import Synchronization

/// Driver for the HX711 load-cell ADC, bit-banged on two GPIO lines (PD_SCK out, DOUT in).
///
/// Why it is careful with time: PD_SCK held high for more than 60 µs powers the part down in the
/// middle of a read, and a user-space process can be preempted between two line operations for far
/// longer than that. So every high phase is timed on the chip's clock; a read whose high phase ran
/// past `maximumHighPhaseNanoseconds` (well under 60 µs) is discarded, the part is reset to a known
/// state (PD_SCK high for 100 µs, then low: powered up at gain 128) and the read retried. The other
/// rules of the datasheet it keeps: waiting for DOUT low is bounded; DOUT must be high again after
/// the last pulse; 0x7FFFFF and 0x800000 are faults, not weights; the first read after power-up, and
/// the read that switches gain (which still carries data converted at the old gain), are discarded.
///
/// All line operations of one read happen on the calling thread while the driver's lock is held;
/// `statistics` may be read from any thread at any time.
public final class HX711: Sendable {
    public enum Gain: Int, Sendable, Hashable, CaseIterable, Codable {
        case channelA128 = 128
        case channelB32 = 32
        case channelA64 = 64

        /// PD_SCK pulses after the 24 data bits that select this gain for the next conversion.
        public var extraPulses: Int {
            switch self {
            case .channelA128: 1
            case .channelB32: 2
            case .channelA64: 3
            }
        }
    }

    /// The RATE pin's setting: it fixes how often a conversion is ready and how long settling takes.
    public enum DataRate: Int, Sendable, Hashable, CaseIterable, Codable {
        case tenPerSecond = 10
        case eightyPerSecond = 80

        public var conversionPeriodNanoseconds: UInt64 { 1_000_000_000 / UInt64(rawValue) }

        /// Output settling time from the datasheet: 400 ms at 10 SPS, 50 ms at 80 SPS.
        public var settlingNanoseconds: UInt64 { self == .tenPerSecond ? 400_000_000 : 50_000_000 }
    }

    public struct Configuration: Sendable, Hashable {
        /// Names the sensor in errors and logs, e.g. `hx711 wet`.
        public var name: String
        public var gain: Gain
        public var dataRate: DataRate
        /// A read with a PD_SCK high phase longer than this is discarded (power-down starts at 60 µs).
        public var maximumHighPhaseNanoseconds: UInt64
        /// Time held in each clock phase (datasheet T3/T4: at least 0.2 µs; 1 µs typical).
        public var clockPhaseNanoseconds: UInt64
        /// How long to wait for DOUT low; nil: settling time plus three conversion periods.
        public var readyTimeoutNanoseconds: UInt64?
        /// How often DOUT is looked at while waiting; nil: a twentieth of the conversion period.
        public var readyPollNanoseconds: UInt64?
        /// Reads attempted (timing violations, DOUT stuck low) before giving up.
        public var maximumAttempts: Int
        /// Power the part down at the end of `read(samples:)`.
        public var powerDownAfterBurst: Bool

        public init(
            name: String = "hx711", gain: Gain = .channelA128, dataRate: DataRate = .tenPerSecond,
            maximumHighPhaseNanoseconds: UInt64 = 30_000, clockPhaseNanoseconds: UInt64 = 1_000,
            readyTimeoutNanoseconds: UInt64? = nil, readyPollNanoseconds: UInt64? = nil, maximumAttempts: Int = 4,
            powerDownAfterBurst: Bool = false
        ) {
            self.name = name
            self.gain = gain
            self.dataRate = dataRate
            self.maximumHighPhaseNanoseconds = maximumHighPhaseNanoseconds
            self.clockPhaseNanoseconds = clockPhaseNanoseconds
            self.readyTimeoutNanoseconds = readyTimeoutNanoseconds
            self.readyPollNanoseconds = readyPollNanoseconds
            self.maximumAttempts = maximumAttempts
            self.powerDownAfterBurst = powerDownAfterBurst
        }

        var readyTimeout: UInt64 {
            readyTimeoutNanoseconds ?? dataRate.settlingNanoseconds + 3 * dataRate.conversionPeriodNanoseconds
        }

        var readyPoll: UInt64 { max(1, readyPollNanoseconds ?? dataRate.conversionPeriodNanoseconds / 20) }
    }

    /// Counters for health reporting; they only grow.
    public struct Statistics: Sendable, Hashable {
        /// Conversions returned to callers.
        public var reads = 0
        /// Reads attempted again after a timing violation or a stuck DOUT.
        public var retries = 0
        /// Reads discarded because a PD_SCK high phase ran past the limit.
        public var timingViolations = 0
        /// Waits for DOUT low that timed out.
        public var notReady = 0
        /// Saturated codes (0x7FFFFF, 0x800000) seen.
        public var saturated = 0
        /// Reads after which DOUT stayed low.
        public var dataLineStuck = 0
        /// Reads discarded on purpose: first after power-up, or converted at the previous gain.
        public var discarded = 0

        public init() {}
    }

    /// The result of `read(samples:)`.
    public struct Burst: Sendable, Hashable {
        /// Each conversion, in the order read.
        public var codes: [Int32]
        public var median: Double
        /// Largest minus smallest code.
        public var spread: Int32
        /// Chip-clock time of the first and last conversion's read.
        public var startedAtNanoseconds: UInt64
        public var endedAtNanoseconds: UInt64
    }

    /// Largest and smallest codes; the part clips to them on overload.
    public static let maximumCode: Int32 = 0x7F_FFFF
    public static let minimumCode: Int32 = -0x80_0000

    public let name: String
    public let chipName: String
    public let clockLineOffset: LineOffset
    public let dataLineOffset: LineOffset

    private let identity: SensorIdentity
    private let clockLine: any GPIOOutputLine
    private let dataLine: any GPIOInputLine
    private let chipClock: any ChipClock
    private let state: Mutex<DriverState>
    private let counters = Mutex(Statistics())

    private struct DriverState: Sendable {
        var configuration: Configuration
        /// Gain the part converts at now, as far as the driver knows.
        var chipGain: Gain = .channelA128
        var discardNext = true
        var poweredDown = false
    }

    /// Takes the two lines and resets the part (PD_SCK high for 100 µs, then low) so it starts from a
    /// known state: powered up, gain 128, settling.
    public init(
        chip: any GPIOChip, clockLine: LineOffset, dataLine: LineOffset, consumer: String = "binsd",
        configuration: Configuration = .init()
    ) throws(SensorError) {
        let identity = SensorIdentity(name: configuration.name, chip: chip.info.name, lines: [clockLine, dataLine])
        guard configuration.maximumHighPhaseNanoseconds < 60_000, configuration.maximumAttempts >= 1,
            configuration.clockPhaseNanoseconds >= 200
        else {
            throw identity.error(
                .invalidConfiguration,
                "the high-phase limit must be under 60 µs, the clock phase at least 0.2 µs, and at least one attempt allowed"
            )
        }
        let output = try identity.gpio { () throws(GPIOError) in
            try chip.requestOutput(clockLine, consumer: consumer, initialValue: true)
        }
        let input = try identity.gpio { () throws(GPIOError) in
            try chip.requestInput(dataLine, consumer: consumer, bias: .asIs)
        }
        chip.clock.sleep(nanoseconds: Self.powerDownHoldNanoseconds)
        try identity.gpio { () throws(GPIOError) in try output.set(false) }
        self.identity = identity
        name = configuration.name
        chipName = chip.info.name
        clockLineOffset = clockLine
        dataLineOffset = dataLine
        chipClock = chip.clock
        self.clockLine = output
        self.dataLine = input
        state = Mutex(DriverState(configuration: configuration))
    }

    /// PD_SCK held this long powers the part down for sure (datasheet: more than 60 µs).
    static let powerDownHoldNanoseconds: UInt64 = 100_000

    // MARK: Public API

    public var statistics: Statistics { counters.withLock { $0 } }

    public var configuration: Configuration { state.withLock { $0.configuration } }

    /// Gain (and channel) of the following reads. The next read switches the part over and is
    /// discarded, since it still carries data converted at the old gain; the part then settles.
    public var gain: Gain {
        get { state.withLock { $0.configuration.gain } }
        set { state.withLock { $0.configuration.gain = newValue } }
    }

    public var isPoweredDown: Bool { state.withLock { $0.poweredDown } }

    /// One conversion at the configured gain.
    public func read() throws(SensorError) -> Int32 {
        try state.withLock { state throws(SensorError) -> Int32 in try readConversion(&state) }
    }

    /// `samples` conversions in a row and their median; powers the part down afterwards if
    /// configured to.
    public func read(samples: Int) throws(SensorError) -> Burst {
        guard samples >= 1 else { throw identity.error(.invalidConfiguration, "a burst needs at least one sample") }
        return try state.withLock { state throws(SensorError) -> Burst in
            var codes: [Int32] = []
            codes.reserveCapacity(samples)
            let started = chipClock.nanoseconds()
            for _ in 0..<samples { codes.append(try readConversion(&state)) }
            let ended = chipClock.nanoseconds()
            if state.configuration.powerDownAfterBurst { try powerDown(&state) }
            return Burst(
                codes: codes, median: RobustStatistics.median(codes) ?? 0,
                spread: (codes.max() ?? 0) - (codes.min() ?? 0), startedAtNanoseconds: started,
                endedAtNanoseconds: ended)
        }
    }

    /// Powers the part down (PD_SCK left high; it stops converting after 60 µs) to save power
    /// between bursts. The next read wakes it and waits for it to settle.
    public func powerDown() throws(SensorError) {
        try state.withLock { state throws(SensorError) in try powerDown(&state) }
    }

    // MARK: Reading

    private func readConversion(_ state: inout DriverState) throws(SensorError) -> Int32 {
        let configuration = state.configuration
        var attempts = 0
        while true {
            if state.poweredDown { try wake(&state) }
            try waitUntilReady(configuration)
            let wanted = configuration.gain
            let shifted = try shiftOut(pulses: 24 + wanted.extraPulses, configuration: configuration)
            guard let raw = shifted.raw else {
                counters.withLock { $0.timingViolations += 1 }
                attempts += 1
                try reset(&state)
                if attempts >= configuration.maximumAttempts {
                    throw identity.error(
                        .timingViolation,
                        "PD_SCK stayed high \(Self.microseconds(shifted.longestHighPhase)) µs (limit \(Self.microseconds(configuration.maximumHighPhaseNanoseconds)) µs) on \(attempts) attempts"
                    )
                }
                counters.withLock { $0.retries += 1 }
                continue
            }
            let doutReleased = try identity.gpio { () throws(GPIOError) in try dataLine.get() }
            guard doutReleased else {
                counters.withLock { $0.dataLineStuck += 1 }
                attempts += 1
                try reset(&state)
                if attempts >= configuration.maximumAttempts {
                    throw identity.error(
                        .dataLineStuck, "DOUT stayed low after the \(24 + wanted.extraPulses)th PD_SCK pulse")
                }
                counters.withLock { $0.retries += 1 }
                continue
            }
            let convertedAt = state.chipGain
            state.chipGain = wanted
            if state.discardNext || convertedAt != wanted {
                state.discardNext = false
                counters.withLock { $0.discarded += 1 }
                continue
            }
            let code = Int32(bitPattern: raw << 8) >> 8
            if code == Self.maximumCode || code == Self.minimumCode {
                counters.withLock { $0.saturated += 1 }
                throw identity.error(
                    .saturated,
                    code == Self.maximumCode
                        ? "code 0x7FFFFF (positive full scale)" : "code 0x800000 (negative full scale)")
            }
            counters.withLock { $0.reads += 1 }
            return code
        }
    }

    /// Bounded wait for DOUT low, looking at it every `readyPoll`.
    private func waitUntilReady(_ configuration: Configuration) throws(SensorError) {
        let timeout = configuration.readyTimeout
        let deadline = chipClock.nanoseconds() &+ timeout
        while true {
            let busy = try identity.gpio { () throws(GPIOError) in try dataLine.get() }
            if !busy { return }
            let now = chipClock.nanoseconds()
            if now >= deadline {
                counters.withLock { $0.notReady += 1 }
                throw identity.error(.notReady, "DOUT stayed high for \(timeout / 1_000_000) ms")
            }
            chipClock.sleep(nanoseconds: min(configuration.readyPoll, deadline - now))
        }
    }

    /// Clocks out one read; `raw` is nil if a high phase ran past the limit (the read is then
    /// abandoned at once: the part may already be powering down).
    private func shiftOut(pulses: Int, configuration: Configuration) throws(SensorError)
        -> (raw: UInt32?, longestHighPhase: UInt64)
    {
        var raw: UInt32 = 0
        for index in 0..<pulses {
            let rose = chipClock.nanoseconds()
            try identity.gpio { () throws(GPIOError) in try clockLine.set(true) }
            chipClock.spin(nanoseconds: configuration.clockPhaseNanoseconds)
            let bit = try identity.gpio { () throws(GPIOError) in try dataLine.get() }
            try identity.gpio { () throws(GPIOError) in try clockLine.set(false) }
            let high = chipClock.nanoseconds() &- rose
            if high > configuration.maximumHighPhaseNanoseconds { return (nil, high) }
            chipClock.spin(nanoseconds: configuration.clockPhaseNanoseconds)
            if index < 24 { raw = (raw << 1) | (bit ? 1 : 0) }
        }
        return (raw, 0)
    }

    /// `81` or `0.5`: whole microseconds, or tenths when there is a fraction.
    static func microseconds(_ nanoseconds: UInt64) -> String {
        nanoseconds % 1_000 == 0
            ? "\(nanoseconds / 1_000)" : "\(nanoseconds / 1_000).\(nanoseconds % 1_000 / 100)"
    }

    /// Power-cycles the part into a known state: powered up, gain 128, settling.
    private func reset(_ state: inout DriverState) throws(SensorError) {
        try identity.gpio { () throws(GPIOError) in try clockLine.set(true) }
        chipClock.sleep(nanoseconds: Self.powerDownHoldNanoseconds)
        try identity.gpio { () throws(GPIOError) in try clockLine.set(false) }
        state.poweredDown = false
        state.chipGain = .channelA128
        state.discardNext = true
    }

    private func wake(_ state: inout DriverState) throws(SensorError) {
        try identity.gpio { () throws(GPIOError) in try clockLine.set(false) }
        state.poweredDown = false
        state.chipGain = .channelA128
        state.discardNext = true
    }

    private func powerDown(_ state: inout DriverState) throws(SensorError) {
        try identity.gpio { () throws(GPIOError) in try clockLine.set(true) }
        state.poweredDown = true
    }
}
