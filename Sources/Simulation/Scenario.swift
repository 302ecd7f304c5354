import BinProtocol
import YAMLConfig

/// A scenario file (DESIGN section 8): one simulated sorting point, its bins as an installer would
/// describe them plus the hidden physical constants of the simulated parts, and a timeline of what
/// happens to it. `binsd simulate` runs it in virtual time against a real broker.
public struct Scenario: Sendable, Equatable, Decodable {
    public var device: String
    /// Virtual start time; payload timestamps follow virtual time from here.
    public var start: WireTimestamp
    /// Seed for every random draw (sensor noise, jitter, bounce), so a run is reproducible.
    public var seed: UInt64
    /// Air temperature at the start, °C.
    public var temperatureC: Double
    public var bins: [ScenarioBin]
    /// Sorted by `at`.
    public var events: [ScenarioEvent]
    /// Seconds after `start` at which the scenario ends.
    public var end: Double
    /// Reference mass the simulated installer puts on each scale to calibrate it before `start`.
    public var calibrationReferenceKg: Double

    enum CodingKeys: String, CodingKey {
        case device, start, seed, bins, events, end, description
        case temperatureC = "temperature_c"
        case calibrationReferenceKg = "calibration_reference_kg"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        device = try c.decode(String.self, forKey: .device)
        guard Topics.isValidIdentifier(device) else {
            throw ConfigValueError("\"\(device)\" is not a valid device id (letters, digits, - _ ., 1-64)", field: "device")
        }
        start = try c.decode(WireTimestamp.self, forKey: .start)
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? 1
        temperatureC = try c.decodeIfPresent(Double.self, forKey: .temperatureC) ?? 20
        guard (-40...60).contains(temperatureC) else {
            throw ConfigValueError("\(temperatureC) °C is outside -40...60", field: "temperature_c")
        }
        _ = try c.decodeIfPresent(String.self, forKey: .description)
        bins = try c.decode([ScenarioBin].self, forKey: .bins)
        guard !bins.isEmpty, bins.count <= 8 else { throw ConfigValueError("a point has 1 to 8 bins", field: "bins") }
        var seen = Set<String>()
        for (index, bin) in bins.enumerated() where !seen.insert(bin.id).inserted {
            throw ConfigValueError("bin id \"\(bin.id)\" is used twice", field: "bins[\(index)].id")
        }
        end = try c.decode(Double.self, forKey: .end)
        guard end > 0, end <= 400 * 86_400 else { throw ConfigValueError("must be 0 < end <= 400 days (in seconds)", field: "end") }
        calibrationReferenceKg = try c.decodeIfPresent(Double.self, forKey: .calibrationReferenceKg) ?? 10
        guard calibrationReferenceKg > 0 else {
            throw ConfigValueError("must be positive", field: "calibration_reference_kg")
        }
        let decoded = try c.decodeIfPresent([ScenarioEvent].self, forKey: .events) ?? []
        for (index, event) in decoded.enumerated() {
            let field = "events[\(index)]"
            guard event.at >= 0, event.at <= end else {
                throw ConfigValueError("at \(event.at) s is outside the scenario (0...\(end))", field: "\(field).at")
            }
            if let bin = event.action.bin, !seen.contains(bin) {
                throw ConfigValueError("no bin \"\(bin)\" in bins", field: "\(field).\(event.action.key).bin")
            }
        }
        // Stable sort: events at the same second keep their file order.
        events = decoded.enumerated().sorted { ($0.element.at, $0.offset) < ($1.element.at, $1.offset) }.map(\.element)
    }

    /// Reads and validates a scenario file.
    public static func load(path: String) throws(ConfigError) -> Scenario {
        try StrictYAMLDecoder.load(Scenario.self, path: path)
    }

    /// Parses scenario text; `file` names it in errors.
    public static func parse(_ yaml: String, file: String) throws(ConfigError) -> Scenario {
        try StrictYAMLDecoder.decode(Scenario.self, yaml: yaml, file: file)
    }

    public func bin(_ id: String) -> ScenarioBin? { bins.first { $0.id == id } }
}

