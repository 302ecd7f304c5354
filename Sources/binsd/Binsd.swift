import ArgumentParser
import BinDaemon
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// `binsd`: the sorting-point daemon and its installer tools. This file only parses arguments, sets up
/// logging and calls `DaemonCommands`; simulated points are `binsd-simulate`'s (`SimulatorExecutable`).
@main
struct Binsd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "binsd",
        abstract: "Smart-bin sorting-point daemon: load cells, rangers and lids to classified deposits on MQTT.",
        version: BinDaemonVersion.current,
        subcommands: [Run.self, CheckConfig.self, Calibrate.self, Read.self, Simulate.self])

    /// `binsd simulate ...` is `binsd-simulate simulate ...` with the arguments untouched (its own `--help`
    /// included), so it is handed over before parsing.
    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.first == Simulate.configuration.commandName { Simulate.handOver(arguments) }
        await main(arguments)
    }
}

let logLevels = LogLevelControl(.info)

func bootstrapLogging(_ format: LogFormat) {
    logLevels.bootstrap(format)
}

struct BoardOptions: ParsableArguments {
    @Option(
        name: .customLong("boards"), help: "A directory of board files searched before the system ones (repeatable).")
    var directories: [String] = []
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the daemon (systemd: Type=notify, SIGHUP reloads).")

    @Option(help: "The configuration file.") var config: String
    @OptionGroup var boards: BoardOptions

    func run() async throws {
        let options = DaemonCommands.loaderOptions(boardDirectories: boards.directories)
        // Logging is set up before a configuration error is reported, in the text format then.
        let loaded = Result { () throws(BinDaemonError) in try ConfigLoader.load(path: config, options: options) }
        if case .success(let point) = loaded, point.board.name == BoardDefinition.simulatedBoardName {
            Simulate.handOver(["run", "--config", config] + boards.directories.flatMap { ["--boards", $0] })
        }
        bootstrapLogging((try? loaded.get())?.logging.format ?? .text)
        try await DaemonCommands.run(
            config: loaded.get(), configPath: config, options: options, levels: logLevels,
            logger: Logger(label: "binsd"))
    }
}

struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config", abstract: "Validate a configuration file without touching hardware or the network."
    )

    @Argument(help: "The configuration file.") var file: String
    @OptionGroup var boards: BoardOptions

    func run() throws {
        let (text, ok) = DaemonCommands.checkConfig(path: file, boardDirectories: boards.directories)
        print(text)
        if !ok { throw ExitCode(1) }
    }
}

struct Calibrate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Tare a bin's empty scale, or calibrate it with a known mass on it; stored in the state directory.")

    @Option(help: "The configuration file.") var config: String
    @Option(help: "The bin id.") var bin: String
    @Flag(help: "Zero the empty scale.") var tare = false
    @Option(name: .customLong("known-kg"), help: "The reference mass lying on the scale, kg.") var knownKg: Double?
    @OptionGroup var boards: BoardOptions

    func validate() throws {
        guard tare != (knownKg != nil) else { throw ValidationError("give exactly one of --tare and --known-kg") }
    }

    func run() throws {
        bootstrapLogging(.text)
        let step: DaemonCommands.CalibrationStep = knownKg.map { .knownMass(kg: $0) } ?? .tare
        print(
            try DaemonCommands.calibrate(configPath: config, boardDirectories: boards.directories, bin: bin, step: step)
        )
    }
}

struct Read: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Take one reading of every sensor and print it.")

    @Option(help: "The configuration file.") var config: String
    @OptionGroup var boards: BoardOptions

    func run() throws {
        bootstrapLogging(.text)
        print(try DaemonCommands.read(configPath: config, boardDirectories: boards.directories))
    }
}

/// Listed here so `binsd --help` shows it; `Binsd.main` hands `binsd simulate ...` over before parsing.
struct Simulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one simulated sorting point through a scenario file (binsd-simulate; see binsd simulate --help)."
    )

    @Argument(parsing: .allUnrecognized, help: "Passed to binsd-simulate.") var arguments: [String] = []

    func run() throws {
        Self.handOver(["simulate"] + arguments)
    }

    /// Replaces this process with `binsd-simulate ARGUMENTS`; exits 127 (as a shell does for a command it
    /// cannot run) when it cannot be started.
    static func handOver(_ arguments: [String]) -> Never {
        let problem = SimulatorExecutable.exec(arguments)
        let message = Array("binsd: \(problem)\n".utf8)
        _ = message.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
        Glibc.exit(127)
    }
}
