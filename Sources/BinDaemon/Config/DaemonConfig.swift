import BinProtocol
import GPIO
import MQTT
import Sensors
import YAMLConfig

/// The daemon's configuration after parsing and validation (see docs/binsd.md for every field).
/// Values are checked and resolved: pins are chip labels and offsets, defaults are filled in, the board
/// file is loaded. Building one never touches hardware or the network.
public struct DaemonConfig: Sendable, Equatable {
    /// Path the configuration was read from, for messages.
    public var file: String
    /// Device id: MQTT client id and username, topic level; a valid `Topics` identifier.
    public var device: String
    public var broker: BrokerConfig
    public var board: BoardDefinition
    public var bins: [BinConfig]
    public var classification: ClassificationThresholds
    public var sampling: SamplingConfig
    public var outbox: OutboxConfig
    /// Directory for calibration and the outbox (systemd's `StateDirectory=`).
    public var stateDirectory: String
    public var temperature: TemperatureSource
    public var logging: LoggingConfig
    /// `board: sim` only: the scenario whose simulated world `binsd run` drives instead of hardware.
    public var simulation: SimulationSettings? = nil
    /// First 16 hex digits of the SHA-256 of the canonical configuration, for the birth message.
    public var configHash: String
    /// Non-fatal findings (e.g. a pin that doubles as I2C), for `check-config` and the start-up log.
    public var warnings: [ConfigIssue]

    public func bin(id: String) -> BinConfig? { bins.first { $0.id == id } }

    /// The bins as the birth message announces them.
    public var binDescriptors: [BinDescriptor] {
        bins.map { BinDescriptor(id: $0.id, stream: $0.stream, capacityL: ($0.geometry.capacityL * 10).rounded() / 10) }
    }

    /// Where scale calibrations live: `<state_dir>/calibration`.
    public var calibrationDirectory: String { "\(stateDirectory)/calibration" }
    /// What each bin has learned of its volume noise (`VolumeNoiseStore`).
    public var volumeNoiseDirectory: String { "\(stateDirectory)/volume-noise" }

    /// The run-time check that every bin's scale is calibrated (calibration lives in the state
    /// directory, so `check-config` cannot know it). `isCalibrated` answers for one bin id; the error
    /// lists every bin that is not and how to fix it.
    public func checkCalibration(isCalibrated: (String) -> Bool) throws(BinDaemonError) {
        let missing = bins.enumerated().filter { !isCalibrated($0.element.id) }
        guard !missing.isEmpty else { return }
        let issues = missing.map { index, bin in
            ConfigIssue(
                file: file, field: "bins[\(index)]",
                message:
                    "scale of bin \"\(bin.id)\" is not calibrated (nothing usable in \(calibrationDirectory)); "
                    + "run: binsd calibrate --config \(file) --bin \(bin.id) --tare, "
                    + "then --known-kg MASS with a reference mass on the scale")
        }
        throw BinDaemonError(
            .calibrationMissing, "\(file): \(missing.count) bin(s) without scale calibration", issues: issues)
    }
}

public struct BrokerConfig: Sendable, Equatable, Encodable {
    public var url: BrokerURL
    /// CA bundle for `mqtts`.
    public var caFile: String?
    /// Client certificate and key for mutual TLS (both or neither).
    public var clientCertFile: String?
    public var clientKeyFile: String?
    /// Defaults to the device id (the broker's ACL is per device).
    public var username: String
    /// A password written in the config itself (discouraged: prefer `passwordFile`).
    public var password: Secret?
    /// A file, readable only by the service, whose first line is the password.
    public var passwordFile: String?
    public var keepaliveSeconds: Int

    /// The TLS settings of the connection: present for an `mqtts://` broker with its CA file.
    public func tlsConfiguration(verifyHostname: Bool) -> MQTTTLSConfiguration? {
        guard url.tls, let caFile else { return nil }
        return MQTTTLSConfiguration(
            caFile: caFile, certificateFile: clientCertFile, keyFile: clientKeyFile, verifyHostname: verifyHostname)
    }
}

