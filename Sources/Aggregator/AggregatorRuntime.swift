import BinProtocol
import Foundation
import Lifecycle
import Logging
import MQTT
import Metrics
import ServiceLifecycle
import Synchronization

/// The aggregator's parts wired together: store, registry, ingest, alerts, deliveries and the broker
/// connection. `services` lists what runs, in start order (a `ServiceGroup` stops them in reverse, so
/// ingest and alerts end before the broker connection, which says `online: false` last).
///
/// The HTTP API (module AggregatorHTTP) reads from the same runtime.
public final class AggregatorRuntime: Sendable {
    public let configuration: AggregatorConfiguration
    public let registry: Registry
    public let calendar: LedgerCalendar
    public let store: any AggregatorStore
    public let ingestMetrics: IngestMetrics
    public let processor: IngestProcessor
    public let alerts: AlertEngine
    public let deliveries: DeliveryService
    /// The session ingest reads events and loads from (persistent, with the will).
    public let mqtt: MQTTClient
    /// The session ingest reads the devices' status, birth, state and health from (persistent), so a state
    /// never waits behind a backlog of events (``BrokerSettings/deviceStateConfiguration()``).
    public let deviceStates: MQTTClient
    /// The connection alerts and receipts go out on, so they never wait behind an uncommitted batch
    /// (``BrokerSettings/publisherConfiguration()``).
    public let publisher: MQTTClient
    /// Every broker connection: the events' session, the device-state session, the publishing one.
    public var connections: [MQTTClient] { [mqtt, deviceStates, publisher] }
    /// End-to-end receipts to the devices (nil with `broker.receipts: false`).
    public let receipts: ReceiptPublisher?
    public let startedAtMs: Int64
    /// What changed, for the console's open pages.
    public let live: LiveUpdates
    /// The learned fill rates (``ForecastService`` refreshes them).
    public let forecasts = ForecastSnapshot()
    public let shutdownLimits: ShutdownLimits
    private let handler: IngestHandler
    private let committer: IngestCommitter
    private let deviceStateHandler: IngestHandler
    private let deviceStateCommitter: IngestCommitter
    private let observations = AlertObservationQueue()
    private let logger: Logger
    private let group = Mutex<ServiceGroup?>(nil)

    public init(
        configuration: AggregatorConfiguration, store: any AggregatorStore, metricsFactory: any MetricsFactory,
        shutdownLimits: ShutdownLimits = ShutdownLimits(), logger: Logger
    ) throws(AggregatorError) {
        self.configuration = configuration
        self.store = store
        self.shutdownLimits = shutdownLimits
        self.logger = logger
        registry = Registry(configuration)
        calendar = LedgerCalendar(timeZone: configuration.timeZone)
        ingestMetrics = IngestMetrics(factory: metricsFactory)
        startedAtMs = Int64(Date().timeIntervalSince1970 * 1000)
        do {
            mqtt = try MQTTClient(
                configuration: configuration.broker.mqttConfiguration(
                    instance: configuration.instance, timeZone: configuration.timeZone),
                logger: logger)
            deviceStates = try MQTTClient(
                configuration: configuration.broker.deviceStateConfiguration(), logger: logger)
            publisher = try MQTTClient(configuration: configuration.broker.publisherConfiguration(), logger: logger)
        } catch {
            throw AggregatorError(.broker, "broker \(configuration.broker.endpoint): \(error)", cause: error)
        }
        let deliveries = DeliveryService(
            store: store, webhooks: configuration.webhooks, publisher: MQTTAlertPublisher(client: publisher),
            logger: logger)
        self.deliveries = deliveries
        let live = LiveUpdates()
        self.live = live
        // Every lifecycle step enqueues its deliveries, so this is also the moment pages learn of it.
        let alerts = AlertEngine(
            configuration: configuration, registry: registry, store: store, metricsFactory: metricsFactory,
            logger: logger,
            forecasts: forecasts,
            deliveriesEnqueued: {
                deliveries.notify()
                live.alertChanged()
            })
        self.alerts = alerts
        let observations = observations
        let receipts =
            configuration.broker.receipts
            ? ReceiptPublisher(
                client: publisher, store: store, timeZone: configuration.timeZone,
                interval: .milliseconds(configuration.broker.receiptIntervalMilliseconds),
                metricsFactory: metricsFactory, logger: logger)
            : nil
        self.receipts = receipts
        processor = IngestProcessor(
            registry: registry, calendar: calendar, store: store, metrics: ingestMetrics, logger: logger,
            observe: { observation in
                if alerts.wants(observation) { observations.push(observation) }
            },
            sequenceChanged: { device in receipts?.sequenceChanged(device: device) })
        let committed: @Sendable ([(topic: String, payload: [UInt8], type: IngestMetrics.MessageType)], Int64) -> Void =
            { messages, receivedAtMs in live.committed(messages, receivedAtMs: receivedAtMs) }
        committer = IngestCommitter(processor: processor)
        handler = IngestHandler(processor: processor, committer: committer, logger: logger, committed: committed)
        // Its own commit queue and committer too: a state commits while an event batch does, and is judged
        // for alerts as it arrives.
        deviceStateCommitter = IngestCommitter(processor: processor)
        deviceStateHandler = IngestHandler(
            processor: processor, committer: deviceStateCommitter, stateJudging: .onReceipt, logger: logger,
            committed: committed)
    }

