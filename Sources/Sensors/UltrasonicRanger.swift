import GPIO
import Synchronization

/// Driver for an HC-SR04-style ultrasonic ranger: a TRIG output and an ECHO input requested for
/// edge events.
///
/// The echo width is taken from the kernel's edge timestamps, never from when this process woke up,
/// so scheduling latency does not turn into millimetres. Edges within `ignoreEdgesNanoseconds` of
/// the trigger are dropped (some clones echo the trigger itself), an echo wider than the round trip
/// at the far end of the range means nothing came back, and a distance inside the blind zone is
/// reported as `.blindZone` (the surface is at or above the top of the measurable range), never
/// as a number. The caller supplies the air temperature: c = 331.3 + 0.606·T m/s.
public final class UltrasonicRanger: Sendable {
    public struct Configuration: Sendable, Hashable {
        public var name: String
        /// Closer than this the module cannot measure (it still rings from its own burst).
        public var blindZoneMillimetres: Double
        /// Farther than this readings are not trusted.
        public var maximumRangeMillimetres: Double
        /// TRIG pulse; modules need at least 10 µs (some JSN-SR04T boards want more).
        public var triggerPulseNanoseconds: UInt64
        /// Edges this soon after the trigger fell are artefacts, not echoes.
        public var ignoreEdgesNanoseconds: UInt64
        /// How long to wait for the echo to rise and fall.
        public var responseTimeoutNanoseconds: UInt64
        /// Least time between two triggers, so a late echo of one ping is not taken for the next.
        public var minimumIntervalNanoseconds: UInt64
        /// Pull on ECHO, so an unplugged module reads low instead of floating into false edges.
        public var echoBias: LineBias

        public init(
            name: String = "ranger", blindZoneMillimetres: Double, maximumRangeMillimetres: Double,
            triggerPulseNanoseconds: UInt64 = 20_000, ignoreEdgesNanoseconds: UInt64 = 100_000,
            responseTimeoutNanoseconds: UInt64 = 100_000_000, minimumIntervalNanoseconds: UInt64 = 60_000_000,
            echoBias: LineBias = .pullDown
        ) {
            self.echoBias = echoBias
            self.name = name
            self.blindZoneMillimetres = blindZoneMillimetres
            self.maximumRangeMillimetres = maximumRangeMillimetres
            self.triggerPulseNanoseconds = triggerPulseNanoseconds
            self.ignoreEdgesNanoseconds = ignoreEdgesNanoseconds
            self.responseTimeoutNanoseconds = responseTimeoutNanoseconds
            self.minimumIntervalNanoseconds = minimumIntervalNanoseconds
        }

        /// HC-SR04: 2 cm to 4 m.
        public static func hcSR04(name: String = "ranger") -> Configuration {
            Configuration(name: name, blindZoneMillimetres: 20, maximumRangeMillimetres: 4_000)
        }

        /// JSN-SR04T: 25 cm to 4.5 m.
        public static func jsnSR04T(name: String = "ranger") -> Configuration {
            Configuration(name: name, blindZoneMillimetres: 250, maximumRangeMillimetres: 4_500)
        }

        /// Echoes at least this wide mean nothing came back: the round trip to the far end of the
        /// range in air at −40 °C, plus 10 %. (Modules hold ECHO high for their own timeout, 38 ms
        /// on the HC-SR04, when they hear nothing.)
        public var echoTimeoutNanoseconds: UInt64 {
            let seconds = 2 * maximumRangeMillimetres / 1_000 / UltrasonicRanger.speedOfSound(temperatureCelsius: -40)
            return UInt64(seconds * 1.1 * 1_000_000_000)
        }
    }

    /// One ping's (or a measurement's) outcome.
    public enum Reading: Sendable, Hashable {
        /// Distance from the sensor's face to the surface.
        case distance(millimetres: Double)
        /// The surface is inside the blind zone: at or above the top of the measurable range.
        case blindZone
        /// No usable echo: nothing within range, or no response at all.
        case noEcho
    }

    /// The outcome of several pings.
    public struct Measurement: Sendable, Hashable {
        /// Median distance if at least half of the pings gave one; otherwise the most frequent of
        /// blind zone and no echo.
        public var reading: Reading
        public var pings: Int
        public var distancePings: Int
        public var blindZonePings: Int
        public var noEchoPings: Int
        /// Largest minus smallest distance among the pings that gave one.
        public var spreadMillimetres: Double?
    }

    public struct Statistics: Sendable, Hashable {
        public var pings = 0
        public var distances = 0
        public var blindZone = 0
        /// ECHO rose but stayed high past the echo timeout (nothing in range).
        public var echoTimeouts = 0
        /// ECHO never rose (module unplugged or dead).
        public var noPulse = 0
        /// Edges dropped for coming too soon after the trigger.
        public var ignoredEdges = 0

        public init() {}
    }

    /// Speed of sound in air, m/s.
    public static func speedOfSound(temperatureCelsius: Double) -> Double {
        331.3 + 0.606 * temperatureCelsius
    }

    public let name: String
    public let chipName: String
    public let triggerLineOffset: LineOffset
    public let echoLineOffset: LineOffset
    public let configuration: Configuration

    private let identity: SensorIdentity
    private let chip: any GPIOChip
    private let trigger: any GPIOOutputLine
    private let echo: any GPIOEventLine
    private let lastTrigger = Mutex<UInt64?>(nil)
    private let counters = Mutex(Statistics())

