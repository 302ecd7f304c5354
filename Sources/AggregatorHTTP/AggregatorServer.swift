import Aggregator
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import Prometheus

/// `bins-aggregator serve`: opens the store, then runs the broker connection, ingest, alerts, deliveries
/// and the HTTP API as one `ServiceGroup` until SIGTERM or SIGINT, and shuts them down in reverse order
/// (HTTP first, the broker connection last, after its `online: false`), within the runtime's
/// ``ShutdownLimits``; a second signal forces the stop. The store closes after all of them have stopped.
public enum AggregatorServer {
    public static func serve(
        configuration: AggregatorConfiguration, prometheus: PrometheusCollectorRegistry, logger: Logger
    )
        async throws
    {
        let store = try await AggregatorRuntime.openStore(configuration.storage, logger: logger)
        do {
            let runtime = try AggregatorRuntime(
                configuration: configuration, store: store,
                metricsFactory: PrometheusMetricsFactory(registry: prometheus), logger: logger)
            try await runtime.prepare()
            logger.notice(
                "aggregator.starting",
                metadata: [
                    "aggregator.instance": "\(configuration.instance)",
                    "mqtt.broker": "\(configuration.broker.endpoint)",
                    "aggregator.devices": "\(runtime.registry.points.count)",
                ])
            let application = httpApplication(runtime: runtime, prometheus: prometheus, logger: logger)
            // Listed after the server, so it stops first: open pages' live streams end before the server waits for them.
            try await runtime.run(
                additionalServices: [application, LiveStreamsShutdown(live: runtime.live)], handleSignals: true)
            logger.notice("aggregator.stopped")
        } catch let error as AggregatorError where error.code == .shutdown {
            // Services that ignored cancellation may still be using the store: closing it could wait on them.
            // The process is about to exit; SQLite's WAL and PostgreSQL's transactions make that safe.
            throw error
        } catch {
            await store.close()
            throw error
        }
        await store.close()
    }

    /// The HTTP server for `runtime`, listening on the configured address; `onListening` is told the
    /// port once it listens (tests bind port 0).
    public static func httpApplication(
        runtime: AggregatorRuntime, prometheus: PrometheusCollectorRegistry, logger: Logger,
        onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let http = runtime.configuration.http
        let api = AggregatorAPI(runtime: runtime, prometheus: prometheus, logger: logger)
        let requestTimeout = TimeAmount.milliseconds(Int64(http.requestTimeoutSeconds * 1000))
        return Application(
            router: api.makeRouter(),
            server: .http1(
                configuration: .init(additionalChannelHandlers: [RequestDeadlineHandler(timeout: requestTimeout)])),
            configuration: .init(
                address: .hostname(http.host, port: http.port), serverName: "bins-aggregator",
                availableConnectionsDelegate: MaximumAvailableConnections(http.maxConnections, logger: logger)),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? http.port
                logger.notice("http.listening", metadata: ["http.address": "\(http.host):\(port)"])
                await onListening(port)
            },
            logger: logger)
    }
}