public struct BinConfig: Sendable, Equatable, Encodable {
    public var id: String
    /// What the bin is declared for.
    public var stream: WasteStream
    public var shape: BinShape
    /// The shape as a measuring object (capacity, height <-> volume).
    public var geometry: BinGeometry
    public var scale: ScaleSensorConfig
    public var ranger: RangerSensorConfig?
    public var lid: LidSensorConfig?
    public var thresholds: BinThresholds
}

/// A bin's inner shape as typed in by the installer.
public enum BinShape: Sendable, Equatable, Encodable {
    case box(widthMm: Double, lengthMm: Double, depthMm: Double)
    case cylinder(diameterMm: Double, depthMm: Double)
    /// Measured filled volume (litres) at surface heights above the bottom (mm), for tapered bins.
    case table(points: [HeightVolume])
}

public struct HeightVolume: Sendable, Equatable, Hashable, Encodable {
    public var heightMm: Double
    public var volumeL: Double

    public init(heightMm: Double, volumeL: Double) {
        self.heightMm = heightMm
        self.volumeL = volumeL
    }
}

public enum HX711Rate: Int, Sendable, Equatable, Encodable, CaseIterable {
    /// Set by the board's RATE pin, not by software: the daemon only needs to know it for timing.
    case sps10 = 10
    case sps80 = 80
}

/// `scale.gain`: the driver's own type (128 or 64 on channel A, 32 on channel B), so nothing maps one to the other.
public typealias HX711Gain = HX711.Gain

public struct ScaleSensorConfig: Sendable, Equatable, Encodable {
    public var dout: LineAddress
    public var sck: LineAddress
    public var rate: HX711Rate
    public var gain: HX711Gain
}

public enum RangerModel: String, Sendable, Equatable, Encodable, CaseIterable {
    case hcSR04 = "hc-sr04"
    case jsnSR04T = "jsn-sr04t"

    /// Distances closer than this read as "at or above the top" (datasheets: HC-SR04 2 cm, JSN-SR04T
    /// about 25 cm, the waterproof transducer rings longer).
    public var blindZoneMm: Double {
        switch self {
        case .hcSR04: 20
        case .jsnSR04T: 250
        }
    }

    /// Farthest distance the model is specified for (HC-SR04 4 m, JSN-SR04T 4.5 m).
    public var maxRangeMm: Double {
        switch self {
        case .hcSR04: 4000
        case .jsnSR04T: 4500
        }
    }
}

public struct RangerSensorConfig: Sendable, Equatable, Encodable {
    public var trigger: LineAddress
    public var echo: LineAddress
    public var model: RangerModel
    /// Distance from the sensor face down to the bin's top rim.
    public var mountMm: Double
}

/// `lid.bias`: the GPIO layer's own type (`as-is`, `disabled`, `pull-up`, `pull-down`).
public typealias PinBias = LineBias

public enum LineLevel: String, Sendable, Equatable, Encodable, CaseIterable {
    case high, low
}

public struct LidSensorConfig: Sendable, Equatable, Encodable {
    public var line: LineAddress
    public var bias: PinBias
    /// The level the line reads while the lid is open.
    public var openLevel: LineLevel
    public var debounceMs: Int
}

