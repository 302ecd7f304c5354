import Aggregator
import AggregatorHTTP
import ArgumentParser
import BinProtocol
import Foundation
import Logging
import Metrics
import Prometheus

@main
struct BinsAggregator: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bins-aggregator",
        abstract: "The sanitation center's service: ledgers, targets, alerts, reports and the HTTP API.",
        subcommands: [Serve.self, CheckConfig.self, Report.self, Plan.self])
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run ingest, alerts and the HTTP API until SIGTERM or SIGINT.")

    @Option(name: .long, help: "The configuration file.")
    var config: String

    @Option(name: .long, help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: Logger.Level = .info

    func run() async throws {
        let logger = bootstrapLogging(level: logLevel)
        let prometheus = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: prometheus))
        do {
            let configuration = try AggregatorConfiguration.load(path: config)
            for warning in configuration.warnings {
                logger.warning("config.warning", metadata: ["config.issue": "\(warning)"])
            }
            try await AggregatorServer.serve(configuration: configuration, prometheus: prometheus, logger: logger)
        } catch let error as AggregatorError {
            logger.critical("aggregator.failed", metadata: ["aggregator.error": "\(error.message)"])
            for issue in error.issues { logger.critical("config.issue", metadata: ["config.issue": "\(issue)"]) }
            throw ExitCode(1)
        } catch {
            logger.critical("aggregator.failed", metadata: ["aggregator.error": "\(error)"])
            throw ExitCode(1)
        }
    }
}

struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config", abstract: "Validate a configuration file and summarise it (exit 1 if invalid).")

    @Argument(help: "The configuration file.")
    var file: String

    func run() throws {
        do {
            let configuration = try AggregatorConfiguration.load(path: file)
            for warning in configuration.warnings { print(warning) }
            print(configuration.summary)
        } catch {
            throw failure(error)
        }
    }
}

struct Report: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Write a report to standard output.")

    @Argument(help: "daily, weekly, monthly, quarterly or yearly.")
    var kind: ReportKind

    @OptionGroup var options: DocumentOptions

    func run() async throws {
        try await options.write { configuration, day, logger throws(AggregatorError) in
            try await AggregatorRuntime.renderReport(
                configuration: configuration, kind: kind, date: day, format: options.format, language: options.lang,
                logger: logger)
        }
    }
}

struct Plan: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the day's collection plan to standard output: the bins to empty and the route.")

    @Option(name: .long, help: "wet, dry, recyclable or hazardous (default: every stream).")
    var stream: WasteStream?

    @OptionGroup var options: DocumentOptions

    func run() async throws {
        try await options.write { configuration, day, logger throws(AggregatorError) in
            try await AggregatorRuntime.renderPlan(
                configuration: configuration, date: day, stream: stream, format: options.format, language: options.lang,
                logger: logger)
        }
    }
}

/// What `report` and `plan` both take: the day, the format, the language and the configuration.
struct DocumentOptions: ParsableArguments {
    @Option(
        name: .long,
        help:
            "The day (of the report's period, or of the plan's round), YYYY-MM-DD (default: today in the district's time zone)."
    )
    var date: String?

    @Option(name: .long, help: "json, csv or html.")
    var format: ReportFormat = .json

    @Option(name: .long, help: "en or zh.")
    var lang: ReportLanguage = .en

    @Option(name: .long, help: "The configuration file.")
    var config: String

    /// Loads the configuration and writes what `render` makes for the day to standard output.
    func write(
        _ render: (AggregatorConfiguration, LocalDate, Logger) async throws(AggregatorError) -> [UInt8]
    ) async throws {
        let logger = bootstrapLogging(level: .warning)
        do throws(AggregatorError) {
            let configuration = try AggregatorConfiguration.load(path: config)
            let output = try await render(configuration, try dayOption(date, timeZone: configuration.timeZone), logger)
            FileHandle.standardOutput.write(Data(output))
        } catch {
            throw failure(error)
        }
    }
}

extension ReportKind: ExpressibleByArgument {}
extension WasteStream: ExpressibleByArgument {}
extension ReportFormat: ExpressibleByArgument {}
extension ReportLanguage: ExpressibleByArgument {}
// swift-format-ignore: AvoidRetroactiveConformances
// Logger.Level is swift-log's and ExpressibleByArgument swift-argument-parser's; only this command reads levels.
extension Logger.Level: @retroactive ExpressibleByArgument {}

/// `--date`, or today in the district's time zone.
func dayOption(_ text: String?, timeZone: TimeZone) throws(AggregatorError) -> LocalDate {
    guard let text else {
        return LedgerCalendar(timeZone: timeZone).today(nowMilliseconds: Int64(Date().timeIntervalSince1970 * 1000))
    }
    guard let day = LocalDate(text) else {
        throw AggregatorError(.invalidArgument, "--date \(text) is not a date YYYY-MM-DD")
    }
    return day
}

/// Prints every problem of `error` as `file:line:column: field: message`, then its message; exit status 1.
func failure(_ error: AggregatorError) -> ExitCode {
    let lines = error.issues.map(\.description) + ["bins-aggregator: \(error.message)"]
    FileHandle.standardError.write(Data((lines.joined(separator: "\n") + "\n").utf8))
    return ExitCode(1)
}

func bootstrapLogging(level: Logger.Level) -> Logger {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
    return Logger(label: "bins-aggregator")
}
