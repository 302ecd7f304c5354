import BinProtocol
import GPIO
import Synchronization

/// The physical world of one simulated sorting point: bins with their true contents, the air, and the
/// line-level models of their sensors wired to a `SimulatedChip` that looks like the `sim` board.
///
/// The daemon only ever sees the chip's lines. What the world knows (true masses, volumes, materials,
/// the parts' constants) is the *truth* a test or the accuracy table compares the daemon's output with.
public final class BinWorld: Sendable {
    /// Lines of one bin on the `sim` board, as an installer wires them (pin names `GPIO<n>`).
    public struct Wiring: Sendable, Hashable {
        public var bin: String
        public var scaleClock: LineOffset
        public var scaleData: LineOffset
        public var rangerTrigger: LineOffset
        public var rangerEcho: LineOffset
        /// `nil` when the bin has no lid switch.
        public var lid: LineOffset?

        /// The board pin name of a line, e.g. `GPIO17`.
        public static func pinName(_ offset: LineOffset) -> String { "GPIO\(offset)" }
    }

    /// One thing that happened to a bin, as it truly happened.
    public struct TruthRecord: Sendable, Hashable {
        public enum Kind: Sendable, Hashable {
            case deposit(massKg: Double, volumeL: Double, material: WasteStream)
            case collection(massKg: Double)
        }

        public var bin: String
        /// Seconds after the scenario start.
        public var at: Double
        public var kind: Kind

        public init(bin: String, at: Double, kind: Kind) {
            self.bin = bin
            self.at = at
            self.kind = kind
        }
    }

    /// Virtual nanoseconds given before the scenario start: the simulated installer tares and calibrates
    /// every scale in this time, and the daemon settles.
    public static let leadInNanoseconds: UInt64 = 600 * 1_000_000_000

    public static let boardLineCount = 64

    public let scenario: Scenario
    public let chip: SimulatedChip
    public let wiring: [Wiring]
    /// Virtual time of the scenario's `start`.
    public let startNanoseconds: UInt64
    let bins: [SimulatedBin]
    let temperature: Mutex<Double>
    let log: TruthLog

    /// Builds the chip and the parts; nothing happens until `scheduleTimeline()` and the daemon run.
    public init(scenario: Scenario, pacing: SimulatedChip.Pacing = .virtual) throws(GPIOError) {
        self.scenario = scenario
        let names = (0..<Self.boardLineCount).map { Wiring.pinName(LineOffset($0)) }
        chip = SimulatedChip(name: "gpiochip0", label: "bins-sim", lineNames: names, pacing: pacing)
        startNanoseconds = Self.leadInNanoseconds
        temperature = Mutex(scenario.temperatureC)
        log = TruthLog()
        var wiring: [Wiring] = []
        var bins: [SimulatedBin] = []
        for (index, spec) in scenario.bins.enumerated() {
            let base = LineOffset(4 + index * 5)
            let wire = Wiring(
                bin: spec.id, scaleClock: base, scaleData: base + 1, rangerTrigger: base + 2, rangerEcho: base + 3,
                lid: spec.lid ? base + 4 : nil)
            wiring.append(wire)
            bins.append(
                try SimulatedBin(
                    spec: spec, wiring: wire, chip: chip, seed: scenario.seed, temperature: scenario.temperatureC))
        }
        self.wiring = wiring
        self.bins = bins
    }

    // MARK: Time

    /// The wall-clock time a virtual instant stands for (the scenario's `start` at `startNanoseconds`).
    public func timestamp(atNanoseconds nanoseconds: UInt64) -> WireTimestamp {
        let offsetMs = (Int64(bitPattern: nanoseconds) - Int64(startNanoseconds)) / 1_000_000
        return scenario.start.adding(milliseconds: offsetMs)
    }

    /// Virtual time of `seconds` after the scenario start.
    public func nanoseconds(afterStart seconds: Double) -> UInt64 {
        startNanoseconds + UInt64((seconds * 1e9).rounded())
    }

    public var endNanoseconds: UInt64 { nanoseconds(afterStart: scenario.end) }

    // MARK: Observables the daemon may use (through their own paths on hardware)

    /// Air temperature, as a DS18B20 next to the bins would report it.
    public var temperatureC: Double { temperature.withLock { $0 } }

    // MARK: Truth

    /// Everything that truly happened so far, in time order.
    public var truth: [TruthRecord] { log.records }

    /// True mass in a bin now, kg.
    public func trueMassKg(bin: String) -> Double? { self.bin(bin)?.contents.withLock { $0.massKg } }

    /// True loose volume in a bin now, L.
    public func trueVolumeL(bin: String) -> Double? { self.bin(bin)?.contents.withLock { $0.volumeL } }

    func bin(_ id: String) -> SimulatedBin? { bins.first { $0.spec.id == id } }

