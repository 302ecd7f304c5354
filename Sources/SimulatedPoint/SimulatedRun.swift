import BinDaemon
import Logging

/// `binsd run` on the `sim` board (`simulation: {scenario: FILE, speed: X}` in the config), which `binsd`
/// hands to `binsd-simulate`: the daemon as on hardware, on the platform of the scenario's world,
/// calibrated by the simulated installer, its virtual time following the wall clock at the given speed.
public enum SimulatedRun {
    public static func run(
        config: DaemonConfig, configPath: String, options: ConfigLoader.Options, levels: LogLevelControl, logger: Logger
    ) async throws {
        guard config.board.name == BoardDefinition.simulatedBoardName else {
            throw BinDaemonError(
                .invalidConfig,
                "\(configPath): board \(config.board.name) is hardware: run it with binsd run, not binsd-simulate")
        }
        guard let settings = config.simulation else {
            throw BinDaemonError(
                .invalidConfig, "\(configPath): board sim needs simulation: {scenario: FILE} (or use binsd simulate)")
        }
        try await DaemonCommands.run(
            config: config, configPath: configPath, options: options, levels: levels, logger: logger
        ) {
            notifier throws(BinDaemonError) in
            // The platform's clock and temperature keep the simulated world alive.
            let point = try ScenarioInstallation.runPlatform(
                config: config, settings: settings, notifier: notifier, logger: logger)
            return (point.platform, point.sensors)
        }
    }
}