/// One bin: what an installer measures and types in (`stream`, `shape`, ranger mount height), and the
/// simulated parts' hidden constants (`scale`, ranger jitter), which the daemon must never read.
public struct ScenarioBin: Sendable, Equatable, Decodable {
    public var id: String
    public var stream: WasteStream
    public var shape: ScenarioShape
    public var scale: ScaleSpec
    public var ranger: RangerSpec
    /// Whether the bin has a lid with a switch.
    public var lid: Bool

    enum CodingKeys: String, CodingKey { case id, stream, shape, scale, ranger, lid }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        guard Topics.isValidIdentifier(id) else {
            throw ConfigValueError("\"\(id)\" is not a valid bin id (letters, digits, - _ ., 1-64)", field: "id")
        }
        stream = try c.decode(WasteStream.self, forKey: .stream)
        shape = try c.decode(ScenarioShape.self, forKey: .shape)
        scale = try c.decodeIfPresent(ScaleSpec.self, forKey: .scale) ?? ScaleSpec()
        ranger = try c.decodeIfPresent(RangerSpec.self, forKey: .ranger) ?? RangerSpec()
        lid = try c.decodeIfPresent(Bool.self, forKey: .lid) ?? true
        guard ranger.mountMm < shape.depthMm else {
            throw ConfigValueError("mount_mm \(ranger.mountMm) must be less than the bin depth \(shape.depthMm)", field: "ranger.mount_mm")
        }
    }

    public struct ScaleSpec: Sendable, Equatable, Decodable {
        public var countsPerKg: Double = 21_000
        public var offsetCounts: Double = 84_000
        public var noiseCounts: Double = 30
        /// Samples per second: 10 or 80 (the HX711's RATE pin).
        public var rate: Int = 10

        public init() {}

        enum CodingKeys: String, CodingKey {
            case rate
            case countsPerKg = "counts_per_kg"
            case offsetCounts = "offset_counts"
            case noiseCounts = "noise_counts"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            countsPerKg = try c.decodeIfPresent(Double.self, forKey: .countsPerKg) ?? countsPerKg
            offsetCounts = try c.decodeIfPresent(Double.self, forKey: .offsetCounts) ?? offsetCounts
            noiseCounts = try c.decodeIfPresent(Double.self, forKey: .noiseCounts) ?? noiseCounts
            rate = try c.decodeIfPresent(Int.self, forKey: .rate) ?? rate
            guard countsPerKg > 0 else { throw ConfigValueError("must be positive", field: "counts_per_kg") }
            guard noiseCounts >= 0 else { throw ConfigValueError("must not be negative", field: "noise_counts") }
            guard abs(offsetCounts) < 4_000_000 else { throw ConfigValueError("must be within ±4,000,000", field: "offset_counts") }
            guard rate == 10 || rate == 80 else { throw ConfigValueError("must be 10 or 80", field: "rate") }
        }
    }

    public struct RangerSpec: Sendable, Equatable, Decodable {
        /// Height of the sensor's face above the bin's rim (an installer measures it).
        public var mountMm: Double = 40
        /// Standard deviation of the echo width, µs.
        public var jitterUs: Double = 8
        /// How uneven the waste surface is, mm (standard deviation; redrawn after each deposit).
        public var surfaceRoughnessMm: Double = 5
        /// `hc-sr04` or `jsn-sr04t`.
        public var model: String = "hc-sr04"

        public init() {}

        enum CodingKeys: String, CodingKey {
            case model
            case mountMm = "mount_mm"
            case jitterUs = "jitter_us"
            case surfaceRoughnessMm = "surface_roughness_mm"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            mountMm = try c.decodeIfPresent(Double.self, forKey: .mountMm) ?? mountMm
            jitterUs = try c.decodeIfPresent(Double.self, forKey: .jitterUs) ?? jitterUs
            surfaceRoughnessMm = try c.decodeIfPresent(Double.self, forKey: .surfaceRoughnessMm) ?? surfaceRoughnessMm
            model = try c.decodeIfPresent(String.self, forKey: .model) ?? model
            guard mountMm >= 0 else { throw ConfigValueError("must not be negative", field: "mount_mm") }
            guard jitterUs >= 0 else { throw ConfigValueError("must not be negative", field: "jitter_us") }
            guard surfaceRoughnessMm >= 0 else { throw ConfigValueError("must not be negative", field: "surface_roughness_mm") }
            guard ["hc-sr04", "jsn-sr04t"].contains(model) else {
                throw ConfigValueError("\"\(model)\" is not a known ranger (hc-sr04, jsn-sr04t)", field: "model")
            }
        }
    }
}

