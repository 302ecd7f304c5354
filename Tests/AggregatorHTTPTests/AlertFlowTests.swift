import Aggregator
import AggregatorHTTP
import BinProtocol
import BinsTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import Lifecycle
import Logging
import MQTT
import Prometheus
import Synchronization
import Testing

/// One alert's whole life with every part real: a device publishes bin states to mosquitto, the
/// aggregator raises `bin_full`, publishes it on `sanitation/v1/alerts` and POSTs it to a webhook
/// receiver on loopback (which fails the first attempt, so the retry is exercised), an operator
/// acknowledges it over HTTP with a bearer token, the bin is emptied and the alert clears. The receiver
/// sees each lifecycle step exactly once, each with a valid HMAC signature.
@Suite("Alert flow")
struct AlertFlowTests {
    static let secret = "webhook-secret-for-tests"

    /// What the webhook receiver got, in order.
    final class Receiver: Sendable {
        struct Delivery: Sendable {
            var body: [UInt8]
            var signature: String?
            var deliveryID: String?
            var status: Int
        }
        let deliveries = Mutex<[Delivery]>([])
        /// The receiver fails this many requests first, to make the aggregator retry.
        let failuresLeft = Mutex(1)

        func receive(body: [UInt8], signature: String?, deliveryID: String?) -> HTTPResponse.Status {
            let fail = failuresLeft.withLock { left -> Bool in
                guard left > 0 else { return false }
                left -= 1
                return true
            }
            deliveries.withLock {
                $0.append(Delivery(body: body, signature: signature, deliveryID: deliveryID, status: fail ? 500 : 204))
            }
            return fail ? .internalServerError : .noContent
        }

        var accepted: [Delivery] { deliveries.withLock { $0.filter { $0.status == 204 } } }
    }

    /// HMAC-SHA256 computed by openssl, independently of the aggregator's implementation.
    static func opensslHMAC(_ body: [UInt8], directory: TemporaryDirectory) async throws -> String {
        let input = directory.file("body-\(UUID().uuidString.prefix(8))")
        try Data(body).write(to: URL(fileURLWithPath: input))
        let output = directory.file("hmac-\(UUID().uuidString.prefix(8))")
        let openssl = try ChildProcess(
            "openssl", ["dgst", "-sha256", "-hmac", secret, "-r", input], outputPath: output)
        #expect(try await openssl.waitForExit(timeout: .seconds(10)) == .exited(0))
        let text = try String(contentsOfFile: output, encoding: .utf8)
        return String(text.split(separator: " ").first ?? "")
    }

    static func statePayload(fill: Double, at ts: String) -> [UInt8] {
        let state = StatePayload(
            device: "pt-1", ts: APITests.time(ts), bin: "wet", stream: .wet, fill: fill, massKg: fill * 50,
            lidOpen: false,
            quality: .good, temperatureC: 20)
        return (try? WireCodec.encode(state)) ?? []
    }

