import BinDaemon
import BinProtocol
import Foundation
import Lifecycle
import Logging
import MQTT
import ServiceLifecycle
import Simulation
import Synchronization
import SystemCalls
import YAMLConfig

/// `binsd simulate`: one simulated sorting point run through a scenario in virtual time, against a real
/// broker, with the same pipeline and publishers as `binsd run` (DESIGN section 8).
public enum ScenarioRunner {
    public struct Options: Sendable {
        public var scenarioPath: String
        public var brokerHost: String
        public var brokerPort: Int
        public var username: String?
        public var password: Secret?
        /// The CA of the broker's certificate: connect with TLS (`mqtts`).
        public var caFile: String?
        /// Calibration, outbox and the written config go here; a fresh temporary directory when nil.
        public var stateDirectory: String?
        /// Where to write the world's truth records as JSON.
        public var truthOutput: String?
        /// Virtual seconds per real second from the scenario's start; as fast as possible when nil.
        public var speed: Double?
        public var outboxCapacity: Int?
        /// `outbox.receipts*` of the written config (the daemon's defaults when nil).
        public var receipts: OutboxReceiptsConfig?
        /// How long to wait, after the scenario's end, for the outbox to empty.
        public var drainTimeout: Duration
        /// How long to wait for the first broker connection before giving up.
        public var connectTimeout: Duration
        public var logLevel: LogLevel

        public init(
            scenarioPath: String, brokerHost: String, brokerPort: Int, username: String? = nil, password: Secret? = nil,
            caFile: String? = nil, stateDirectory: String? = nil, truthOutput: String? = nil, speed: Double? = nil,
            outboxCapacity: Int? = nil,
            receipts: OutboxReceiptsConfig? = nil, drainTimeout: Duration = .seconds(120),
            connectTimeout: Duration = .seconds(30),
            logLevel: LogLevel = .info
        ) {
            self.receipts = receipts
            self.scenarioPath = scenarioPath
            self.brokerHost = brokerHost
            self.brokerPort = brokerPort
            self.username = username
            self.password = password
            self.caFile = caFile
            self.stateDirectory = stateDirectory
            self.truthOutput = truthOutput
            self.speed = speed
            self.outboxCapacity = outboxCapacity
            self.drainTimeout = drainTimeout
            self.connectTimeout = connectTimeout
            self.logLevel = logLevel
        }
    }

    /// What a run did, printed by `binsd simulate` as one JSON line.
    public struct Summary: Sendable, Encodable {
        public var device: String
        /// True when the scenario ran to its end and the outbox emptied; false when stopped by a signal.
        public var completed: Bool
        public var session: Int64
        public var eventsRecorded: Int64
        public var lastSeq: Int64
        public var outboxDepth: Int
        public var networkOutages: Int
        public var virtualStart: WireTimestamp
        public var virtualEnd: WireTimestamp
        public var realSeconds: Double
        public var stateDirectory: String
        public var truthFile: String?

        enum CodingKeys: String, CodingKey {
            case device, completed, session
            case eventsRecorded = "events_recorded"
            case lastSeq = "last_seq"
            case outboxDepth = "outbox_depth"
            case networkOutages = "network_outages"
            case virtualStart = "virtual_start"
            case virtualEnd = "virtual_end"
            case realSeconds = "real_seconds"
            case stateDirectory = "state_dir"
            case truthFile = "truth_file"
        }
    }

