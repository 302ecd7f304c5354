import BinProtocol
import YAMLConfig

/// A scenario file (DESIGN section 8): one simulated sorting point, its bins as an installer would
/// describe them plus the hidden physical constants of the simulated parts, and a timeline of what
/// happens to it. `binsd simulate` runs it in virtual time against a real broker.
///
/// Read strictly (`YAMLConfig`): every mistake in a file is reported at once, with line, column and
/// field, and unknown keys are errors.
public struct Scenario: Sendable, Equatable {
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

    /// Reads and validates a scenario file.
    public static func load(path: String) throws(ConfigError) -> Scenario {
        try YAMLDocument.load(path: path, what: "scenario", read).value
    }

    /// Parses scenario text; `file` names it in errors.
    public static func parse(_ yaml: String, file: String) throws(ConfigError) -> Scenario {
        try YAMLDocument.parse(yaml: yaml, file: file, what: "scenario", read).value
    }

    public func bin(_ id: String) -> ScenarioBin? { bins.first { $0.id == id } }

    static func read(_ root: YAMLValue) -> Scenario? {
        root.fields { fields in
            let device = fields.required("device")?.identifier("device id")
            let start = fields.required("start")?.timestamp()
            let seed = fields.optional("seed")?.integer(UInt64.self) ?? 1
            let temperatureC = fields.optional("temperature_c")?.double(in: -40...60) ?? 20
            _ = fields.optional("description")?.string()
            var bins: [ScenarioBin] = []
            if let binsValue = fields.required("bins"), let items = binsValue.list() {
                if !(1...8).contains(items.count) { binsValue.error("a point has 1 to 8 bins, got \(items.count)") }
                for item in items {
                    guard let bin = ScenarioBin.read(item) else { continue }
                    if bins.contains(where: { $0.id == bin.id }) {
                        item.error("bin id \"\(bin.id)\" is used twice", field: "id")
                    }
                    bins.append(bin)
                }
            }
            let end = fields.required("end")?.double("must be 0 < end <= 400 days (in seconds)") {
                $0 > 0 && $0 <= 400 * 86_400
            }
            let reference = fields.optional("calibration_reference_kg")?.double("must be positive") { $0 > 0 } ?? 10
            let binIDs = Set(bins.map(\.id))
            var events: [ScenarioEvent] = []
            for item in fields.optional("events")?.list() ?? [] {
                if let event = ScenarioEvent.read(item, bins: binIDs, end: end) { events.append(event) }
            }
            guard let device, let start, let end else { return nil }
            // Stable sort: events at the same second keep their file order.
            events = events.enumerated().sorted { ($0.element.at, $0.offset) < ($1.element.at, $1.offset) }.map(
                \.element)
            return Scenario(
                device: device, start: start, seed: seed, temperatureC: temperatureC, bins: bins, events: events,
                end: end,
                calibrationReferenceKg: reference)
        }
    }
}

/// One bin: what an installer measures and types in (`stream`, `shape`, ranger mount height), and the
/// simulated parts' hidden constants (`scale`, ranger jitter), which the daemon must never read.
public struct ScenarioBin: Sendable, Equatable {
    public var id: String
    public var stream: WasteStream
    public var shape: ScenarioShape
    public var scale: ScaleSpec
    public var ranger: RangerSpec
    /// Whether the bin has a lid with a switch.
    public var lid: Bool

    static func read(_ value: YAMLValue) -> ScenarioBin? {
        value.fields { fields in
            let id = fields.required("id")?.identifier("bin id")
            let stream = fields.required("stream")?.choice(WasteStream.self)
            let shape = fields.required("shape").flatMap(ScenarioShape.read)
            let scale = fields.optional("scale").map(ScaleSpec.read) ?? ScaleSpec()
            let rangerValue = fields.optional("ranger")
            let ranger = rangerValue.map(RangerSpec.read) ?? RangerSpec()
            let lid = fields.optional("lid")?.bool() ?? true
            if let shape, let rangerValue, ranger.mountMm >= shape.depthMm {
                rangerValue.error(
                    "\(ConfigText.number(ranger.mountMm)) mm must be less than the bin depth \(ConfigText.number(shape.depthMm)) mm",
                    field: "mount_mm")
                return nil
            }
            guard let id, let stream, let shape else { return nil }
            return ScenarioBin(id: id, stream: stream, shape: shape, scale: scale, ranger: ranger, lid: lid)
        }
    }

    public struct ScaleSpec: Sendable, Equatable {
        public var countsPerKg: Double = 21_000
        public var offsetCounts: Double = 84_000
        public var noiseCounts: Double = 30
        /// Samples per second: 10 or 80 (the HX711's RATE pin).
        public var rate: Int = 10

        public init() {}

