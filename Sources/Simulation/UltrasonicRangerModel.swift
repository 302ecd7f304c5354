import GPIO
import Synchronization

/// An ultrasonic ranger (HC-SR04 or the waterproof JSN-SR04T) at the level of its TRIG and ECHO
/// wires:
///
/// - A TRIG high pulse of at least 10 µs starts a measurement when its falling edge arrives (pulses
///   that are too short, or that come while a measurement runs, are ignored).
/// - The module sends its 40 kHz burst, then raises ECHO and lowers it when the echo returns: the
///   width is the round trip to the surface at c = 331.3 + 0.606·T m/s (T in °C), plus gaussian
///   jitter from a seeded generator.
/// - Nothing within range: ECHO stays high for the module's timeout and then falls.
/// - A surface inside the blind zone (the transducer still rings from the burst) gives an erratic
///   short echo, somewhere between 30 % and 95 % of the blind-zone distance, never the truth.
/// - Optionally, as some clones do, a short spurious ECHO pulse right after the trigger.
///
/// Physical inputs (`distanceMillimetres`, `temperatureCelsius`) may be set from any thread; they
/// are read when a measurement starts.
public final class UltrasonicRangerModel: SimulatedLineDevice {
    public struct Configuration: Sendable, Hashable {
        /// Closer than this the module cannot hear the echo over its own ringing.
        public var blindZoneMillimetres: Double
        /// Farther than this no echo is detected.
        public var maximumRangeMillimetres: Double
        /// Shortest TRIG pulse the module accepts.
        public var minimumTriggerNanoseconds: UInt64
        /// From TRIG falling to ECHO rising (the burst being sent). Not in the datasheets; chosen
        /// at the burst's length plus a margin.
        public var echoDelayNanoseconds: UInt64
        /// How long ECHO stays high when nothing comes back.
        public var noEchoPulseNanoseconds: UInt64
        /// Standard deviation of the echo width.
        public var jitterNanoseconds: Double
        /// Emit a short ECHO pulse right after the trigger, as some clones do.
        public var triggerEchoArtefact: Bool
        public var artefactDelayNanoseconds: UInt64
        public var artefactWidthNanoseconds: UInt64
        public var seed: UInt64

        public init(
            blindZoneMillimetres: Double, maximumRangeMillimetres: Double, minimumTriggerNanoseconds: UInt64 = 10_000,
            echoDelayNanoseconds: UInt64 = 250_000, noEchoPulseNanoseconds: UInt64 = 38_000_000,
            jitterNanoseconds: Double = 5_000, triggerEchoArtefact: Bool = false,
            artefactDelayNanoseconds: UInt64 = 8_000, artefactWidthNanoseconds: UInt64 = 30_000, seed: UInt64 = 1
        ) {
            self.blindZoneMillimetres = blindZoneMillimetres
            self.maximumRangeMillimetres = maximumRangeMillimetres
            self.minimumTriggerNanoseconds = minimumTriggerNanoseconds
            self.echoDelayNanoseconds = echoDelayNanoseconds
            self.noEchoPulseNanoseconds = noEchoPulseNanoseconds
            self.jitterNanoseconds = jitterNanoseconds
            self.triggerEchoArtefact = triggerEchoArtefact
            self.artefactDelayNanoseconds = artefactDelayNanoseconds
            self.artefactWidthNanoseconds = artefactWidthNanoseconds
            self.seed = seed
        }

        /// HC-SR04: 2 cm to 4 m; 38 ms ECHO pulse when nothing is in range (its user guide).
        public static let hcSR04 = Configuration(blindZoneMillimetres: 20, maximumRangeMillimetres: 4_000)

        /// JSN-SR04T (waterproof, one transducer): about 25 cm to 4.5 m. Its no-echo pulse length is
        /// not documented; the HC-SR04's 38 ms is assumed.
        public static let jsnSR04T = Configuration(
            blindZoneMillimetres: 250, maximumRangeMillimetres: 4_500, echoDelayNanoseconds: 400_000)
    }

    public enum Fault: Sendable, Hashable {
        /// No ECHO pulse at all (unplugged or dead module).
        case disconnected
        /// Every measurement reports the same distance.
        case stuck(distanceMillimetres: Double)
        /// Extra echo-width jitter (standard deviation) on top of the configured jitter.
        case extraNoise(jitterNanoseconds: Double)
    }

    /// Speed of sound in air, m/s, at `temperatureCelsius`.
    public static func speedOfSound(temperatureCelsius: Double) -> Double {
        331.3 + 0.606 * temperatureCelsius
    }

    public let triggerLine: LineOffset
    public let echoLine: LineOffset
    public let configuration: Configuration
    private let state: Mutex<State>