    // MARK: The installer's hands

    /// Puts a reference mass on an (empty) scale or takes it off again, as during calibration.
    public func setReferenceMass(bin: String, kg: Double) {
        guard let target = self.bin(bin) else { return }
        target.contents.withLock { $0.referenceKg = kg }
        target.updateSensors()
    }

    // MARK: Timeline

    /// Schedules every scenario event on the chip at its virtual time. `network` is called (under the
    /// chip's lock: it must not call the chip) when the link goes down, with the virtual time it comes
    /// back up.
    public func scheduleTimeline(network: @escaping @Sendable (_ downUntilNanoseconds: UInt64) -> Void = { _ in }) {
        for event in scenario.events {
            let due = nanoseconds(afterStart: event.at)
            let at = event.at
            switch event.action {
            case .deposit(let deposit):
                guard let target = bin(deposit.bin) else { continue }
                target.scheduleDeposit(deposit, at: due, atSeconds: at, log: log)
            case .collect(let collect):
                guard let target = bin(collect.bin) else { continue }
                target.scheduleCollection(at: due, atSeconds: at, log: log)
            case .fault(let fault):
                guard let target = bin(fault.bin) else { continue }
                target.scheduleFault(fault, at: due, until: fault.forS.map { nanoseconds(afterStart: at + $0) })
            case .temperature(let celsius):
                // Weak: the chip's queue must not keep the world (which owns the chip) alive.
                chip.schedule(atNanoseconds: due) { [weak self] _ in
                    guard let self else { return }
                    temperature.withLock { $0 = celsius }
                    for bin in bins { bin.ranger.temperatureCelsius = celsius }
                }
            case .network(let outage):
                let until = nanoseconds(afterStart: at + outage.downForS)
                chip.schedule(atNanoseconds: due) { _ in network(until) }
            }
        }
    }
}

/// Everything that truly happened, appended from scheduled actions and read by tests.
final class TruthLog: Sendable {
    private let entries = Mutex<[BinWorld.TruthRecord]>([])

    func append(_ record: BinWorld.TruthRecord) { entries.withLock { $0.append(record) } }
    var records: [BinWorld.TruthRecord] { entries.withLock { $0 } }
}

/// An independent seed for one part, derived from the scenario seed and the part's name.
func derivedSeed(_ seed: UInt64, _ part: String) -> UInt64 {
    var generator = SeededRandomGenerator(seed: seed, stream: part)
    return generator.next()
}

/// One bin's contents and parts.
final class SimulatedBin: Sendable {
    struct Contents: Sendable {
        var massKg = 0.0
        var volumeL = 0.0
        /// Calibration weight lying on the scale.
        var referenceKg = 0.0
        /// Offset of the uneven surface under the ranger, mm (positive = lower than the mean level).
        var roughnessMm = 0.0
        var lidOpen = false
    }

    let spec: ScenarioBin
    let scale: HX711Model
    let ranger: UltrasonicRangerModel
    let lid: LidSwitchModel?
    let contents: Mutex<Contents>
    let random: Mutex<SeededRandomGenerator>
    /// The world owns the chip; scheduled actions hold the bin, so the bin must not hold the chip.
    weak let chip: SimulatedChip?

    init(spec: ScenarioBin, wiring: BinWorld.Wiring, chip: SimulatedChip, seed: UInt64, temperature: Double)
        throws(GPIOError)
    {
        self.spec = spec
        self.chip = chip
        scale = try HX711Model(
            chip: chip, clockLine: wiring.scaleClock, dataLine: wiring.scaleData,
            configuration: .init(
                dataRate: spec.scale.rate == 80 ? .eightyPerSecond : .tenPerSecond,
                offsetCounts: spec.scale.offsetCounts, countsPerKilogram: spec.scale.countsPerKg,
                noiseCounts: spec.scale.noiseCounts,
                seed: derivedSeed(seed, "\(spec.id).scale")))
        var rangerConfiguration: UltrasonicRangerModel.Configuration =
            spec.ranger.model == "jsn-sr04t" ? .jsnSR04T : .hcSR04
        rangerConfiguration.jitterNanoseconds = spec.ranger.jitterUs * 1000
        rangerConfiguration.seed = derivedSeed(seed, "\(spec.id).ranger")
        ranger = try UltrasonicRangerModel(
            chip: chip, triggerLine: wiring.rangerTrigger, echoLine: wiring.rangerEcho,
            configuration: rangerConfiguration)
        ranger.temperatureCelsius = temperature
        if let line = wiring.lid {
            lid = try LidSwitchModel(
                chip: chip, line: line,
                configuration: .init(seed: derivedSeed(seed, "\(spec.id).lid")))
        } else {
            lid = nil
        }
        contents = Mutex(Contents())
        random = Mutex(SeededRandomGenerator(seed: seed, stream: "\(spec.id).world"))
        updateSensors()
    }