/// Bin body shapes a scenario can describe.
public enum ScenarioShape: Sendable, Equatable, Decodable {
    case box(widthMm: Double, lengthMm: Double, depthMm: Double)
    case cylinder(diameterMm: Double, depthMm: Double)

    public var depthMm: Double {
        switch self {
        case .box(_, _, let depth), .cylinder(_, let depth): depth
        }
    }

    /// Horizontal cross-section in mm².
    public var crossSectionMm2: Double {
        switch self {
        case .box(let width, let length, _): width * length
        case .cylinder(let diameter, _): Double.pi * diameter * diameter / 4
        }
    }

    /// Volume in litres when filled to the rim.
    public var capacityL: Double { crossSectionMm2 * depthMm / 1_000_000 }

    enum CodingKeys: String, CodingKey {
        case kind
        case widthMm = "width_mm"
        case lengthMm = "length_mm"
        case depthMm = "depth_mm"
        case diameterMm = "diameter_mm"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func positive(_ key: CodingKeys) throws -> Double {
            let value = try c.decode(Double.self, forKey: key)
            guard value > 0, value <= 20_000 else { throw ConfigValueError("must be 0 < x <= 20000 mm", field: key.rawValue) }
            return value
        }
        func absent(_ keys: [CodingKeys], kind: String) throws {
            for key in keys where c.contains(key) {
                throw ConfigValueError("does not apply to a \(kind)", field: key.rawValue)
            }
        }
        switch try c.decode(String.self, forKey: .kind) {
        case "box":
            try absent([.diameterMm], kind: "box")
            self = .box(widthMm: try positive(.widthMm), lengthMm: try positive(.lengthMm), depthMm: try positive(.depthMm))
        case "cylinder":
            try absent([.widthMm, .lengthMm], kind: "cylinder")
            self = .cylinder(diameterMm: try positive(.diameterMm), depthMm: try positive(.depthMm))
        case let other:
            throw ConfigValueError("\"\(other)\" is not a shape (box, cylinder)", field: "kind")
        }
    }
}

/// One timeline entry: `at` seconds after the start, exactly one action.
public struct ScenarioEvent: Sendable, Equatable, Decodable {
    public var at: Double
    public var action: ScenarioAction

    enum CodingKeys: String, CodingKey {
        case at, deposit, collect, fault, network
        case temperatureC = "temperature_c"
    }

    public init(at: Double, action: ScenarioAction) {
        self.at = at
        self.action = action
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        at = try c.decode(Double.self, forKey: .at)
        let present = [CodingKeys.deposit, .collect, .fault, .network, .temperatureC].filter { c.contains($0) }
        guard present.count == 1 else {
            throw ConfigValueError(
                "needs exactly one of deposit, collect, fault, temperature_c, network (found \(present.count))")
        }
        switch present[0] {
        case .deposit: action = .deposit(try c.decode(ScenarioDeposit.self, forKey: .deposit))
        case .collect: action = .collect(try c.decode(ScenarioCollect.self, forKey: .collect))
        case .fault: action = .fault(try c.decode(ScenarioFault.self, forKey: .fault))
        case .network: action = .network(try c.decode(ScenarioNetwork.self, forKey: .network))
        default:
            let celsius = try c.decode(Double.self, forKey: .temperatureC)
            guard (-40...60).contains(celsius) else { throw ConfigValueError("outside -40...60 °C", field: "temperature_c") }
            action = .temperature(celsius)
        }
    }
}

public enum ScenarioAction: Sendable, Equatable {
    case deposit(ScenarioDeposit)
    case collect(ScenarioCollect)
    case fault(ScenarioFault)
    /// Air temperature changes to this many °C.
    case temperature(Double)
    /// The point loses its network link for a while.
    case network(ScenarioNetwork)

