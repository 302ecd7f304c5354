import ArgumentParser
import BinDaemon
import BinProtocol
import Logging
import MQTT
import SimulatedPoint
import YAMLConfig

/// `binsd-simulate`: simulated sorting points, kept out of the daemon that is installed on boards. `binsd
/// simulate ...` and `binsd run` on the `sim` board hand over to it (`SimulatorExecutable`). This file only
/// parses arguments, sets up logging and calls `ScenarioRunner` / `SimulatedRun`.
@main
struct BinsdSimulate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "binsd-simulate",
        abstract: "Simulated sorting points for binsd: scenario runs and the sim board (started by binsd).",
        version: BinDaemonVersion.current,
        subcommands: [Simulate.self, Run.self],
        defaultSubcommand: Simulate.self)
}

let logLevels = LogLevelControl(.info)

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Run the daemon on the sim board, driving the configured scenario's world (what binsd run does there).")

    @Option(help: "The configuration file (board: sim, simulation: {scenario: FILE}).") var config: String
    @Option(
        name: .customLong("boards"), help: "A directory of board files searched before the system ones (repeatable).")
    var boardDirectories: [String] = []

    func run() async throws {
        let options = DaemonCommands.loaderOptions(boardDirectories: boardDirectories)
        let loaded = Result { () throws(BinDaemonError) in try ConfigLoader.load(path: config, options: options) }
        logLevels.bootstrap((try? loaded.get())?.logging.format ?? .text)
        try await SimulatedRun.run(
            config: loaded.get(), configPath: config, options: options, levels: logLevels,
            logger: Logger(label: "binsd"))
    }
}

struct Simulate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one simulated sorting point through a scenario file in virtual time against a real broker.",
        discussion: """
            Prints one JSON summary line on standard output when done; logs go to standard error. Exits 0 when \
            the scenario has ended and the outbox is empty, or after SIGTERM/SIGINT (offline status published).
            """)

    @Option(help: "The scenario file (DESIGN section 8).") var scenario: String
    @Option(help: "The broker as HOST:PORT (IPv6 in brackets; port 1883 if left out).") var broker: String
    @Option(help: "MQTT username (default: the scenario's device id).") var username: String?
    @Option(help: "MQTT password.") var password: String?
    @Option(name: .customLong("password-file"), help: "A file whose first line is the MQTT password.") var passwordFile:
        String?
    @Option(
        name: .customLong("ca-file"),
        help: "Connect with TLS (mqtts), checking the broker's certificate against this CA.")
    var caFile: String?
    @Option(
        name: .customLong("state-dir"),
        help: "Calibration, outbox and the written config (default: a new temporary directory).")
    var stateDir: String?
    @Option(name: .customLong("truth-out"), help: "Write the world's truth records here as JSON.") var truthOut: String?
    @Option(help: "Virtual seconds per real second from the scenario's start (default: as fast as possible).")
    var speed: Double?
    @Option(name: .customLong("outbox-capacity"), help: "Events the outbox keeps before dropping the oldest.")
    var outboxCapacity: Int?
    @Option(
        help:
            "When events leave the outbox: auto (at the aggregator's receipt once it announces receipts), required, or off (at the broker's PUBACK)."
    )
    var receipts: String?
    @Option(
        name: .customLong("receipt-resend-s"),
        help: "Quiet seconds before events no receipt covers are sent again (60).")
    var receiptResendS: Double?
    @Option(name: .customLong("drain-timeout"), help: "Seconds to wait for the outbox to empty after the end.")
    var drainTimeout: Double = 120
    @Option(name: .customLong("connect-timeout"), help: "Seconds to wait for the first broker connection.")
    var connectTimeout: Double = 30
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error, critical.") var logLevel:
        String = "info"
    @Option(name: .customLong("log-format"), help: "text or json.") var logFormat: String = "text"

    func validate() throws {
        guard password == nil || passwordFile == nil else {
            throw ValidationError("give --password or --password-file, not both")
        }
        guard LogLevel(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level \(logLevel) is not a level")
        }
        guard LogFormat(rawValue: logFormat) != nil else { throw ValidationError("--log-format must be text or json") }
        if let speed, !(speed > 0) { throw ValidationError("--speed must be positive") }
        guard drainTimeout > 0, connectTimeout > 0 else { throw ValidationError("timeouts must be positive") }
        if let receipts, OutboxReceiptsConfig.Mode(rawValue: receipts) == nil {
            throw ValidationError("--receipts must be auto, required or off")
        }
        if let receiptResendS, !(1...86400).contains(receiptResendS) {
            throw ValidationError("--receipt-resend-s must be between 1 and 86400")
        }
    }

    func run() async throws {
        let level = LogLevel(rawValue: logLevel) ?? .info
        logLevels.bootstrap(LogFormat(rawValue: logFormat) ?? .text)
        logLevels.set(level)
        let (host, port) = try Self.endpoint(broker)
        var secret = password.map(Secret.init)
        if let passwordFile {
            secret = try BrokerConfig.readPasswordFile(passwordFile)
        }
        var receiptsConfig: OutboxReceiptsConfig?
        if receipts != nil || receiptResendS != nil {
            var config = OutboxReceiptsConfig()
            if let mode = receipts.flatMap(OutboxReceiptsConfig.Mode.init(rawValue:)) { config.mode = mode }
            if let receiptResendS { config.resendAfterS = receiptResendS }
            receiptsConfig = config
        }
        let options = ScenarioRunner.Options(
            scenarioPath: scenario, brokerHost: host, brokerPort: port, username: username, password: secret,
            caFile: caFile,
            stateDirectory: stateDir, truthOutput: truthOut, speed: speed, outboxCapacity: outboxCapacity,
            receipts: receiptsConfig, drainTimeout: .milliseconds(Int64(drainTimeout * 1000)),
            connectTimeout: .milliseconds(Int64(connectTimeout * 1000)),
            logLevel: level)
        let summary = try await ScenarioRunner.run(options, logger: Logger(label: "binsd"))
        print(try WireCodec.encodeString(summary))
    }

    /// `HOST:PORT`, `[V6]:PORT`, or `HOST` (port 1883).
    static func endpoint(_ text: String) throws -> (String, Int) {
        guard let url = BrokerURL("mqtt://\(text)") else {
            throw ValidationError("--broker \(text) is not HOST:PORT")
        }
        return (url.host, url.port)
    }
}