    /// Puts the world's state on the parts: mass on the load cell, surface under the ranger.
    func updateSensors() {
        let now = contents.withLock { $0 }
        scale.massKilograms = now.massKg + now.referenceKg
        if now.lidOpen {
            // The ranger sits under the lid: open, it looks at the sky or a wall somewhere.
            ranger.distanceMillimetres = random.withLock { $0.nextDouble(in: 1_500...3_500) }
        } else {
            ranger.distanceMillimetres = distanceToSurfaceMm(now)
        }
    }

    func distanceToSurfaceMm(_ contents: Contents) -> Double {
        let heightMm = contents.volumeL * 1_000_000 / spec.shape.crossSectionMm2
        let distance = spec.ranger.mountMm + spec.shape.depthMm - heightMm + contents.roughnessMm
        return max(0, distance)
    }

    func setLid(_ open: Bool, bus: inout SimulationBus) {
        contents.withLock { $0.lidOpen = open }
        lid?.setOpen(open, on: &bus)
        updateSensors()
    }

    func scheduleDeposit(
        _ deposit: ScenarioDeposit, at due: UInt64, atSeconds: Double, log: TruthLog
    ) {
        let openFor = UInt64(deposit.lidOpenS * 1e9)
        let material = deposit.material ?? spec.stream
        let roughness = spec.ranger.surfaceRoughnessMm
        chip?.schedule(atNanoseconds: due) { [self] bus in
            setLid(true, bus: &bus)
            // The waste lands a moment after the lid opens; it swings the load cell for a second.
            bus.schedule(afterNanoseconds: min(openFor / 2, 1_500_000_000)) { [self] bus in
                let offset = random.withLock { $0.nextGaussian(standardDeviation: roughness) }
                contents.withLock {
                    $0.massKg += deposit.massKg
                    $0.volumeL += deposit.volumeL
                    $0.roughnessMm = offset
                }
                log.append(
                    BinWorld.TruthRecord(
                        bin: spec.id, at: atSeconds,
                        kind: .deposit(massKg: deposit.massKg, volumeL: deposit.volumeL, material: material)))
                updateSensors()
            }
            bus.schedule(afterNanoseconds: openFor) { [self] bus in setLid(false, bus: &bus) }
        }
    }

    func scheduleCollection(at due: UInt64, atSeconds: Double, log: TruthLog) {
        chip?.schedule(atNanoseconds: due) { [self] bus in
            setLid(true, bus: &bus)
            bus.schedule(afterNanoseconds: 3_000_000_000) { [self] _ in
                let collected = contents.withLock { contents in
                    defer {
                        contents.massKg = 0
                        contents.volumeL = 0
                        contents.roughnessMm = 0
                    }
                    return contents.massKg
                }
                log.append(BinWorld.TruthRecord(bin: spec.id, at: atSeconds, kind: .collection(massKg: collected)))
                updateSensors()
            }
            bus.schedule(afterNanoseconds: 12_000_000_000) { [self] bus in setLid(false, bus: &bus) }
        }
    }

    func scheduleFault(_ fault: ScenarioFault, at due: UInt64, until: UInt64?) {
        chip?.schedule(atNanoseconds: due) { [self] bus in apply(fault, active: true, bus: &bus) }
        if let until {
            chip?.schedule(atNanoseconds: until) { [self] bus in apply(fault, active: false, bus: &bus) }
        }
    }

    func apply(_ fault: ScenarioFault, active: Bool, bus: inout SimulationBus) {
        switch fault.sensor {
        case .scale:
            let model: HX711Model.Fault?
            switch fault.kind {
            case .disconnected, .noEcho: model = .disconnected
            case .saturated: model = .saturated
            case .noise: model = .extraNoise(standardDeviationCounts: max(2_000, spec.scale.noiseCounts * 50))
            case .stuck:
                let mass = contents.withLock { $0.massKg + $0.referenceKg }
                model = .stuck(code: scale.idealCode(massKilograms: mass, gain: .channelA128))
            }
            scale.setFault(active ? model : nil, on: &bus)
        case .ranger:
            switch fault.kind {
            case .stuck: ranger.fault = active ? .stuck(distanceMillimetres: ranger.distanceMillimetres) : nil
            case .noise: ranger.fault = active ? .extraNoise(jitterNanoseconds: 300_000) : nil
            default: ranger.fault = active ? .disconnected : nil
            }
        case .lid:
            guard let lid else { return }
            switch fault.kind {
            case .stuck: lid.setFault(active ? .stuck(open: false) : nil, on: &bus)
            default: lid.setFault(active ? .disconnected : nil, on: &bus)
            }
        }
    }
}