        /// The spec with what `value` sets; a wrong field is reported and keeps its default.
        static func read(_ value: YAMLValue) -> ScaleSpec {
            var spec = ScaleSpec()
            _ = value.fields { fields -> Void? in
                if let v = fields.optional("counts_per_kg")?.double("must be positive", where: { $0 > 0 }) {
                    spec.countsPerKg = v
                }
                if let v = fields.optional("offset_counts")?.double(
                    "must be within ±4,000,000", where: { abs($0) < 4_000_000 })
                {
                    spec.offsetCounts = v
                }
                if let v = fields.optional("noise_counts")?.double("must not be negative", where: { $0 >= 0 }) {
                    spec.noiseCounts = v
                }
                if let rateValue = fields.optional("rate"), let rate = rateValue.int() {
                    if rate == 10 || rate == 80 {
                        spec.rate = rate
                    } else {
                        rateValue.error("must be 10 or 80, got \(rate)")
                    }
                }
                return ()
            }
            return spec
        }
    }

    public struct RangerSpec: Sendable, Equatable {
        /// Height of the sensor's face above the bin's rim (an installer measures it).
        public var mountMm: Double = 40
        /// Standard deviation of the echo width, µs.
        public var jitterUs: Double = 8
        /// How uneven the waste surface is, mm (standard deviation; redrawn after each deposit).
        public var surfaceRoughnessMm: Double = 5
        /// `hc-sr04` or `jsn-sr04t`.
        public var model: String = "hc-sr04"

        public init() {}

        enum Model: String, CaseIterable {
            case hcSR04 = "hc-sr04"
            case jsnSR04T = "jsn-sr04t"
        }

        /// The spec with what `value` sets; a wrong field is reported and keeps its default.
        static func read(_ value: YAMLValue) -> RangerSpec {
            var spec = RangerSpec()
            _ = value.fields { fields -> Void? in
                let notNegative = "must not be negative"
                if let v = fields.optional("mount_mm")?.double(notNegative, where: { $0 >= 0 }) { spec.mountMm = v }
                if let v = fields.optional("jitter_us")?.double(notNegative, where: { $0 >= 0 }) { spec.jitterUs = v }
                if let v = fields.optional("surface_roughness_mm")?.double(notNegative, where: { $0 >= 0 }) {
                    spec.surfaceRoughnessMm = v
                }
                if let model = fields.optional("model")?.choice(Model.self) { spec.model = model.rawValue }
                return ()
            }
            return spec
        }
    }
}

/// Bin body shapes a scenario can describe.
public enum ScenarioShape: Sendable, Equatable {
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

    enum Kind: String, CaseIterable { case box, cylinder }

    static func read(_ value: YAMLValue) -> ScenarioShape? {
        value.fields { fields in
            func size(_ key: String) -> Double? {
                fields.required(key)?.double("must be 0 < x <= 20000 mm") { $0 > 0 && $0 <= 20_000 }
            }
            func absent(_ keys: String..., kind: Kind) {
                for key in keys { fields.optional(key)?.error("does not apply to a \(kind.rawValue)") }
            }
            switch fields.required("kind")?.choice(Kind.self) {
            case .box:
                absent("diameter_mm", kind: .box)
                let (width, length, depth) = (size("width_mm"), size("length_mm"), size("depth_mm"))
                guard let width, let length, let depth else { return nil }
                return .box(widthMm: width, lengthMm: length, depthMm: depth)
            case .cylinder:
                absent("width_mm", "length_mm", kind: .cylinder)
                let (diameter, depth) = (size("diameter_mm"), size("depth_mm"))
                guard let diameter, let depth else { return nil }
                return .cylinder(diameterMm: diameter, depthMm: depth)
            case nil:
                fields.skip("width_mm", "length_mm", "depth_mm", "diameter_mm")
                return nil
            }
        }
    }
}

/// One timeline entry: `at` seconds after the start, exactly one action.
public struct ScenarioEvent: Sendable, Equatable {
    public var at: Double
    public var action: ScenarioAction

    public init(at: Double, action: ScenarioAction) {
        self.at = at
        self.action = action
    }

    static let actionKeys = ["deposit", "collect", "fault", "temperature_c", "network"]

