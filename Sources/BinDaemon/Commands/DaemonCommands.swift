import BinProtocol
import Logging
import Sensors
import YAMLConfig

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What the `binsd` subcommands do; `Sources/binsd/main.swift` only parses arguments and calls these.
public enum DaemonCommands {
    public static func loaderOptions(boardDirectories: [String]) -> ConfigLoader.Options {
        ConfigLoader.Options(
            boardSearchPaths: boardDirectories + BoardLoader.systemSearchPaths, checkReferencedFiles: true)
    }

    // MARK: check-config

    /// Validates a configuration without touching hardware or the network. The text lists every error and
    /// warning as `file:line:column: field: message`, then a summary line.
    public static func checkConfig(path: String, boardDirectories: [String]) -> (text: String, ok: Bool) {
        do {
            let config = try ConfigLoader.load(path: path, options: loaderOptions(boardDirectories: boardDirectories))
            var lines = config.warnings.map(\.description)
            lines.append(
                "\(path): OK: device \(config.device), board \(config.board.name), \(config.bins.count) bin(s) (\(config.bins.map(\.id).joined(separator: ", "))), broker \(config.broker.url), config hash \(config.configHash)"
                    + (config.warnings.isEmpty ? "" : ", \(config.warnings.count) warning(s)"))
            return (lines.joined(separator: "\n"), true)
        } catch {
            var lines = error.issues.map(\.description)
            lines.append(error.message)
            return (lines.joined(separator: "\n"), false)
        }
    }

    // MARK: run

    /// The daemon on real hardware: checks calibration, opens the sensors, connects, samples and publishes
    /// until SIGTERM or SIGINT; SIGHUP reloads the configuration. `config` is the file at `configPath`,
    /// loaded with `options` (which reloads use). The `sim` board is run by `binsd-simulate`, which links the
    /// simulator this daemon does not (`SimulatorExecutable`).
    public static func run(
        config: DaemonConfig, configPath: String, options: ConfigLoader.Options, levels: LogLevelControl, logger: Logger
    ) async throws {
        guard config.board.name != BoardDefinition.simulatedBoardName else {
            throw BinDaemonError(
                .invalidConfig, "\(configPath): board sim is run by binsd-simulate (binsd run starts it)")
        }
        try await run(config: config, configPath: configPath, options: options, levels: levels, logger: logger) {
            notifier throws(BinDaemonError) in
            // Before touching hardware: an installer should see what is missing in one go.
            let store = CalibrationStore(directory: config.calibrationDirectory)
            _ = try Daemon.checkCalibration(config, store: store)
            let platform = DaemonPlatform.hardware(config, notifier: notifier)
            var sensors: [BinSensors] = []
            for bin in config.bins { sensors.append(try BinSensors.open(bin, chips: platform.chips)) }
            return (platform, sensors)
        }
    }

    /// The daemon on the platform and sensors `open` gives (real hardware above, a simulated point in
    /// `binsd-simulate`): the same pipeline, publishers, reloads and systemd notifications for both.
    public static func run(
        config: DaemonConfig, configPath: String, options: ConfigLoader.Options, levels: LogLevelControl,
        logger: Logger,
        open: (SystemdNotifier?) throws(BinDaemonError) -> (platform: DaemonPlatform, sensors: [BinSensors])
    ) async throws {
        levels.set(config.logging.level)
        for warning in config.warnings { logger.warning("config.warning", metadata: ["config.issue": "\(warning)"]) }
        let notifier = SystemdNotifier.fromEnvironment()
        notifier?.notify("STATUS=opening sensors")
        let (platform, sensors) = try open(notifier)
        let daemon = try Daemon(config: config, sensors: sensors, platform: platform, logger: logger)
        notifier?.notify("STATUS=sensors open, connecting to \(config.broker.url.endpoint)")
        let reloader = ConfigReloader(
            path: configPath, options: options, daemon: daemon, levels: levels, logger: logger)
        try await daemon.run(extra: [.init(service: reloader)])
        logger.info("daemon.stopped")
    }

    // MARK: calibrate

    public enum CalibrationStep: Sendable {
        case tare
        case knownMass(kg: Double)
    }