/// Per-bin detection thresholds (defaults in `thresholds:`, overridable per bin).
public struct BinThresholds: Sendable, Equatable, Encodable {
    /// Readings in the stability window.
    public var stableReadings: Int = 5
    /// Largest spread (max - min) of a stable window; raised to 5 x `scaleNoiseKg` when that is larger.
    public var stableToleranceKg: Double = 0.02
    /// Standard deviation of one scale reading.
    public var scaleNoiseKg: Double = 0.005
    /// Deposits lighter than this are not reported (their mass still moves the baseline).
    public var minDepositKg: Double = 0.05
    /// A drop of at least this much...
    public var collectionMinKg: Double = 2.0
    /// ...and at least this fraction of the mass in the bin is a collection.
    public var collectionMinFraction: Double = 0.5
    /// Largest tare correction applied when the bin is known empty after a collection.
    public var autoZeroLimitKg: Double = 0.3
    /// A lid open this long is reported (`lid.open_too_long`) and deposits are closed off without volume.
    public var lidOpenTimeoutS: Double = 600
    /// How long after the lid closes to wait for a stable weight before giving up on the cycle.
    public var settleTimeoutS: Double = 60
    /// How long to wait for a ranger reading after a deposit settled before reporting it without volume.
    public var rangerWaitS: Double = 10
    public var fullFill: Double = 0.8
    public var overflowFill: Double = 0.95
    /// Standard deviation of one ranger distance (HC-SR04 datasheet: resolution about 3 mm).
    public var rangerSigmaMm: Double = 3
    /// Standard deviation of the waste surface height seen by the beam around its mean level. Left out of
    /// the configuration, it follows the bin's size (`defaultSurfaceRoughnessMm(for:)`).
    public var surfaceRoughnessMm: Double = 4

    /// Household bins take bags and handfuls, which settle into a surface a few millimetres from level;
    /// bulk containers (a square metre of cross-section or more) take carts tipped in, which leave heaps
    /// and hollows a few centimetres deep. Used when the configuration does not set a roughness.
    public static func defaultSurfaceRoughnessMm(for geometry: BinGeometry) -> Double {
        geometry.litresPerMm(atHeightMm: geometry.depthMm / 2) >= 1 ? 25 : 4
    }

    public init() {}

    /// Spread a stable window may have.
    public var effectiveStableToleranceKg: Double { max(stableToleranceKg, 5 * scaleNoiseKg) }
}

/// Density classes, priors and decision limits of the likelihood classifier (DESIGN section 5; the model
/// and the sources of the numbers in docs/binsd.md section 5).
public struct ClassificationThresholds: Sendable, Equatable, Encodable {
    public var wetKgL: ClosedRange<Double> = 0.24...0.9
    public var dryKgL: ClosedRange<Double> = 0.08...0.13
    /// Densities anything put in a bin can have: `other` spans what lies outside wet and dry (widened by
    /// `rangeMargin`) within these bounds, from foam and empty packaging to rubble and bricks.
    public var otherKgL: ClosedRange<Double> = 0.01...3.0
    /// Prior probability that a deposit is neither wet nor dry.
    public var otherPrior: Double = 0.02
    /// Prior probability that a wet-or-dry deposit is of the bin's declared stream; 0.5 says nothing.
    public var streamPrior: Double = 0.5
    /// Posterior the bin's own stream needs to be reported; below it the deposit is `unknown`.
    public var minConfidence: Double = 0.8
    /// Posterior any other class needs to be reported (at least `minConfidence`): a call against the bin's
    /// stream moves correctly sorted mass to another ledger when it is wrong, so it needs more evidence than a
    /// call for it (docs/binsd.md section 5, "Decision").
    public var againstStreamConfidence: Double = 0.95
    /// Posterior that a deposit does not belong in the bin it needs to be flagged `contaminated` (at least
    /// `againstStreamConfidence`).
    public var contaminationConfidence: Double = 0.99
    /// Relative widening of both ranges before `other` begins.
    public var rangeMargin: Double = 0.25

    public init() {}
}

public struct SamplingConfig: Sendable, Equatable, Encodable {
    /// Scale reading interval while nothing happens (the HX711 sleeps in between).
    public var scaleIntervalS: Double = 30
    /// Readings taken back to back after a lid edge or a weight change.
    public var burstReadings: Int = 10
    /// Ranger heartbeat while nothing happens.
    public var rangerHeartbeatS: Double = 900
    /// Pings per ranger reading (their median is used).
    public var rangerPings: Int = 5
    /// Retained state is republished at least this often even when nothing changed.
    public var stateHeartbeatS: Double = 300
    public var healthIntervalS: Double = 60

    public init() {}
}

