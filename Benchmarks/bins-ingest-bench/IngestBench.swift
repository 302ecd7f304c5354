import Aggregator
import ArgumentParser
import BinsTestSupport
import Logging

/// Measures the aggregator's sustained ingest (events per second committed to the ledger) next to how fast
/// a plain subscriber drains the same broker, and prints both and their ratio.
@main
struct IngestBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bins-ingest-bench",
        abstract: "Aggregator ingest rate against a plain subscriber draining the same broker.",
        discussion: """
            Both consumers drain the same backlog: N QoS 1 events that device clients published while the \
            consumer's persistent session was offline. The time runs from the consumer's connection to its \
            N-th message (for the aggregator: the N-th event committed to the ledger). Unless --broker is \
            given, a mosquitto with the queue limits raised (DESIGN section 10) is started on a loopback port.
            """)

    @Option(help: "Events to publish and ingest (at least 100000 for a figure worth quoting).")
    var events: Int = 100_000

    @Option(help: "Devices publishing in parallel.")
    var devices: Int = 50

    @Option(help: "SQLite synchronous mode for the ledger: normal or full.")
    var synchronous: SQLiteSettings.Synchronous = .normal

    @Option(
        help: """
            Use PostgreSQL at this URL (a fresh database) instead of a SQLite file; 'fresh' creates one on the server \
            of BINS_TEST_POSTGRES_URL (scripts/with-postgres), or on a throwaway server started for the run.
            """)
    var postgres: String?

    @Option(help: "An existing broker HOST:PORT (anonymous access, queue limits raised) instead of starting mosquitto.")
    var broker: String?

    @Option(
        help:
            "A Python with paho-mqtt: also drain the backlog with scripts/ingest-baseline.py, the ordinary implementation."
    )
    var python: String?

    @Option(help: "The baseline consumer script.")
    var baselineScript = "scripts/ingest-baseline.py"

    @Option(help: "Aggregator instances sharing the events through a shared subscription (PostgreSQL only).")
    var instances = 1

    @Flag(help: "Play a city-scale fleet against bins-aggregator processes instead of draining one backlog.")
    var fleet = false

    @Option(help: "Fleet: sorting points, each its own device account.")
    var points = 2500

    @Option(help: "Fleet: bins at each point.")
    var binsPerPoint = 4

    @Option(help: "Fleet: deposits per bin per hour of real time.")
    var depositsPerBinHour = 6.0

    @Option(help: "Fleet: how many times faster than real time the deposits come.")
    var speed = 60.0

    @Option(help: "Fleet: seconds of traffic.")
    var seconds = 60

    @Option(help: "Fleet: points of the street that comes back from an outage a third of the way in.")
    var burstPoints = 50

    @Option(help: "Fleet: events each of those points has recorded while away.")
    var burstEvents = 200

    @Option(help: "Fleet: the aggregator's receipt_interval_ms (commit latency is measured through receipts).")
    var receiptIntervalMs = 10

    @Option(help: "Fleet: copy the aggregators' logs (and a SQLite ledger) into this directory at the end.")
    var keepLogs: String?

    func run() async throws {
        let postgres = postgres == "fresh" ? try await PostgresServer.makeDatabase(prefix: "bins_bench") : postgres
        if fleet {
            guard points >= 1, (1...8).contains(binsPerPoint), speed > 0, depositsPerBinHour > 0, seconds >= 1,
                burstPoints >= 0,
                burstEvents >= 0
            else { throw ValidationError("fleet options out of range") }
            guard (1...4).contains(instances), instances == 1 || postgres != nil else {
                throw ValidationError(
                    "--instances is 1 to 4, and more than 1 needs --postgres (instances share one database)")
            }
            var logger = Logger(label: "bins-ingest-bench")
            logger.logLevel = .warning
            let options = FleetBenchmark.Options(
                points: points, binsPerPoint: binsPerPoint, speed: speed, seconds: seconds,
                depositsPerBinHour: depositsPerBinHour,
                burstPoints: burstPoints, burstEvents: burstEvents, postgresURL: postgres, instances: instances,
                receiptIntervalMs: receiptIntervalMs, keepLogs: keepLogs)
            try await FleetBenchmark(options: options, logger: logger).run()
            return
        }
        guard events >= 1, devices >= 1, devices <= events else { throw ValidationError("need 1 <= devices <= events") }
        guard (1...4).contains(instances), instances == 1 || postgres != nil else {
            throw ValidationError(
                "--instances is 1 to 4, and more than 1 needs --postgres (instances share one database)")
        }
        var logger = Logger(label: "bins-ingest-bench")
        logger.logLevel = .warning
        let options = IngestBenchmark.Options(
            events: events, devices: devices, synchronous: synchronous, postgresURL: postgres, broker: broker,
            python: python.map { (interpreter: $0, script: baselineScript) }, instances: instances)
        try await IngestBenchmark(options: options, logger: logger).run()
    }
}

extension SQLiteSettings.Synchronous: ExpressibleByArgument {}