    /// One installer calibration step on one bin's scale, stored in the state directory; returns what to
    /// tell the installer. Must not run while the daemon holds the lines (the error then says EBUSY).
    public static func calibrate(configPath: String, boardDirectories: [String], bin: String, step: CalibrationStep)
        throws
        -> String
    {
        let config = try ConfigLoader.load(path: configPath, options: loaderOptions(boardDirectories: boardDirectories))
        guard config.board.name != BoardDefinition.simulatedBoardName else {
            throw BinDaemonError(
                .calibrationFailed, "board sim: the simulated installer calibrates (binsd run or binsd simulate)")
        }
        guard let binConfig = config.bin(id: bin) else {
            throw BinDaemonError(
                .calibrationFailed,
                "\(configPath): no bin \"\(bin)\" (bins: \(config.bins.map(\.id).joined(separator: ", ")))")
        }
        let sensors = try BinSensors.open(binConfig, chips: .hardware(), consumer: "binsd-calibrate")
        let store = CalibrationStore(directory: config.calibrationDirectory)
        let previous = try store.load(bin: bin)
        let calibrator = ScaleCalibrator()
        let now = WireTimestamp.now()
        let calibration: StoredCalibration
        switch step {
        case .tare:
            calibration = try calibrator.tare(sensors.scale, previous: previous, at: now)
        case .knownMass(let kg):
            calibration = try calibrator.calibrate(sensors.scale, knownKg: kg, previous: previous, bin: bin, at: now)
        }
        try store.save(calibration, bin: bin)
        var text = "bin \(bin): zero at \(Int(calibration.offsetCounts.rounded())) counts"
        if let noise = calibration.noiseCounts {
            text += ", noise \(ConfigText.number(noise.rounded())) counts per reading"
        }
        if let slope = calibration.countsPerKg {
            text += ", \(ConfigText.number((slope * 10).rounded() / 10)) counts per kg"
            if let noiseKg = calibration.noiseKg {
                text +=
                    " (noise \(ConfigText.number((noiseKg * 10_000).rounded() / 10)) g: set thresholds.scale_noise_kg to about \(ConfigText.number((noiseKg * 10_000).rounded() / 10_000)))"
            }
        } else {
            text +=
                "; now put a known mass on the scale and run: binsd calibrate --config \(configPath) --bin \(bin) --known-kg MASS"
        }
        return text + "\nstored in \(store.path(bin: bin))"
    }

    // MARK: read

    /// One reading of every sensor, as an installer at the bin wants to see it.
    public static func read(configPath: String, boardDirectories: [String]) throws -> String {
        let config = try ConfigLoader.load(path: configPath, options: loaderOptions(boardDirectories: boardDirectories))
        guard config.board.name != BoardDefinition.simulatedBoardName else {
            throw BinDaemonError(
                .hardware, "board sim: there is no hardware to read (binsd simulate, or the MQTT read command)")
        }
        let platform = DaemonPlatform.hardware(config, notifier: nil)
        let store = CalibrationStore(directory: config.calibrationDirectory)
        let air = platform.temperature.read()
        var lines: [String] = []
        for bin in config.bins {
            let sensors = try BinSensors.open(bin, chips: platform.chips, consumer: "binsd-read")
            let calibration = try store.load(bin: bin.id)
            let reading = SensorSurvey.read(
                sensors, calibration: calibration, temperature: air, pings: config.sampling.rangerPings, quality: .good)
            lines.append(describe(reading, bin: bin, calibration: calibration))
        }
        let source: String =
            switch config.temperature {
            case .fixed: "fixed in the config"
            case .ds18b20: air.measured ? "DS18B20" : "fallback: \(air.problem ?? "no sensor")"
            }
        lines.append("temperature \(air.celsius.map { "\(ConfigText.number($0)) °C" } ?? "unknown") (\(source))")
        return lines.joined(separator: "\n")
    }

    static func describe(_ reading: SensorReading, bin: BinConfig, calibration: StoredCalibration?) -> String {
        var lines = [
            "bin \(bin.id) (\(bin.stream.rawValue), capacity \(ConfigText.number((bin.geometry.capacityL * 10).rounded() / 10)) L)"
        ]
        var scale = "  scale   "
        scale += reading.rawCounts.map { "raw \($0) counts" } ?? "no reading"
        if let mass = reading.massKg { scale += ", \(ConfigText.number(mass)) kg" }
        if let noiseKg = calibration?.noiseKg {
            scale += " (noise at the last tare \(ConfigText.number((noiseKg * 10_000).rounded() / 10)) g)"
        }
        lines.append(scale)
        if bin.ranger != nil {
            var ranger = "  ranger  "
            ranger += reading.distanceMm.map { "\(ConfigText.number($0)) mm" } ?? "no distance"
            if let fill = reading.fill { ranger += ", fill \(ConfigText.number((fill * 1000).rounded() / 10)) %" }
            lines.append(ranger)
        }
        if let lid = reading.lidOpen { lines.append("  lid     \(lid ? "open" : "closed")") }
        for error in reading.errors { lines.append("  problem \(error)") }
        return lines.joined(separator: "\n")
    }
}
