import BinProtocol
import GPIO
import Lifecycle
import Logging
import MQTT
import ServiceLifecycle
import YAMLConfig

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The version announced in the birth message.
public enum BinDaemonVersion {
    public static let current = "0.9.0"
}

/// What differs between a point on real hardware and a simulated one; the pipeline and publishers are the
/// same for both.
public struct DaemonPlatform: Sendable {
    public var chips: ChipDirectory
    public var clock: any WallClock
    public var temperature: any TemperatureProbe
    public var pacer: (any SamplingPacer)?
    /// Connect here instead of the configured broker (the simulation's relay); TLS settings still apply.
    public var brokerEndpoint: (host: String, port: Int)?
    /// The password to use instead of the configured one (given on a command line, never written down).
    public var password: Secret?
    /// Stop sampling when the chip's clock reaches this (a scenario's end).
    public var stopAtChipNanoseconds: UInt64?
    /// Start sampling only once the broker connection is up, failing after this long (simulation: the first
    /// events of a scenario should go out live).
    public var connectBeforeSampling: Duration?
    public var reconnectDelayMax: Duration
    public var notifier: SystemdNotifier?
    /// The sampling thread's command queue and wakeup, when a pacer or a caller needs it before assembly.
    public var control: SamplingControl?
    /// Check the broker certificate's host name (off only when TLS runs through the simulation's relay on
    /// 127.0.0.1, where the name cannot match; the chain is still verified).
    public var verifyBrokerHostname = true

    public init(
        chips: ChipDirectory, clock: any WallClock, temperature: any TemperatureProbe,
        pacer: (any SamplingPacer)? = nil,
        brokerEndpoint: (host: String, port: Int)? = nil, password: Secret? = nil, stopAtChipNanoseconds: UInt64? = nil,
        connectBeforeSampling: Duration? = nil, reconnectDelayMax: Duration = .seconds(60),
        notifier: SystemdNotifier? = nil
    ) {
        self.chips = chips
        self.clock = clock
        self.temperature = temperature
        self.pacer = pacer
        self.brokerEndpoint = brokerEndpoint
        self.password = password
        self.stopAtChipNanoseconds = stopAtChipNanoseconds
        self.connectBeforeSampling = connectBeforeSampling
        self.reconnectDelayMax = reconnectDelayMax
        self.notifier = notifier
    }

    /// Real GPIO chips, the system clock, and the configured temperature source.
    public static func hardware(_ config: DaemonConfig, notifier: SystemdNotifier?) -> DaemonPlatform {
        let temperature: any TemperatureProbe =
            switch config.temperature {
            case .fixed(let celsius): FixedTemperature(celsius: celsius)
            case .ds18b20(let glob, let fallback): DS18B20Probe(pathGlob: glob, fallbackC: fallback)
            }
        return DaemonPlatform(
            chips: .hardware(), clock: SystemWallClock(), temperature: temperature, notifier: notifier)
    }
}

/// One sorting point's daemon, assembled: sensors, calibration, the outbox, the MQTT client, the outbox
/// publisher, the live publisher and the sampling loop, run as one ServiceGroup in dependency order (the
/// client first, so it is stopped last and the others can say their last words through it).
public final class Daemon: Sendable {
    public let config: DaemonConfig
    public let session: Int64
    public let client: MQTTClient
    public let outbox: Outbox
    public let live: LivePublisher
    public let publisher: OutboxPublisher
    /// End-to-end receipts from the aggregator, unless `outbox.receipts: off`.
    public let receipts: OutboxReceipts?
    private let receiptListener: ReceiptListener?
    public let sampling: SamplingService
    public let control: SamplingControl
    public let counters: DaemonCounters
    let platform: DaemonPlatform
    let logger: Logger