    @Test("raise, webhook retry, acknowledge over HTTP, clear: each step delivered once, signed")
    func alertLifecycle() async throws {
        let directory = try TemporaryDirectory(prefix: "alert-flow")
        let broker = try await MosquittoBroker.start()
        let logger = APITests.logger

        // The webhook receiver: a small HTTP server on a loopback port of its own.
        let receiver = Receiver()
        let receiverRouter = Router()
        receiverRouter.post("hook") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            let status = receiver.receive(
                body: Array(body.readableBytesView),
                signature: request.headers.first { $0.name.canonicalName == "x-bins-signature" }?.value,
                deliveryID: request.headers.first { $0.name.canonicalName == "x-bins-delivery" }?.value)
            return Response(status: status)
        }
        let (receiverPorts, receiverPort) = AsyncStream.makeStream(of: Int.self)
        let receiverApp = Application(
            router: receiverRouter, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in receiverPort.yield(channel.localAddress?.port ?? 0) }, logger: logger)
        let receiverTask = Task { try await receiverApp.run() }
        defer { receiverTask.cancel() }
        var portIterator = receiverPorts.makeAsyncIterator()
        let hookPort = try #require(await portIterator.next())

        // The aggregator: broker, ledger, alerts, deliveries, and the HTTP API on its own port.
        let yaml = APITests.yaml(
            directory: directory.path, brokerPort: broker.port,
            extra: """
                webhooks:
                  - {name: ops, url: "http://127.0.0.1:\(hookPort)/hook", secret: \(Self.secret), timeout_s: 5}
                alerts:
                  evaluate_every_s: 1
                  bin_full: {raise: 0.8, clear: 0.6, for_s: 60, severity: warning}
                """)
        let configuration = try AggregatorConfiguration.parse(yaml: yaml, source: "aggregator.yaml")
        let store = try await AggregatorRuntime.openStore(configuration.storage, logger: logger)
        let prometheus = PrometheusCollectorRegistry()
        let runtime = try AggregatorRuntime(
            configuration: configuration, store: store, metricsFactory: PrometheusMetricsFactory(registry: prometheus),
            logger: logger)
        try await runtime.whileRunning(connectTimeout: .seconds(15)) { runtime in
            // An operator console listening on sanitation/v1/alerts.
            let console = try MQTTClient(
                configuration: MQTTConfiguration(host: broker.host, port: broker.port, clientID: "console"),
                logger: logger)
            let alertMessages = try await console.subscribe(Topics.alerts, qos: .atLeastOnce)
            let consoleTask = Task { try await console.run() }
            try await console.waitUntilConnected(timeout: .seconds(10))
            // The device.
            let device = try MQTTClient(
                configuration: MQTTConfiguration(host: broker.host, port: broker.port, clientID: "pt-1"), logger: logger
            )
            let deviceTask = Task { try await device.run() }
            try await device.waitUntilConnected(timeout: .seconds(10))

            let api = AggregatorAPI(runtime: runtime, prometheus: prometheus, logger: logger)
            let apiApplication = Application(router: api.makeRouter(), logger: logger)
            try await apiApplication.test(.live) { client in
                // 90 % full, still 90 % a minute later by the device's clock: bin_full raises.
                try await device.publish(
                    MQTTMessage(
                        topic: Topics.state("pt-1", bin: "wet"),
                        payload: Self.statePayload(fill: 0.9, at: "2026-06-01T09:00")))
                try await device.publish(
                    MQTTMessage(
                        topic: Topics.state("pt-1", bin: "wet"),
                        payload: Self.statePayload(fill: 0.92, at: "2026-06-01T09:01")))
                try await waitUntil(timeout: .seconds(20), "the alert is raised") {
                    try await store.openAlerts().count == 1
                }
                let alert = try #require(try await store.openAlerts().first)
                #expect(alert.kind == .binFull)
                #expect(alert.subject == "bin:pt-1/wet")
                #expect(alert.raisedAtMs == APITests.time("2026-06-01T09:01").millisecondsSinceEpoch)

                // The receiver failed the first POST; the retry (after about a second) gets through.
                try await waitUntil(timeout: .seconds(20), "the raised alert reaches the webhook") {
                    receiver.accepted.count == 1
                }
                #expect(receiver.deliveries.withLock { $0.count } == 2)

                try await client.execute(uri: "/api/v1/alerts/\(alert.id)/ack", method: .post) {
                    response async throws in
                    #expect(response.status == .unauthorized)
                }
                try await client.execute(
                    uri: "/api/v1/alerts/\(alert.id)/ack", method: .post,
                    headers: [.authorization: "Bearer \(APITests.token)"]
                ) { response async throws in
                    #expect(response.status == .ok)
                }
                try await waitUntil(timeout: .seconds(20), "the acknowledgement reaches the webhook") {
                    receiver.accepted.count == 2
                }

                // Emptied: 10 % full. The alert clears.
                try await device.publish(
                    MQTTMessage(
                        topic: Topics.state("pt-1", bin: "wet"),
                        payload: Self.statePayload(fill: 0.1, at: "2026-06-01T09:30")))
                try await waitUntil(timeout: .seconds(20), "the clearance reaches the webhook") {
                    receiver.accepted.count == 3
                }

                try await client.execute(uri: "/api/v1/alerts?state=cleared", method: .get) { response async throws in
                    let alerts = try #require(try APITests.json(response.body)["alerts"] as? [[String: Any]])
                    #expect(alerts.map { $0["id"] as? String } == [alert.id])
                    #expect(alerts.first?["acknowledged_by"] as? String == "duty-officer")
                }
                try await client.execute(uri: "/metrics", method: .get) { response async throws in
                    let text = String(buffer: response.body)
                    #expect(text.contains(#"bins_alerts_raised_total{kind="bin_full"} 1"#))
                    #expect(text.contains(#"bins_ingest_messages_total{type="state"} 3"#))
                }
                try await client.execute(uri: "/healthz", method: .get) { response async throws in
                    #expect(try APITests.json(response.body)["status"] as? String == "ok")
                }
            }

            // The webhook: exactly raised, acknowledged, cleared, once each, signed with the shared secret.
            let accepted = receiver.accepted
            let payloads = try accepted.map { try WireCodec.decode(AlertPayload.self, from: $0.body) }
            #expect(payloads.map(\.state) == [.raised, .acknowledged, .cleared])
            #expect(Set(payloads.map(\.id)).count == 1)
            #expect(Set(accepted.compactMap(\.deliveryID)).count == 3)
            for delivery in accepted {
                let expected = try await Self.opensslHMAC(delivery.body, directory: directory)
                #expect(delivery.signature == "sha256=\(expected)")
            }
            // The retried POST carried the same delivery id as its successful repeat.
            #expect(receiver.deliveries.withLock { $0[0].deliveryID == $0[1].deliveryID })

            // The console saw the same three lifecycle messages on sanitation/v1/alerts.
            let consoleStates = await withDeadline(.seconds(10)) {
                var states: [AlertState] = []
                for await message in alertMessages {
                    guard let payload = try? WireCodec.decode(AlertPayload.self, from: message.payload) else {
                        continue
                    }
                    states.append(payload.state)
                    if states.count == 3 { break }
                }
                return states
            }
            #expect(consoleStates == [.raised, .acknowledged, .cleared])
            #expect(try await store.pendingDeliveries().isEmpty)

            await device.disconnect()
            await console.disconnect()
            deviceTask.cancel()
            consoleTask.cancel()
        }
        await store.close()
    }
}