    public static func run(_ options: Options, logger: Logger) async throws -> Summary {
        let started = ContinuousClock.now
        let world = try ScenarioInstallation.world(scenarioPath: options.scenarioPath)
        let scenario = world.scenario
        let stateDirectory = try prepareStateDirectory(options.stateDirectory)
        let host = options.brokerHost.contains(":") ? "[\(options.brokerHost)]" : options.brokerHost
        guard let broker = BrokerURL("\(options.caFile == nil ? "mqtt" : "mqtts")://\(host):\(options.brokerPort)")
        else {
            throw BinDaemonError(
                .simulation, "--broker \(options.brokerHost):\(options.brokerPort) is not a host and port")
        }
        let caFile = options.caFile.map { $0.hasPrefix("/") ? $0 : FileManager.default.currentDirectoryPath + "/" + $0 }
        // The point connects through the relay, whose errors would name the relay: check the broker first.
        try NetworkRelay.probe(host: options.brokerHost, port: options.brokerPort)
        // A relay only where the scenario takes the network away; otherwise the point connects directly.
        let outages = scenario.events.filter { if case .network = $0.action { true } else { false } }.count
        let relay =
            outages == 0
            ? nil : try NetworkRelay(upstreamHost: options.brokerHost, upstreamPort: options.brokerPort, logger: logger)
        if relay != nil, caFile != nil {
            logger.notice(
                "simulation.tls_through_relay",
                metadata: [
                    "mqtt.broker": "\(broker.endpoint)",
                    "tls.note": "the certificate chain is verified, not the host name (the relay is 127.0.0.1)",
                ])
        }

        // The installer: config typed in, scales tared and calibrated, noise measured, config completed.
        let configPath = "\(stateDirectory)/binsd.yaml"
        func writeConfig(noise: [String: Double]) throws(BinDaemonError) -> DaemonConfig {
            let yaml = ScenarioInstallation.configYAML(
                scenario: scenario, scenarioFile: options.scenarioPath, wiring: world.wiring, broker: broker,
                username: options.username, caFile: caFile, stateDirectory: stateDirectory, noiseKg: noise,
                outboxCapacity: options.outboxCapacity, receipts: options.receipts, logLevel: options.logLevel)
            try AtomicFile.write(Array(yaml.utf8), to: configPath, mode: 0o644)
            return try ConfigLoader.load(path: configPath, options: ConfigLoader.Options(boardSearchPaths: []))
        }
        let noise = try ScenarioInstallation.calibrate(
            world: world, config: try writeConfig(noise: [:]), logger: logger)
        let config = try writeConfig(noise: noise)

        let chips = ChipDirectory.simulated(world.chip)
        var sensors: [BinSensors] = []
        for bin in config.bins { sensors.append(try BinSensors.open(bin, chips: chips)) }
        let control = SamplingControl()
        let late = LateBound<Daemon>()
        let link = relay.map { relay in
            SimulationPacer.Link(
                cut: { relay.cut() }, restore: { relay.restore() },
                waitUntilDelivered: { timeout in
                    SimulationPacer.block(until: { (late.value?.outbox.depth ?? 0) == 0 }, timeout: timeout)
                },
                waitUntilConnected: { timeout in
                    SimulationPacer.block(
                        until: { late.value?.live.hasAnnouncedCurrentConnection == true }, timeout: timeout)
                })
        }
        let pacer = SimulationPacer(
            originNanoseconds: world.startNanoseconds, speed: options.speed, link: link, wakeup: control.wakeup,
            logger: logger)
        world.scheduleTimeline { until in pacer.networkDown(untilNanoseconds: until) }

        var platform = DaemonPlatform(
            chips: chips, clock: ScenarioWallClock(world: world), temperature: WorldTemperature(world: world),
            pacer: pacer,
            brokerEndpoint: relay.map { ("127.0.0.1", $0.port) }, password: options.password,
            stopAtChipNanoseconds: world.endNanoseconds, connectBeforeSampling: options.connectTimeout,
            reconnectDelayMax: .seconds(2))
        platform.control = control
        platform.verifyBrokerHostname = relay == nil
        let daemon = try Daemon(config: config, sensors: sensors, platform: platform, logger: logger)
        late.set(daemon)
        let completed = OneShot<Bool>()
        let conductor = ScenarioConductor(
            sampling: daemon.sampling, outbox: daemon.outbox, drainTimeout: options.drainTimeout, completed: completed,
            logger: logger)
        do {
            try await daemon.run(extra: [
                .init(service: conductor, successTerminationBehavior: .gracefullyShutdownGroup)
            ])
        } catch {
            await relay?.stop()
            throw error
        }
        await relay?.stop()
        var truthFile: String?
        if let path = options.truthOutput {
            try TruthExport.write(world: world, to: path)
            truthFile = path
        }
        return Summary(
            device: scenario.device, completed: completed.value ?? false, session: daemon.session,
            eventsRecorded: daemon.counters.eventsRecorded.load(ordering: .relaxed), lastSeq: daemon.outbox.lastSeq,
            outboxDepth: daemon.outbox.depth, networkOutages: outages, virtualStart: scenario.start,
            virtualEnd: world.timestamp(atNanoseconds: world.endNanoseconds),
            realSeconds: Double((ContinuousClock.now - started).components.attoseconds) / 1e18
                + Double((ContinuousClock.now - started).components.seconds),
            stateDirectory: stateDirectory, truthFile: truthFile)
    }

    static func prepareStateDirectory(_ requested: String?) throws(BinDaemonError) -> String {
        if let requested {
            let path = requested.hasPrefix("/") ? requested : FileManager.default.currentDirectoryPath + "/" + requested
            do {
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            } catch {
                throw BinDaemonError(
                    .fileUnwritable, "\(path): cannot create the state directory: \(error.localizedDescription)")
            }
            return path
        }
        var template = Array("\(NSTemporaryDirectory())/binsd-simulate.XXXXXX".utf8CString)
        do {
            let created = try systemCall { template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) } }
            return String(cString: created)
        } catch {
            throw BinDaemonError(.fileUnwritable, "\(NSTemporaryDirectory()): mkdtemp failed: \(error)", cause: error)
        }
    }
}

/// A reference filled in after construction (the pacer's hooks need the daemon they are part of).
final class LateBound<Value: Sendable & AnyObject>: Sendable {
    private let storage = Mutex<Value?>(nil)
    func set(_ value: Value) { storage.withLock { $0 = value } }
    var value: Value? { storage.withLock { $0 } }
}

/// Ends a simulated run: once the sampling loop has reached the scenario's end, waits (bounded) for the
/// outbox to empty, then returns, which shuts the group down gracefully (offline status, disconnect).
struct ScenarioConductor: Service {
    let sampling: SamplingService
    let outbox: Outbox
    let drainTimeout: Duration
    let completed: OneShot<Bool>
    let logger: Logger

    func run() async throws {
        let control = sampling.control
        let end = await withTaskCancellationOrGracefulShutdownHandler {
            await sampling.waitUntilEnded()
        } onCancelOrGracefulShutdown: {
            control.stop()
        }
        guard end == .reachedEnd else {
            completed.fulfil(false)
            return
        }
        let drained = await cancelWhenGracefulShutdown { [outbox, drainTimeout] in
            await outbox.waitUntilEmpty(timeout: drainTimeout)
        }
        guard drained else {
            completed.fulfil(false)
            if Task.isShuttingDownGracefully { return }
            throw BinDaemonError(
                .simulation,
                "the scenario ended but \(outbox.depth) event(s) were still in the outbox after \(drainTimeout)")
        }
        logger.info("simulation.completed", metadata: ["outbox.last_seq": "\(outbox.lastSeq)"])
        completed.fulfil(true)
    }
}