    /// Opens the configured store and brings its schema up to date.
    public static func openStore(_ settings: StorageSettings, logger: Logger) async throws(AggregatorError)
        -> any AggregatorStore
    {
        let store: any AggregatorStore
        switch settings {
        case .sqlite(let sqlite): store = try SQLiteStore(settings: sqlite, logger: logger)
        case .postgres(let postgres): store = PostgresStore(settings: postgres, logger: logger)
        }
        do {
            try await store.migrate()
        } catch {
            await store.close()
            throw error
        }
        return store
    }

    /// Loads open alerts and registers ingest's subscriptions. Call before the services run: messages the
    /// broker queued for the persistent session arrive right after it connects and need a receiver.
    public func prepare() async throws(AggregatorError) {
        try await alerts.load()
        do {
            // An aggregator before the device-state session received states on this session too: what the
            // broker queued for it under those filters is booked here, and the filters are dropped.
            try await mqtt.subscribe(
                configuration.broker.eventFilters, qos: .atLeastOnce, batchHandler: handler,
                retiring: configuration.broker.deviceStateFilters)
            try await deviceStates.subscribe(
                configuration.broker.deviceStateFilters, qos: .atLeastOnce, batchHandler: deviceStateHandler)
        } catch {
            throw AggregatorError(
                .broker, "subscribe on broker \(configuration.broker.endpoint) failed: \(error)", cause: error)
        }
    }

    /// What runs, in start order.
    public var services: [any Service] {
        [
            committer,
            deviceStateCommitter,
            mqtt,
            deviceStates,
            publisher,
            AggregatorStatusPublisher(
                client: mqtt, instance: configuration.instance, timeZone: configuration.timeZone,
                announcesReceipts: receipts != nil, offlineStatusTimeout: shutdownLimits.offlineStatus, logger: logger),
        ] + (receipts.map { [$0] } ?? []) + [
            ForecastService(
                snapshot: forecasts, store: store, registry: registry, calendar: calendar,
                settings: configuration.forecast,
                collectionFill: configuration.reports.collectionFill, logger: logger),
            AlertObservationPump(engine: alerts, observations: observations),
            AlertTicker(engine: alerts, interval: .seconds(configuration.alerts.evaluateEverySeconds)),
            deliveries,
            IngestShutdownNotice(handlers: [handler, deviceStateHandler]),
        ]
    }

    /// Runs `services` plus `additionalServices` (the HTTP server, started last and stopped first) as one
    /// `ServiceGroup` until ``shutdown()``, cancellation or, when `handleSignals`, SIGTERM/SIGINT.
    /// Call ``prepare()`` first.
    ///
    /// Every stop is bounded (see ``ShutdownLimits``): a graceful stop that takes longer than
    /// `graceful` is escalated to cancellation. With `handleSignals`, the first signal starts the graceful
    /// stop, a second one cancels the services at once, and if they still have not ended `cancellation`
    /// later, this throws (`bins-aggregator` then exits with status 1) instead of waiting for them.
    public func run(additionalServices: [any Service] = [], handleSignals: Bool = false) async throws {
        let supervisor = StopSupervisor(limits: shutdownLimits.stop, label: "aggregator", logger: logger)
        let group = supervisor.serviceGroup((services + additionalServices).map { .init(service: $0) })
        self.group.withLock { $0 = group }
        guard handleSignals else {
            try await group.run()
            return
        }
        do {
            try await supervisor.run(group)
        } catch let error as LifecycleError {
            throw AggregatorError(.shutdown, error.message)
        }
    }

    /// Prepares and runs the services, then `body` once the broker connection is up, then stops them
    /// gracefully (cancelling them if `body` throws): a whole aggregator in-process, for benchmarks and
    /// tests.
    public func whileRunning<T: Sendable>(
        connectTimeout: Duration = .seconds(30), _ body: (AggregatorRuntime) async throws -> T
    )
        async throws -> T
    {
        try await prepare()
        let running = Task { try await run() }
        do {
            for connection in connections { try await connection.waitUntilConnected(timeout: connectTimeout) }
            let result = try await body(self)
            await shutdown()
            try await running.value
            return result
        } catch {
            running.cancel()
            _ = try? await running.value
            throw error
        }
    }

    /// Stops a running ``run(additionalServices:handleSignals:)`` gracefully: HTTP, deliveries and alerts
    /// end, the status goes `online: false`, the broker connection closes.
    public func shutdown() async {
        await group.withLock { $0 }?.triggerGracefulShutdown()
    }
}