    private struct State: Sendable {
        var distanceMillimetres = 1_000.0
        var temperatureCelsius = 20.0
        var fault: Fault?
        var random: SeededRandomGenerator
        var triggerRose: UInt64?
        var busyUntil: UInt64 = 0
        var measurements = 0
    }

    public init(
        chip: SimulatedChip, triggerLine: LineOffset, echoLine: LineOffset,
        configuration: Configuration = .hcSR04
    ) throws(GPIOError) {
        self.triggerLine = triggerLine
        self.echoLine = echoLine
        self.configuration = configuration
        state = Mutex(State(random: SeededRandomGenerator(seed: configuration.seed)))
        guard Int(echoLine) < chip.info.lineCount else {
            throw GPIOError(.noSuchLine, chip: chip.info.name, line: echoLine, detail: "ranger ECHO")
        }
        try chip.attach(self, listeningTo: [triggerLine])
        chip.perform { bus in bus.drive(echoLine, high: false) }
    }

    // MARK: Physical inputs and faults

    /// From the transducer face to the surface below it, mm.
    public var distanceMillimetres: Double {
        get { state.withLock { $0.distanceMillimetres } }
        set { state.withLock { $0.distanceMillimetres = newValue } }
    }

    /// Air temperature along the path, °C.
    public var temperatureCelsius: Double {
        get { state.withLock { $0.temperatureCelsius } }
        set { state.withLock { $0.temperatureCelsius = newValue } }
    }

    /// Takes effect at the next measurement.
    public var fault: Fault? {
        get { state.withLock { $0.fault } }
        set { state.withLock { $0.fault = newValue } }
    }

    /// Measurements started (accepted triggers).
    public var measurementCount: Int { state.withLock { $0.measurements } }

    /// The echo width the module produces for a surface at `distanceMillimetres`, without jitter.
    public static func roundTripNanoseconds(distanceMillimetres: Double, temperatureCelsius: Double) -> Double {
        2 * distanceMillimetres / 1_000 / speedOfSound(temperatureCelsius: temperatureCelsius) * 1_000_000_000
    }

    // MARK: Wires

    public func hostDidDrive(_ offset: LineOffset, high: Bool, bus: inout SimulationBus) {
        guard offset == triggerLine else { return }
        state.withLock { state in
            if high {
                state.triggerRose = bus.nowNanoseconds
                return
            }
            guard let rose = state.triggerRose else { return }
            state.triggerRose = nil
            let now = bus.nowNanoseconds
            guard now - rose >= configuration.minimumTriggerNanoseconds, now >= state.busyUntil else { return }
            startMeasurement(&state, bus: &bus)
        }
    }

    private func startMeasurement(_ state: inout State, bus: inout SimulationBus) {
        state.measurements += 1
        let echoLine = self.echoLine
        let now = bus.nowNanoseconds
        if case .disconnected = state.fault {
            state.busyUntil = now + configuration.echoDelayNanoseconds + configuration.noEchoPulseNanoseconds
            return
        }
        if configuration.triggerEchoArtefact {
            let start = now + configuration.artefactDelayNanoseconds
            bus.schedule(atNanoseconds: start) { bus in bus.drive(echoLine, high: true) }
            bus.schedule(atNanoseconds: start + configuration.artefactWidthNanoseconds) { bus in
                bus.drive(echoLine, high: false)
            }
        }
        let width = echoWidth(&state)
        let rise =
            now
            + max(
                configuration.echoDelayNanoseconds,
                configuration.artefactDelayNanoseconds
                    + configuration.artefactWidthNanoseconds + 1_000)
        state.busyUntil = rise + width
        bus.schedule(atNanoseconds: rise) { bus in bus.drive(echoLine, high: true) }
        bus.schedule(atNanoseconds: rise + width) { bus in bus.drive(echoLine, high: false) }
    }

    private func echoWidth(_ state: inout State) -> UInt64 {
        var jitter = configuration.jitterNanoseconds
        var distance = state.distanceMillimetres
        switch state.fault {
        case .stuck(let stuck):
            distance = stuck
            jitter = 0
        case .extraNoise(let extra):
            jitter = (jitter * jitter + extra * extra).squareRoot()
        case .disconnected, nil:
            break
        }
        if distance > configuration.maximumRangeMillimetres { return configuration.noEchoPulseNanoseconds }
        if distance < configuration.blindZoneMillimetres {
            distance = configuration.blindZoneMillimetres * state.random.nextDouble(in: 0.3...0.95)
            jitter = 0
        }
        let width =
            Self.roundTripNanoseconds(distanceMillimetres: distance, temperatureCelsius: state.temperatureCelsius)
            + state.random.nextGaussian(standardDeviation: jitter)
        return UInt64(max(width, 1_000).rounded())
    }
}
