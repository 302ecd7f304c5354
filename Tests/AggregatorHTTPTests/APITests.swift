import Aggregator
import AggregatorHTTP
import BinProtocol
import BinsTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Prometheus
import Testing

/// The HTTP API against a real SQLite ledger, requests sent straight to the router.
@Suite("HTTP API")
struct APITests {
    static let logger: Logger = {
        var logger = Logger(label: "aggregator-http-tests")
        logger.logLevel = .warning
        return logger
    }()

    static let token = "duty-officer-token-0123456789"

    static let streets = """
        streets:
          - id: s-east
            communities:
              - {id: c-a, name: Garden, kind: property, households: 600, points: [pt-1]}
              - {id: c-b, name: Market, kind: open, households: 400, points: [pt-2]}
        """

    static func yaml(
        directory: String, brokerPort: Int = 1, extra: String = "", streets: String = streets, http: String = ""
    ) -> String {
        """
        time_zone: Asia/Shanghai
        instance: http-test
        broker: {host: 127.0.0.1, port: \(brokerPort), client_id: agg-\(UUID().uuidString.prefix(8)), reconnect_min_ms: 50, reconnect_max_ms: 500}
        storage: {sqlite: \(directory)/ledger.sqlite, synchronous: normal}
        http:
          listen: 127.0.0.1:0
          tokens: [{name: duty-officer, token: \(token)}]
        \(http)
        district: {id: riverside, name: Riverside}
        \(streets)
        targets:
          separation_rate: {target: 0.4, by: 2026-12-31}
        \(extra)
        """
    }

    struct Harness {
        let runtime: AggregatorRuntime
        let prometheus: PrometheusCollectorRegistry
        let application: Application<RouterResponder<BasicRequestContext>>
    }