    /// `bins` are the scenario's bin ids, `end` its end (nil when that is wrong itself).
    static func read(_ value: YAMLValue, bins: Set<String>, end: Double?) -> ScenarioEvent? {
        value.fields { fields in
            let atValue = fields.required("at")
            var at = atValue?.double()
            if let atValue, let time = at, time < 0 || end.map({ time > $0 }) == true {
                atValue.error(
                    "at \(ConfigText.number(time)) s is outside the scenario (0...\(end.map(ConfigText.number) ?? "end"))"
                )
                at = nil
            }
            let present = actionKeys.filter { fields.contains($0) }
            guard present.count == 1 else {
                value.error("needs exactly one of \(actionKeys.joined(separator: ", ")) (found \(present.count))")
                fields.skip("deposit", "collect", "fault", "temperature_c", "network")
                return nil
            }
            let action: ScenarioAction?
            switch present[0] {
            case "deposit":
                action = fields.optional("deposit").flatMap { ScenarioDeposit.read($0, bins: bins) }.map {
                    .deposit($0)
                }
            case "collect":
                action = fields.optional("collect").flatMap { ScenarioCollect.read($0, bins: bins) }.map {
                    .collect($0)
                }
            case "fault":
                action = fields.optional("fault").flatMap { ScenarioFault.read($0, bins: bins) }.map { .fault($0) }
            case "network": action = fields.optional("network").flatMap(ScenarioNetwork.read).map { .network($0) }
            default:
                action = fields.required("temperature_c")?.double("outside -40...60 °C") { (-40...60).contains($0) }.map
                { .temperature($0) }
            }
            guard let at, let action else { return nil }
            return ScenarioEvent(at: at, action: action)
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
}

/// Someone opens the lid, drops waste, closes the lid.
public struct ScenarioDeposit: Sendable, Equatable {
    public var bin: String
    public var massKg: Double
    /// Loose volume the waste takes up in the bin.
    public var volumeL: Double
    /// What the waste really is; defaults to the bin's declared stream. A `dry` deposit into a wet bin
    /// is mis-sorting the daemon should notice.
    public var material: WasteStream?
    /// How long the lid stays open.
    public var lidOpenS: Double

    static func read(_ value: YAMLValue, bins: Set<String>) -> ScenarioDeposit? {
        value.fields { fields in
            let bin = fields.required("bin")?.bin(of: bins)
            let mass = fields.required("mass_kg")?.double("must be 0 < mass <= 5000 kg") { $0 > 0 && $0 <= 5000 }
            let volume = fields.required("volume_l")?.double("must be 0 < volume <= 50000 L") { $0 > 0 && $0 <= 50_000 }
            let material = fields.optional("material")?.choice(WasteStream.self)
            let lidOpenS = fields.optional("lid_open_s")?.double("must be 1...3600 s") { $0 >= 1 && $0 <= 3600 } ?? 5
            guard let bin, let mass, let volume else { return nil }
            return ScenarioDeposit(bin: bin, massKg: mass, volumeL: volume, material: material, lidOpenS: lidOpenS)
        }
    }
}

/// A crew empties the bin.
public struct ScenarioCollect: Sendable, Equatable {
    public var bin: String

    static func read(_ value: YAMLValue, bins: Set<String>) -> ScenarioCollect? {
        value.fields { fields in fields.required("bin")?.bin(of: bins).map(ScenarioCollect.init) }
    }
}

/// A sensor misbehaves for a while (or for the rest of the scenario).
public struct ScenarioFault: Sendable, Equatable {
    public enum Sensor: String, Sendable, Equatable, CaseIterable { case scale, ranger, lid }
    public enum Kind: String, Sendable, Equatable, CaseIterable {
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

    static func read(_ value: YAMLValue, bins: Set<String>) -> ScenarioFault? {
        value.fields { fields in
            let bin = fields.required("bin")?.bin(of: bins)
            let sensor = fields.required("sensor")?.choice(Sensor.self)
            let kindValue = fields.required("kind")
            let kind = kindValue?.choice(Kind.self)
            let forValue = fields.optional("for_s")
            let forS = forValue?.double("must be positive") { $0 > 0 }
            guard let bin, let sensor, let kind, forValue == nil || forS != nil else { return nil }
            guard possible(sensor, kind) else {
                kindValue?.error("a \(sensor.rawValue) cannot have fault \(kind.rawValue)")
                return nil
            }
            return ScenarioFault(bin: bin, sensor: sensor, kind: kind, forS: forS)
        }
    }

    static func possible(_ sensor: Sensor, _ kind: Kind) -> Bool {
        switch (sensor, kind) {
        case (.ranger, .noEcho), (.ranger, .stuck), (.ranger, .noise),
            (.scale, .disconnected), (.scale, .stuck), (.scale, .noise), (.scale, .saturated),
            (.lid, .stuck), (.lid, .disconnected):
            true
        default:
            false
        }
    }
}

/// The point's network link goes down (the daemon keeps sensing and queues events in its outbox).
public struct ScenarioNetwork: Sendable, Equatable {
    public var downForS: Double

    static func read(_ value: YAMLValue) -> ScenarioNetwork? {
        value.fields { fields in
            fields.required("down_for_s")?.double("must be positive") { $0 > 0 }.map(ScenarioNetwork.init)
        }
    }
}

extension YAMLValue {
    /// A bin id that names one of the scenario's `bins`.
    fileprivate func bin(of bins: Set<String>) -> String? {
        guard let id = string() else { return nil }
        guard bins.contains(id) else {
            error("no bin \(ConfigText.quote(id)) in bins")
            return nil
        }
        return id
    }
}