    /// Opens the outbox (and with it the seq and session counters), checks that every scale is calibrated,
    /// and builds the services. `sensors` are the bins' opened sensors, in the config's order.
    public init(config: DaemonConfig, sensors: [BinSensors], platform: DaemonPlatform, logger: Logger)
        throws(BinDaemonError)
    {
        var logger = logger
        logger[metadataKey: "device"] = "\(config.device)"
        self.config = config
        self.platform = platform
        self.logger = logger
        let store = CalibrationStore(directory: config.calibrationDirectory)
        let calibrations = try Self.checkCalibration(config, store: store)
        if let problem = AtomicFile.createDirectories(PathText.directory(of: config.outbox.path)) {
            throw BinDaemonError(.fileUnwritable, "\(config.outbox.path): \(problem)")
        }
        do {
            outbox = try Outbox(
                path: config.outbox.path, capacity: config.outbox.capacity,
                syncPolicy: config.outbox.sync == .full ? .everyWrite : .batched(interval: .seconds(1)), logger: logger)
            session = try outbox.beginSession()
        } catch {
            throw BinDaemonError(.fileUnwritable, "\(error)", cause: error)
        }
        let chip = sensors[0].scaleChip
        let clock = platform.clock
        let now: @Sendable () -> WireTimestamp = { clock.timestamp(atChipNanoseconds: chip.clock.nanoseconds()) }
        let identity = LivePublisher.Identity(
            device: config.device, session: session, version: BinDaemonVersion.current, configHash: config.configHash,
            board: config.board.name, bins: config.binDescriptors)
        var password = platform.password
        if password == nil { password = try config.broker.loadPassword() }
        let tls = config.broker.tlsConfiguration(verifyHostname: platform.verifyBrokerHostname)
        let endpoint = platform.brokerEndpoint ?? (config.broker.url.host, config.broker.url.port)
        let mqtt = MQTTConfiguration(
            host: endpoint.host, port: endpoint.port, clientID: config.device, username: config.broker.username,
            password: password?.revealed, keepAliveSeconds: config.broker.keepaliveSeconds, cleanSession: true,
            tls: tls,
            will: LivePublisher.will(for: identity, at: now()), reconnectDelayMin: .milliseconds(500),
            reconnectDelayMax: platform.reconnectDelayMax)
        do {
            client = try MQTTClient(configuration: mqtt, logger: logger)
        } catch {
            throw BinDaemonError(.broker, "\(error)", cause: error)
        }
        counters = DaemonCounters()
        let receipts = config.outbox.receipts.receiptSettings.map(OutboxReceipts.init)
        self.receipts = receipts
        let client = client
        receiptListener = receipts.map {
            ReceiptListener(device: config.device, client: client, receipts: $0, logger: logger)
        }
        control = platform.control ?? SamplingControl()
        let notifier = platform.notifier
        let ready = OneShot<Void>()
        live = LivePublisher(
            identity: identity, client: client, outbox: outbox, receipts: receipts, control: control,
            counters: counters, now: now,
            onConnected: {
                if ready.value == nil {
                    ready.fulfil(())
                    notifier?.notify(
                        "READY=1\nSTATUS=sampling \(config.bins.count) bin(s), connected to \(config.broker.url.endpoint)"
                    )
                } else {
                    notifier?.notify("STATUS=reconnected to \(config.broker.url.endpoint)")
                }
            }, logger: logger)
        publisher = OutboxPublisher(
            outbox: outbox, client: client, receipts: receipts, logger: logger,
            markHistorical: EventRecorder.markHistorical)
        let sink = EventRecorder(device: config.device, outbox: outbox, live: live, logger: logger)
        let dependencies = SamplingEngine.Dependencies(
            config: config, sensors: sensors, calibrations: calibrations, store: store,
            volumeNoise: VolumeNoiseStore(directory: config.volumeNoiseDirectory), clock: platform.clock,
            temperature: platform.temperature, sink: sink, control: control, counters: counters,
            watchdog: WatchdogFeeder(notifier: notifier), pacer: platform.pacer,
            stopAtChipNanoseconds: platform.stopAtChipNanoseconds, logger: logger)
        var gate: (@Sendable () async throws -> Void)?
        if let timeout = platform.connectBeforeSampling {
            let client = client
            gate = { () async throws in
                do {
                    try await client.waitUntilConnected(timeout: timeout)
                } catch {
                    throw BinDaemonError(.broker, "\(error)", cause: error)
                }
            }
        }
        sampling = SamplingService(dependencies: dependencies, startGate: gate)
        logger.info(
            "daemon.assembled",
            metadata: [
                "mqtt.broker": "\(config.broker.url)", "mqtt.session": "\(session)",
                "config.hash": "\(config.configHash)",
                "outbox.depth": "\(outbox.depth)", "outbox.last_seq": "\(outbox.lastSeq)",
                "outbox.receipts": "\(config.outbox.receipts.mode.rawValue)",
            ])
    }

    /// Every bin has a complete calibration: a file that is unreadable or broken is named first, then every
    /// bin still missing one is listed with the commands that make it. Returns the calibrations, in the
    /// config's order.
    public static func checkCalibration(_ config: DaemonConfig, store: CalibrationStore) throws(BinDaemonError)
        -> [StoredCalibration]
    {
        var loaded: [String: StoredCalibration] = [:]
        for bin in config.bins { loaded[bin.id] = try store.load(bin: bin.id) }
        try config.checkCalibration { loaded[$0]?.scale != nil }
        // Past the check, every bin has one.
        return config.bins.compactMap { loaded[$0.id] }
    }

    /// The services in dependency order: stopped in reverse, so sampling stops first, then the live
    /// publisher flushes and says `online: false`, then the outbox publisher, then the client disconnects.
    public var services: [ServiceGroupConfiguration.ServiceConfiguration] {
        [.init(service: client)] + (receiptListener.map { [.init(service: $0)] } ?? []) + [
            .init(service: publisher),
            .init(service: live),
            .init(service: sampling),
        ]
    }

    /// The stop's bounds: the graceful stop (the last words wait at most 3 s each) within 15 s, then
    /// cancelled services get 4 s, all within the unit's `TimeoutStopSec=20s`.
    public static let stopLimits = StopLimits(graceful: .seconds(15), cancellation: .seconds(4))

    /// Runs until SIGTERM/SIGINT (or until `extra` services end the group). The first signal stops the
    /// services gracefully, a second one cancels them at once; services that outlive `limits` are given up
    /// on (`BinDaemonError.Code.shutdown`). Returns after a stop that ended within them.
    public func run(
        extra: [ServiceGroupConfiguration.ServiceConfiguration] = [], limits: StopLimits = Daemon.stopLimits
    )
        async throws
    {
        let supervisor = StopSupervisor(limits: limits, label: "daemon", logger: logger)
        let group = supervisor.serviceGroup(
            services + extra + [.init(service: StoppingAnnouncer(notifier: platform.notifier))])
        do {
            try await supervisor.run(group)
        } catch let error as LifecycleError {
            throw BinDaemonError(.shutdown, error.message)
        }
    }
}

/// Tells systemd `STOPPING=1` as soon as a graceful shutdown begins (it is the last service, so the first
/// to be told).
struct StoppingAnnouncer: Service {
    let notifier: SystemdNotifier?

    func run() async throws {
        try? await gracefulShutdown()
        notifier?.notify("STOPPING=1\nSTATUS=stopping: flushing the outbox, publishing offline status")
    }
}