extension AggregatorRuntime {
    /// `bins-aggregator report`: opens the store read-mostly (migrating it if needed), builds one report and
    /// renders it.
    public static func renderReport(
        configuration: AggregatorConfiguration, kind: ReportKind, date: LocalDate, format: ReportFormat,
        language: ReportLanguage,
        logger: Logger
    ) async throws(AggregatorError) -> [UInt8] {
        try await withStore(configuration, logger: logger) { store throws(AggregatorError) in
            let content = try await ReportBuilder(
                configuration: configuration, registry: Registry(configuration), store: store
            )
            .build(kind, date: date, nowMs: Int64(Date().timeIntervalSince1970 * 1000))
            return ReportRenderer.render(content, format: format, language: language)
        }
    }

    /// Opens the configured store for `body` and closes it afterwards, also when `body` fails: what the
    /// one-shot commands (`report`, `plan`) run in.
    static func withStore<T>(
        _ configuration: AggregatorConfiguration, logger: Logger,
        _ body: (any AggregatorStore) async throws(AggregatorError) -> T
    ) async throws(AggregatorError) -> T {
        let store = try await openStore(configuration.storage, logger: logger)
        do {
            let result = try await body(store)
            await store.close()
            return result
        } catch {
            await store.close()
            throw error
        }
    }
}

extension AggregatorRuntime {
    /// `bins-aggregator plan`: the day's plan from the configured database.
    public static func renderPlan(
        configuration: AggregatorConfiguration, date: LocalDate, stream: WasteStream?, format: ReportFormat,
        language: ReportLanguage,
        logger: Logger
    ) async throws(AggregatorError) -> [UInt8] {
        try await withStore(configuration, logger: logger) { store throws(AggregatorError) in
            try await PlanBuilder(configuration: configuration, registry: Registry(configuration), store: store)
                .build(date: date, stream: stream).render(format: format, language: language)
        }
    }
}

extension AggregatorConfiguration {
    /// What `bins-aggregator check-config` prints for a valid file: what the aggregator will do, without
    /// secrets.
    public var summary: String {
        let registry = Registry(self)
        let storage: String =
            switch self.storage {
            case .sqlite(let sqlite): "sqlite \(sqlite.path) (synchronous \(sqlite.synchronous.rawValue))"
            case .postgres(let postgres): "postgresql \(postgres.redactedURL)"
            }
        var lines = [
            "\(source): valid",
            "  district: \(district.name) (\(district.id)), time zone \(timeZone.identifier)",
            "  hierarchy: \(registry.streets.count) streets, \(registry.communities.count) communities, \(registry.points.count) points, \(registry.totalHouseholds) households",
            "  broker: \(broker.tls == nil ? "mqtt" : "mqtts")://\(broker.endpoint) as \(broker.clientID) (device states as \(broker.deviceStateClientID), alerts and receipts as \(broker.publisherClientID))\(broker.username.map { " (user \($0))" } ?? "")\(broker.sharedGroup.map { ", shared group \($0)" } ?? "")",
            "  storage: \(storage)",
            "  http: \(http.host):\(http.port), \(http.tokens.count) API token(s), \(http.readTokens.count) read token(s), reads \(http.requireTokenForReads ? "need a token" : "open")",
            "  console: \(http.console.enabled ? "at http://\(http.host):\(http.port)/\(http.console.mapTiles == nil ? "" : ", map tiles from \(http.console.mapTilesOrigin ?? "?")")" : "off")",
            "  webhooks: \(webhooks.isEmpty ? "none" : webhooks.map(\.name).joined(separator: ", "))",
        ]
        var targetNames: [String] = []
        if targets.separationRate != nil { targetNames.append("separation_rate") }
        if targets.recoveryRate != nil { targetNames.append("recovery_rate") }
        if targets.dryReduction != nil { targetNames.append("dry_reduction") }
        if targets.contaminationRate != nil { targetNames.append("contamination_rate") }
        targetNames += targets.coverage.map { "coverage.\($0.id)" }
        lines.append("  targets: \(targetNames.isEmpty ? "none" : targetNames.joined(separator: ", "))")
        let disabled = AlertKind.allCases.filter { !alerts.rule($0).enabled }.map(\.rawValue)
        lines.append(
            "  alerts: every \(alerts.evaluateEverySeconds) s\(disabled.isEmpty ? "" : ", disabled: \(disabled.joined(separator: ", "))")"
        )
        return lines.joined(separator: "\n")
    }
}

/// Tells the ingest handler, first thing at shutdown, that a stop has begun (so a message it cannot commit
/// is reported as held back).
struct IngestShutdownNotice: Service {
    let handlers: [IngestHandler]

    func run() async throws {
        try? await gracefulShutdown()
        for handler in handlers { handler.stop() }
    }
}