    /// The bin the action concerns, if any.
    public var bin: String? {
        switch self {
        case .deposit(let deposit): deposit.bin
        case .collect(let collect): collect.bin
        case .fault(let fault): fault.bin
        case .temperature, .network: nil
        }
    }

    var key: String {
        switch self {
        case .deposit: "deposit"
        case .collect: "collect"
        case .fault: "fault"
        case .temperature: "temperature_c"
        case .network: "network"
        }
    }
}

/// Someone opens the lid, drops waste, closes the lid.
public struct ScenarioDeposit: Sendable, Equatable, Decodable {
    public var bin: String
    public var massKg: Double
    /// Loose volume the waste takes up in the bin.
    public var volumeL: Double
    /// What the waste really is; defaults to the bin's declared stream. A `dry` deposit into a wet bin
    /// is mis-sorting the daemon should notice.
    public var material: WasteStream?
    /// How long the lid stays open.
    public var lidOpenS: Double

    enum CodingKeys: String, CodingKey {
        case bin, material
        case massKg = "mass_kg"
        case volumeL = "volume_l"
        case lidOpenS = "lid_open_s"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        bin = try c.decode(String.self, forKey: .bin)
        massKg = try c.decode(Double.self, forKey: .massKg)
        volumeL = try c.decode(Double.self, forKey: .volumeL)
        material = try c.decodeIfPresent(WasteStream.self, forKey: .material)
        lidOpenS = try c.decodeIfPresent(Double.self, forKey: .lidOpenS) ?? 5
        guard massKg > 0, massKg <= 5000 else { throw ConfigValueError("must be 0 < mass <= 5000 kg", field: "mass_kg") }
        guard volumeL > 0, volumeL <= 50_000 else { throw ConfigValueError("must be 0 < volume <= 50000 L", field: "volume_l") }
        guard lidOpenS >= 1, lidOpenS <= 3600 else { throw ConfigValueError("must be 1...3600 s", field: "lid_open_s") }
    }
}

/// A crew empties the bin.
public struct ScenarioCollect: Sendable, Equatable, Decodable {
    public var bin: String
}

/// A sensor misbehaves for a while (or for the rest of the scenario).
public struct ScenarioFault: Sendable, Equatable, Decodable {
    public enum Sensor: String, Sendable, Equatable, Decodable { case scale, ranger, lid }
    public enum Kind: String, Sendable, Equatable, Decodable {
        /// Ranger: no echo comes back. Scale: DOUT stuck high (unplugged). Lid: stuck closed.
        case noEcho = "no_echo"
        case disconnected
        /// The part keeps returning one value.
        case stuck
        /// Extra noise on top of the normal.
        case noise
        /// Scale: the ADC saturates (overload, broken bridge).
        case saturated
    }

    public var bin: String
    public var sensor: Sensor
    public var kind: Kind
    /// Duration; `nil` = until the scenario ends.
    public var forS: Double?

    enum CodingKeys: String, CodingKey {
        case bin, sensor, kind
        case forS = "for_s"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        bin = try c.decode(String.self, forKey: .bin)
        sensor = try c.decode(Sensor.self, forKey: .sensor)
        kind = try c.decode(Kind.self, forKey: .kind)
        forS = try c.decodeIfPresent(Double.self, forKey: .forS)
        if let forS, forS <= 0 { throw ConfigValueError("must be positive", field: "for_s") }
        let valid: Bool
        switch (sensor, kind) {
        case (.ranger, .noEcho), (.ranger, .stuck), (.ranger, .noise),
            (.scale, .disconnected), (.scale, .stuck), (.scale, .noise), (.scale, .saturated),
            (.lid, .stuck), (.lid, .disconnected):
            valid = true
        default:
            valid = false
        }
        guard valid else {
            throw ConfigValueError("a \(sensor.rawValue) cannot have fault \(kind.rawValue)", field: "kind")
        }
    }
}

/// The point's network link goes down (the daemon keeps sensing and queues events in its outbox).
public struct ScenarioNetwork: Sendable, Equatable, Decodable {
    public var downForS: Double

    enum CodingKeys: String, CodingKey { case downForS = "down_for_s" }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        downForS = try c.decode(Double.self, forKey: .downForS)
        guard downForS > 0 else { throw ConfigValueError("must be positive", field: "down_for_s") }
    }
}