public enum OutboxSync: String, Sendable, Equatable, Encodable, CaseIterable {
    /// SQLite `synchronous=FULL`: an acknowledged event survives power loss.
    case full
    /// `synchronous=NORMAL` in WAL mode: faster, may lose the last events on power loss.
    case normal
}

public struct OutboxConfig: Sendable, Equatable, Encodable {
    /// Absolute path of the outbox database.
    public var path: String
    /// Most events kept; beyond it the oldest are dropped and an `outbox.dropped` fault says so.
    public var capacity: Int
    public var sync: OutboxSync
    /// When an event may leave the outbox: at the aggregator's end-to-end receipt or the broker's PUBACK.
    public var receipts = OutboxReceiptsConfig()

    public init(path: String, capacity: Int, sync: OutboxSync, receipts: OutboxReceiptsConfig = OutboxReceiptsConfig())
    {
        self.path = path
        self.capacity = capacity
        self.sync = sync
        self.receipts = receipts
    }
}

/// `outbox.receipts`, `outbox.receipt_resend_s`, `outbox.receipt_fallback_s` (docs/binsd.md, docs/mqtt.md).
public struct OutboxReceiptsConfig: Sendable, Equatable, Encodable {
    public enum Mode: String, Sendable, Equatable, Encodable, CaseIterable {
        /// Wait for receipts once an aggregator has announced them; fall back to PUBACK when it stops.
        case auto
        /// Always wait for receipts (never trust a PUBACK alone).
        case required
        /// Delete at the broker's PUBACK (a broker crash can lose what it acknowledged).
        case off
    }

    public var mode: Mode = .auto
    /// Quiet time before what no receipt covers is sent again (it doubles while nothing moves).
    public var resendAfterS: Double = 60
    /// `auto`: no receipt for this long while the aggregator is online, and events leave at PUBACK.
    public var fallbackAfterS: Double = 900

    public init(mode: Mode = .auto, resendAfterS: Double = 60, fallbackAfterS: Double = 900) {
        self.mode = mode
        self.resendAfterS = resendAfterS
        self.fallbackAfterS = fallbackAfterS
    }

    /// The outbox publisher's settings; nil for `off`.
    public var receiptSettings: ReceiptSettings? {
        let mode: ReceiptSettings.Mode
        switch self.mode {
        case .off: return nil
        case .auto: mode = .auto
        case .required: mode = .required
        }
        return ReceiptSettings(
            mode: mode, resendAfter: .milliseconds(Int64(resendAfterS * 1000)),
            maximumResendInterval: .milliseconds(Int64(max(resendAfterS, 900) * 1000)),
            fallbackAfter: .milliseconds(Int64(fallbackAfterS * 1000)))
    }
}

public enum TemperatureSource: Sendable, Equatable, Encodable {
    /// A DS18B20 read through the kernel's w1 driver; the glob picks the first matching sensor file.
    /// `fallbackC` is used (and reported as degraded) while no sensor answers; nil means no temperature.
    case ds18b20(pathGlob: String, fallbackC: Double?)
    /// No sensor: a configured constant.
    case fixed(celsius: Double)
}

/// How `binsd run` drives a simulated point (`board: sim`): the scenario file, and how fast its virtual
/// time runs once the scenario starts (the installer's lead-in before it always runs at full speed).
public struct SimulationSettings: Sendable, Equatable, Encodable {
    /// Absolute path of the scenario file (DESIGN section 8).
    public var scenario: String
    /// Virtual seconds per real second: 1 follows the wall clock (what the footprint benchmark measures).
    public var speed: Double

    public init(scenario: String, speed: Double = 1) {
        self.scenario = scenario
        self.speed = speed
    }
}

public enum LogLevel: String, Sendable, Equatable, Encodable, CaseIterable {
    case trace, debug, info, notice, warning, error, critical
}

public enum LogFormat: String, Sendable, Equatable, Encodable, CaseIterable {
    case text, json
}

public struct LoggingConfig: Sendable, Equatable, Encodable {
    public var level: LogLevel = .info
    public var format: LogFormat = .text

    public init() {}
}