    public init(
        chip: any GPIOChip, triggerLine: LineOffset, echoLine: LineOffset, consumer: String = "binsd",
        configuration: Configuration
    ) throws(SensorError) {
        let identity = SensorIdentity(name: configuration.name, chip: chip.info.name, lines: [triggerLine, echoLine])
        guard configuration.triggerPulseNanoseconds >= 10_000,
            configuration.blindZoneMillimetres >= 0,
            configuration.maximumRangeMillimetres > configuration.blindZoneMillimetres,
            configuration.responseTimeoutNanoseconds > configuration.ignoreEdgesNanoseconds
        else {
            throw identity.error(
                .invalidConfiguration,
                "the trigger must be at least 10 µs, the range above the blind zone, and the response timeout longer than the ignored window"
            )
        }
        trigger = try identity.gpio { () throws(GPIOError) in
            try chip.requestOutput(triggerLine, consumer: consumer, initialValue: false)
        }
        echo = try identity.gpio { () throws(GPIOError) in
            try chip.requestEvents(echoLine, consumer: consumer, edges: .both, bias: configuration.echoBias)
        }
        self.identity = identity
        self.chip = chip
        self.configuration = configuration
        name = configuration.name
        chipName = chip.info.name
        triggerLineOffset = triggerLine
        echoLineOffset = echoLine
    }

    public var statistics: Statistics { counters.withLock { $0 } }

    /// One ping: trigger, then time the echo from its edges' timestamps.
    public func ping(temperatureCelsius: Double) throws(SensorError) -> Reading {
        try lastTrigger.withLock { last throws(SensorError) -> Reading in
            try ping(temperatureCelsius: temperatureCelsius, lastTrigger: &last)
        }
    }

    /// `pings` pings (spaced by `minimumIntervalNanoseconds`) summarised by their median.
    public func measure(temperatureCelsius: Double, pings: Int = 5) throws(SensorError) -> Measurement {
        guard pings >= 1 else { throw identity.error(.invalidConfiguration, "a measurement needs at least one ping") }
        var distances: [Double] = []
        var blind = 0
        var none = 0
        for _ in 0..<pings {
            switch try ping(temperatureCelsius: temperatureCelsius) {
            case .distance(let millimetres): distances.append(millimetres)
            case .blindZone: blind += 1
            case .noEcho: none += 1
            }
        }
        let reading: Reading
        if distances.count * 2 >= pings, let median = RobustStatistics.median(distances) {
            reading = .distance(millimetres: median)
        } else {
            reading = blind >= none && blind > 0 ? .blindZone : .noEcho
        }
        return Measurement(
            reading: reading, pings: pings, distancePings: distances.count, blindZonePings: blind,
            noEchoPings: none, spreadMillimetres: distances.isEmpty ? nil : distances.max()! - distances.min()!)
    }

    private func ping(temperatureCelsius: Double, lastTrigger: inout UInt64?) throws(SensorError) -> Reading {
        let clock = chip.clock
        if let last = lastTrigger {
            let now = clock.nanoseconds()
            let earliest = last &+ configuration.minimumIntervalNanoseconds
            if now < earliest { clock.sleep(nanoseconds: earliest - now) }
        }
        counters.withLock { $0.pings += 1 }
        _ = try identity.gpio { () throws(GPIOError) in try echo.readPendingEvents() }  // stale edges
        try identity.gpio { () throws(GPIOError) in try trigger.set(true) }
        clock.spin(nanoseconds: configuration.triggerPulseNanoseconds)
        // Read the clock before lowering TRIG: the fall cannot be earlier, and if the process is
        // preempted right after it, the echo edges that arrive meanwhile are still accepted.
        let triggerFell = clock.nanoseconds()
        try identity.gpio { () throws(GPIOError) in try trigger.set(false) }
        lastTrigger = triggerFell
        let ignoreBefore = triggerFell &+ configuration.ignoreEdgesNanoseconds
        let deadline = triggerFell &+ configuration.responseTimeoutNanoseconds

        var rose: UInt64?
        while true {
            let now = clock.nanoseconds()
            if now >= deadline { break }
            let events = try identity.gpio { () throws(GPIOError) in
                try chip.waitForEvents(on: [echo], timeoutNanoseconds: deadline - now, wakeup: nil)
            }
            for event in events {
                if event.timestampNanoseconds < ignoreBefore {
                    counters.withLock { $0.ignoredEdges += 1 }
                    continue
                }
                switch event.type {
                case .rising where rose == nil:
                    rose = event.timestampNanoseconds
                case .falling:
                    if let rose {
                        return classify(
                            widthNanoseconds: event.timestampNanoseconds &- rose,
                            temperatureCelsius: temperatureCelsius)
                    }
                default:
                    break
                }
            }
        }
        counters.withLock {
            if rose == nil { $0.noPulse += 1 } else { $0.echoTimeouts += 1 }
        }
        return .noEcho
    }

    private func classify(widthNanoseconds: UInt64, temperatureCelsius: Double) -> Reading {
        if widthNanoseconds >= configuration.echoTimeoutNanoseconds {
            counters.withLock { $0.echoTimeouts += 1 }
            return .noEcho
        }
        let millimetres =
            Double(widthNanoseconds) * Self.speedOfSound(temperatureCelsius: temperatureCelsius) / 2_000_000
        if millimetres < configuration.blindZoneMillimetres {
            counters.withLock { $0.blindZone += 1 }
            return .blindZone
        }
        if millimetres > configuration.maximumRangeMillimetres {
            counters.withLock { $0.echoTimeouts += 1 }
            return .noEcho
        }
        counters.withLock { $0.distances += 1 }
        return .distance(millimetres: millimetres)
    }
}
