import BinDaemon
import BinProtocol
import Foundation
import GPIO
import Logging
import MQTT
import Simulation
import YAMLConfig

/// Sets a simulated point up the way an installer sets up a real one: types the configuration in from
/// what can be seen and measured (the bins' shapes, the ranger's mounting height, which pin goes where on
/// the `sim` board, the HX711's RATE jumper), then tares each empty scale and calibrates it with the
/// reference weight, through the same calibration path as `binsd calibrate`. The simulated parts' hidden
/// constants (counts per kg, offset, noise, jitter, surface roughness) are never read: the scale's noise
/// is measured from its readings, as an installer measures it with `binsd read`.
public enum ScenarioInstallation {
    /// The configuration an installer would write for `scenario`'s point wired as `world.wiring` says.
    /// `noiseKg` holds the scale noise measured per bin (none before the first calibration).
    public static func configYAML(
        scenario: Scenario, scenarioFile: String, wiring: [BinWorld.Wiring], broker: BrokerURL, username: String?,
        caFile: String? = nil, stateDirectory: String, noiseKg: [String: Double] = [:], outboxCapacity: Int? = nil,
        receipts: OutboxReceiptsConfig? = nil, logLevel: LogLevel = .info
    ) -> String {
        var lines = [
            "# Written by binsd simulate: what an installer would type in for the point of",
            "# \(scenarioFile). Pins are the sim board's GPIO lines the simulated parts are wired to.",
            "device: \(scenario.device)",
            "board: \(BoardDefinition.simulatedBoardName)",
            "state_dir: \(stateDirectory)",
            "broker:",
            "  url: \(broker)",
        ]
        if let username { lines.append("  username: \(username)") }
        if let caFile { lines.append("  ca_file: \(caFile)") }
        lines += [
            "  keepalive_s: 10",
            "temperature: {source: ds18b20, fallback_c: 20}",
            // A simulation needs no power-cut durability: batched syncs keep a long run fast.
            "outbox: {sync: normal\(outboxCapacity.map { ", capacity: \($0)" } ?? "")\(receipts.map { ", receipts: \($0.mode.rawValue), receipt_resend_s: \(ConfigText.number($0.resendAfterS)), receipt_fallback_s: \(ConfigText.number($0.fallbackAfterS))" } ?? "")}",
            "logging: {level: \(logLevel.rawValue)}",
            "bins:",
        ]
        for bin in scenario.bins {
            guard let wire = wiring.first(where: { $0.bin == bin.id }) else { continue }
            let pin = BinWorld.Wiring.pinName
            lines += [
                "  - id: \(bin.id)",
                "    stream: \(bin.stream.rawValue)",
                "    shape: \(shape(bin.shape))",
                "    sensors:",
                "      hx711: {dout: \(pin(wire.scaleData)), sck: \(pin(wire.scaleClock)), rate: \(bin.scale.rate)}",
                "      ranger: {trigger: \(pin(wire.rangerTrigger)), echo: \(pin(wire.rangerEcho)), model: \(bin.ranger.model), mount_mm: \(ConfigText.number(bin.ranger.mountMm))}",
            ]
            if let lid = wire.lid { lines.append("      lid: {pin: \(pin(lid)), open_level: high, bias: pull-up}") }
            if let noise = noiseKg[bin.id] {
                lines.append(
                    "    thresholds: {scale_noise_kg: \(ConfigText.number((max(noise, 0.0005) * 10_000).rounded() / 10_000))}"
                )
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func shape(_ shape: ScenarioShape) -> String {
        switch shape {
        case .box(let width, let length, let depth):
            "{kind: box, width_mm: \(ConfigText.number(width)), length_mm: \(ConfigText.number(length)), depth_mm: \(ConfigText.number(depth))}"
        case .cylinder(let diameter, let depth):
            "{kind: cylinder, diameter_mm: \(ConfigText.number(diameter)), depth_mm: \(ConfigText.number(depth))}"
        }
    }

    /// Tares every scale empty and calibrates it with the scenario's reference mass, storing the result in
    /// the configuration's state directory; returns the measured noise of one reading per bin, in kg.
    /// Runs in the world's lead-in, before the scenario starts.
    public static func calibrate(world: BinWorld, config: DaemonConfig, logger: Logger) throws(BinDaemonError)
        -> [String: Double]
    {
        let store = CalibrationStore(directory: config.calibrationDirectory)
        let chips = ChipDirectory.simulated(world.chip)
        let calibrator = ScaleCalibrator()
        let clock = ScenarioWallClock(world: world)
        let referenceKg = world.scenario.calibrationReferenceKg
        var noise: [String: Double] = [:]
        for bin in config.bins {
            let sensors = try BinSensors.open(bin, chips: chips, consumer: "binsd-installer")
            world.setReferenceMass(bin: bin.id, kg: 0)
            let tared = try calibrator.tare(
                sensors.scale, previous: nil, at: clock.timestamp(atChipNanoseconds: world.chip.nowNanoseconds))
            world.setReferenceMass(bin: bin.id, kg: referenceKg)
            let calibrated = try calibrator.calibrate(
                sensors.scale, knownKg: referenceKg, previous: tared, bin: bin.id,
                at: clock.timestamp(atChipNanoseconds: world.chip.nowNanoseconds))
            world.setReferenceMass(bin: bin.id, kg: 0)
            try store.save(calibrated, bin: bin.id)
            noise[bin.id] = calibrated.noiseKg
            logger.info(
                "installer.calibrated",
                metadata: [
                    "bin.id": "\(bin.id)", "calibration.offset_counts": "\(calibrated.offsetCounts)",
                    "calibration.counts_per_kg": "\(calibrated.countsPerKg ?? 0)",
                    "calibration.noise_kg": "\(calibrated.noiseKg ?? 0)", "calibration.reference_kg": "\(referenceKg)",
                ])
        }
        return noise
    }

    /// The simulated world of the scenario file at `path`, in virtual time, not yet started.
    static func world(scenarioPath path: String) throws(BinDaemonError) -> BinWorld {
        let scenario: Scenario
        do {
            scenario = try Scenario.load(path: path)
        } catch {
            throw BinDaemonError(error, invalid: .simulation)
        }
        do {
            return try BinWorld(scenario: scenario, pacing: .virtual)
        } catch {
            throw BinDaemonError(.simulation, "\(path): \(error)", cause: error)
        }
    }

    /// A simulated point for `binsd run` on the `sim` board (`simulation:` in the config): the world of the
    /// configured scenario, calibrated by the simulated installer, its virtual time following the wall clock
    /// at the configured speed from the scenario's start. The scenario's network outages do not apply (the
    /// daemon's network is real here).
    public static func runPlatform(
        config: DaemonConfig, settings: SimulationSettings, notifier: SystemdNotifier?, logger: Logger
    )
        throws(BinDaemonError) -> (platform: DaemonPlatform, sensors: [BinSensors], world: BinWorld)
    {
        let world = try world(scenarioPath: settings.scenario)
        _ = try calibrate(world: world, config: config, logger: logger)
        let chips = ChipDirectory.simulated(world.chip)
        var sensors: [BinSensors] = []
        for bin in config.bins { sensors.append(try BinSensors.open(bin, chips: chips)) }
        let control = SamplingControl()
        let pacer = SimulationPacer(
            originNanoseconds: world.startNanoseconds, speed: settings.speed, link: nil, wakeup: control.wakeup,
            logger: logger)
        world.scheduleTimeline()
        var platform = DaemonPlatform(
            chips: chips, clock: ScenarioWallClock(world: world), temperature: WorldTemperature(world: world),
            pacer: pacer,
            notifier: notifier)
        platform.control = control
        return (platform, sensors, world)
    }
}