    /// A runtime (its broker connection never started) and the API's router over an empty ledger.
    static func withAPI(
        extra: String = "", streets: String = streets, http: String = "",
        clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) },
        _ body: (Harness) async throws -> Void
    ) async throws {
        let directory = try TemporaryDirectory(prefix: "aggregator-http")
        let configuration = try AggregatorConfiguration.parse(
            yaml: yaml(directory: directory.path, extra: extra, streets: streets, http: http), source: "aggregator.yaml"
        )
        let store = try await AggregatorRuntime.openStore(configuration.storage, logger: logger)
        let prometheus = PrometheusCollectorRegistry()
        let runtime = try AggregatorRuntime(
            configuration: configuration, store: store, metricsFactory: PrometheusMetricsFactory(registry: prometheus),
            logger: logger)
        let api = AggregatorAPI(runtime: runtime, prometheus: prometheus, logger: logger, clock: clock)
        let application = Application(router: api.makeRouter(), logger: logger)
        do {
            try await body(Harness(runtime: runtime, prometheus: prometheus, application: application))
        } catch {
            await store.close()
            throw error
        }
        await store.close()
    }

    static func json(_ buffer: ByteBuffer) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as? [String: Any])
    }

    static func time(_ text: String) -> WireTimestamp { WireTimestamp(rfc3339: text + ":00.000+08:00")! }

    static func deposit(_ device: String, seq: Int64, at ts: String, stream: WasteStream, kg: Double) -> [UInt8] {
        let event = EventPayload(
            device: device, ts: time(ts), seq: seq,
            body: .deposit(
                Deposit(
                    bin: stream.rawValue, stream: stream, massKg: kg, volumeL: nil, densityKgL: nil, observed: .unknown,
                    confidence: 0.5,
                    contaminated: false, quality: .good)))
        return (try? WireCodec.encode(event)) ?? []
    }

    @Test("errors are JSON with a status, a code and a message")
    func errors() async throws {
        try await Self.withAPI { harness in
            try await harness.application.test(.router) { client in
                let cases: [(String, HTTPResponse.Status, String)] = [
                    ("/nowhere", .notFound, "not_found"),
                    ("/api/v1/ledger?level=galaxy", .badRequest, "invalid_argument"),
                    ("/api/v1/ledger?level=community", .badRequest, "invalid_argument"),
                    ("/api/v1/ledger?level=community&id=c-zzz", .notFound, "not_found"),
                    ("/api/v1/ledger?from=2026-02-30", .badRequest, "invalid_argument"),
                    ("/api/v1/ledger?from=2026-06-10&to=2026-06-01", .badRequest, "invalid_argument"),
                    ("/api/v1/ledger?period=fortnight", .badRequest, "invalid_argument"),
                    ("/api/v1/alerts?state=sleeping", .badRequest, "invalid_argument"),
                    ("/api/v1/alerts?limit=0", .badRequest, "invalid_argument"),
                    ("/api/v1/reports/hourly", .notFound, "not_found"),
                    ("/api/v1/reports/daily?format=pdf", .badRequest, "invalid_argument"),
                    ("/api/v1/reports/daily?lang=fr", .badRequest, "invalid_argument"),
                ]
                for (uri, status, code) in cases {
                    try await client.execute(uri: uri, method: .get) { response async throws in
                        #expect(response.status == status, "\(uri)")
                        #expect(response.headers[.contentType] == "application/json; charset=utf-8", "\(uri)")
                        let body = try Self.json(response.body)
                        let error = try #require(body["error"] as? [String: Any], "\(uri)")
                        #expect(error["code"] as? String == code, "\(uri)")
                        #expect(error["status"] as? Int == Int(status.code), "\(uri)")
                        #expect((error["message"] as? String)?.isEmpty == false, "\(uri)")
                    }
                }
            }
        }
    }

    @Test("health and metrics: database ok, broker not connected, every metric series present")
    func healthAndMetrics() async throws {
        try await Self.withAPI { harness in
            // Ingest one message of each outcome through the processor, as the MQTT handler would.
            let processor = harness.runtime.processor
            _ = await processor.process(
                topic: Topics.events("pt-1"),
                payload: Self.deposit("pt-1", seq: 1, at: "2026-06-01T09:00", stream: .wet, kg: 2), receivedAtMs: 1)
            _ = await processor.process(
                topic: Topics.events("pt-1"),
                payload: Self.deposit("pt-1", seq: 1, at: "2026-06-01T09:00", stream: .wet, kg: 2), receivedAtMs: 2)
            _ = await processor.process(topic: Topics.events("pt-1"), payload: Array("nope".utf8), receivedAtMs: 3)
            try await harness.application.test(.router) { client in
                try await client.execute(uri: "/healthz", method: .get) { response async throws in
                    #expect(response.status == .ok)
                    let body = try Self.json(response.body)
                    #expect(body["status"] as? String == "degraded")
                    #expect(body["database"] as? String == "ok")
                    #expect(body["broker"] as? String == "disconnected")
                    #expect((body["ingest"] as? [String: Any])?["duplicates"] as? Int == 1)
                }
                try await client.execute(uri: "/metrics", method: .get) { response async throws in
                    #expect(response.status == .ok)
                    let text = String(buffer: response.body)
                    #expect(text.contains(#"bins_ingest_messages_total{type="deposit"} 1"#))
                    #expect(text.contains(#"bins_ingest_messages_total{type="status"} 0"#))
                    #expect(text.contains(#"bins_ingest_rejected_total{reason="malformed_json"} 1"#))
                    #expect(text.contains(#"bins_ingest_rejected_total{reason="unknown_device"} 0"#))
                    #expect(text.contains("bins_ingest_duplicates_total 1"))
                    #expect(text.contains(#"bins_alerts_raised_total{kind="bin_full"} 0"#))
                }
            }
        }
    }

    @Test("ledger: levels, ids and rollups by week")
    func ledger() async throws {
        try await Self.withAPI { harness in
            let store = harness.runtime.store
            let events: [(String, Int64, String, WasteStream, Double)] = [
                ("pt-1", 1, "2026-06-01T09:00", .wet, 2), ("pt-1", 2, "2026-06-02T09:00", .dry, 3),
                ("pt-2", 1, "2026-06-08T09:00", .wet, 5), ("pt-2", 2, "2026-06-09T09:00", .recyclable, 1),
            ]
            for (device, seq, ts, stream, kg) in events {
                #expect(
                    await harness.runtime.processor.process(
                        topic: Topics.events(device),
                        payload: Self.deposit(device, seq: seq, at: ts, stream: stream, kg: kg), receivedAtMs: 1)
                        == .accepted(.deposit))
            }
            #expect(try await store.bookedEventCount() == 4)
            // pt-1 names its bins in its birth message; the API knows bins from the devices.
            let birth = BirthPayload(
                device: "pt-1", ts: Self.time("2026-06-01T08:00"), session: 1, version: "test",
                configHash: "0123456789abcdef",
                board: "sim",
                bins: [
                    BinDescriptor(id: "wet", stream: .wet, capacityL: 240),
                    BinDescriptor(id: "dry", stream: .dry, capacityL: 240),
                ])
            #expect(
                await harness.runtime.processor.process(
                    topic: Topics.birth("pt-1"), payload: try WireCodec.encode(birth), receivedAtMs: 1)
                    == .accepted(.birth))
            try await harness.application.test(.router) { client in
                try await client.execute(uri: "/api/v1/ledger?level=bin&id=pt-1/compost", method: .get) {
                    response async throws in
                    #expect(
                        response.status == .notFound, "a bin the point never named is unknown, like an unknown point")
                }
                try await client.execute(uri: "/api/v1/ledger?from=2026-06-01&to=2026-06-14&period=week", method: .get)
                { response async throws in
                    #expect(response.status == .ok)
                    let body = try Self.json(response.body)
                    #expect(body["level"] as? String == "district")
                    #expect(body["id"] as? String == "riverside")
                    let rows = try #require(body["rows"] as? [[String: Any]])
                    #expect(rows.map { $0["period"] as? String } == ["2026-W23", "2026-W24"])
                    #expect(rows.map { ($0["total"] as? [String: Any])?["deposited_kg"] as? Double } == [5, 6])
                    #expect(rows.first?["separation_rate"] as? Double == 0.4)
                    #expect(((body["total"] as? [String: Any])?["total"] as? [String: Any])?["deposits"] as? Int == 4)
                }
                try await client.execute(
                    uri: "/api/v1/ledger?level=community&id=c-b&from=2026-06-01&to=2026-06-30&period=month",
                    method: .get
                ) {
                    response async throws in
                    let rows = try #require(try Self.json(response.body)["rows"] as? [[String: Any]])
                    #expect(rows.count == 1)
                    let streams = try #require(rows.first?["streams"] as? [String: [String: Any]])
                    #expect(streams["wet"]?["deposited_kg"] as? Double == 5)
                    #expect(streams["recyclable"]?["deposited_kg"] as? Double == 1)
                }
                try await client.execute(
                    uri: "/api/v1/ledger?level=bin&id=pt-1/dry&from=2026-06-01&to=2026-06-03", method: .get
                ) { response async throws in
                    let rows = try #require(try Self.json(response.body)["rows"] as? [[String: Any]])
                    #expect(rows.count == 3)
                    #expect(rows.map { ($0["total"] as? [String: Any])?["deposited_kg"] as? Double } == [0, 3, 0])
                }
                try await client.execute(uri: "/api/v1/bins", method: .get) { response async throws in
                    #expect(response.status == .ok)
                    #expect(try Self.json(response.body)["bins"] is [Any])
                }
                try await client.execute(uri: "/api/v1/targets", method: .get) { response async throws in
                    let targets = try #require(try Self.json(response.body)["targets"] as? [[String: Any]])
                    #expect(targets.map { $0["id"] as? String } == ["separation_rate"])
                }
                try await client.execute(
                    uri: "/api/v1/reports/weekly?date=2026-06-03&format=html&lang=zh", method: .get
                ) { response async throws in
                    #expect(response.status == .ok)
                    #expect(response.headers[.contentType] == "text/html; charset=utf-8")
                    #expect(String(buffer: response.body).contains("周报"))
                }
                try await client.execute(uri: "/api/v1/reports/monthly?date=2026-06-03&format=csv", method: .get) {
                    response async throws in
                    #expect(response.headers[.contentType] == "text/csv; charset=utf-8")
                    #expect(response.headers[.contentDisposition] == "inline; filename=\"monthly-2026-06-en.csv\"")
                }
                try await client.execute(uri: "/api/v1/reports/quarterly?date=2026-06-03", method: .get) {
                    response async throws in
                    let header = try #require(try Self.json(response.body)["header"] as? [String: Any])
                    #expect(header["period"] as? String == "2026-Q2")
                }
            }
        }
    }

    @Test("acknowledging needs a valid bearer token; unknown and cleared alerts are refused")
    func acknowledge() async throws {
        try await Self.withAPI { harness in
            let store = harness.runtime.store
            let open = AlertRecord(
                id: "alert-open", kind: .binFull, severity: .warning, subject: "bin:pt-1/wet", value: 0.9,
                threshold: 0.8, message: "full",
                raisedAtMs: 1_780_272_000_000)
            let cleared = AlertRecord(
                id: "alert-cleared", kind: .binFull, severity: .warning, state: .cleared, subject: "bin:pt-2/wet",
                value: 0.2, threshold: 0.8,
                message: "full", raisedAtMs: 1_780_272_000_000, clearedAtMs: 1_780_272_060_000)
            #expect(try await store.raiseAlert(open, deliveries: []))
            #expect(try await store.raiseAlert(cleared, deliveries: []))
            try await harness.application.test(.router) { client in
                let attempts: [(String, HTTPFields, HTTPResponse.Status)] = [
                    ("alert-open", [:], .unauthorized),
                    ("alert-open", [.authorization: "Bearer not-the-token-at-all"], .unauthorized),
                    ("alert-open", [.authorization: "Basic \(Self.token)"], .unauthorized),
                    ("alert-missing", [.authorization: "Bearer \(Self.token)"], .notFound),
                    ("alert-cleared", [.authorization: "Bearer \(Self.token)"], .conflict),
                ]
                for (id, headers, status) in attempts {
                    try await client.execute(uri: "/api/v1/alerts/\(id)/ack", method: .post, headers: headers) {
                        response async throws in
                        #expect(response.status == status, "\(id) \(headers)")
                        #expect(!String(buffer: response.body).contains(Self.token))
                        if status == .unauthorized {
                            #expect(response.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true)
                        }
                    }
                }
                try await client.execute(
                    uri: "/api/v1/alerts/alert-open/ack", method: .post,
                    headers: [.authorization: "Bearer \(Self.token)"]
                ) { response async throws in
                    #expect(response.status == .ok)
                    let body = try Self.json(response.body)
                    #expect(body["state"] as? String == "acknowledged")
                    #expect(body["acknowledged_by"] as? String == "duty-officer")
                }
                try await client.execute(uri: "/api/v1/alerts?state=acknowledged", method: .get) {
                    response async throws in
                    let alerts = try #require(try Self.json(response.body)["alerts"] as? [[String: Any]])
                    #expect(alerts.map { $0["id"] as? String } == ["alert-open"])
                }
                try await client.execute(uri: "/api/v1/alerts", method: .get) { response async throws in
                    let alerts = try #require(try Self.json(response.body)["alerts"] as? [[String: Any]])
                    #expect(alerts.map { $0["id"] as? String } == ["alert-open"])
                }
            }
            // The acknowledgement was enqueued for delivery (MQTT; no webhooks configured here).
            #expect(try await store.pendingDeliveries().map(\.target) == ["mqtt"])
        }
    }
}
