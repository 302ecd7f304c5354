import Aggregator
import AggregatorHTTP
import BinProtocol
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// Loads booked over HTTP and the balance read back, against a real SQLite ledger.
@Suite("HTTP API: transfer stations")
struct StationAPITests {
    static let loadToken = "weighbridge-token-abcdefghijkl"
    static let readToken = "reader-token-abcdefghijklmnop"

    static let streets = """
        streets:
          - id: s-east
            delivers_to: ts-west
            communities:
              - {id: c-a, name: Garden, kind: property, households: 600, points: [pt-1]}
              - {id: c-b, name: Market, kind: open, households: 400, points: [pt-2]}
              - {id: ts-west, name: West station, kind: transfer_station, points: [st-1]}
        """

    static let extra = """
        balance: {minimum_kg: 1}
        """

    static func load(
        _ id: String, stream: String = "wet", kg: Double = 640, station: String = "ts-west",
        ts: String = "2026-06-01T11:00:00.000+08:00"
    ) -> ByteBuffer {
        ByteBuffer(
            string:
                #"{"id": "\#(id)", "station": "\#(station)", "stream": "\#(stream)", "mass_kg": \#(kg), "vehicle": "A-12345", "round": "r1", "ts": "\#(ts)"}"#
        )
    }

    @Test(
        "a load needs an operator's or a load token; it is booked once, a different load under its key is refused, bad loads are named"
    )
    func bookLoads() async throws {
        let http = """
              read_tokens: [{name: reader, token: \(Self.readToken)}]
              load_tokens: [{name: weighbridge-1, token: \(Self.loadToken)}]
            """
        try await APITests.withAPI(extra: Self.extra, streets: Self.streets, http: http) { harness in
            try await harness.application.test(.router) { client in
                let refused: [(HTTPFields, HTTPResponse.Status)] = [
                    ([:], .unauthorized),
                    ([.authorization: "Bearer \(Self.readToken)"], .unauthorized),
                    ([.authorization: "Bearer not-a-token-at-all"], .unauthorized),
                ]
                for (headers, status) in refused {
                    try await client.execute(
                        uri: "/api/v1/loads", method: .post, headers: headers, body: Self.load("l-1")
                    ) { response async throws in
                        #expect(response.status == status, "\(headers)")
                        #expect(!String(buffer: response.body).contains(Self.readToken))
                    }
                }
                let weighbridge: HTTPFields = [
                    .authorization: "Bearer \(Self.loadToken)", .contentType: "application/json",
                ]
                try await client.execute(
                    uri: "/api/v1/loads", method: .post, headers: weighbridge, body: Self.load("l-1")
                ) { response async throws in
                    #expect(response.status == .created)
                    let body = try APITests.json(response.body)
                    #expect(body["booked_by"] as? String == "http:weighbridge-1")
                    #expect(body["date"] as? String == "2026-06-01")
                }
                try await client.execute(
                    uri: "/api/v1/loads", method: .post, headers: weighbridge, body: Self.load("l-1")
                ) { response async throws in
                    #expect(response.status == .ok)
                }
                try await client.execute(
                    uri: "/api/v1/loads", method: .post, headers: weighbridge, body: Self.load("l-1", kg: 700)
                ) { response async throws in
                    #expect(response.status == .conflict)
                }
                let bad: [(ByteBuffer, HTTPResponse.Status, String)] = [
                    (Self.load("l-2", station: "c-a"), .notFound, "no transfer station c-a"),
                    (Self.load("l-2", stream: "hazardous"), .badRequest, "does not receive hazardous"),
                    (Self.load("l-2", kg: -5), .badRequest, "mass_kg"),
                    (Self.load("l 2"), .badRequest, "id must be"),
                    (Self.load("l-2", ts: "2099-01-01T00:00:00.000+08:00"), .badRequest, "future"),
                    (ByteBuffer(string: #"{"id": "l-2", "station": "ts-west"}"#), .badRequest, "stream is missing"),
                    (ByteBuffer(string: "not json"), .badRequest, "not JSON"),
                ]
                for (body, status, message) in bad {
                    try await client.execute(uri: "/api/v1/loads", method: .post, headers: weighbridge, body: body) {
                        response async throws in
                        #expect(response.status == status, "\(message)")
                        let error = try APITests.json(response.body)["error"] as? [String: Any]
                        #expect(
                            (error?["message"] as? String)?.contains(message) == true, "\(message): \(error ?? [:])")
                    }
                }
                // A load token reads nothing and acknowledges nothing.
                try await client.execute(uri: "/api/v1/alerts/any/ack", method: .post, headers: weighbridge) {
                    response async throws in
                    #expect(response.status == .unauthorized)
                }
                try await client.execute(
                    uri: "/api/v1/loads?from=2026-06-01&to=2026-06-01", method: .get, headers: weighbridge
                ) { response async throws in
                    #expect(response.status == .unauthorized)
                }
                // The operator's token books loads too, under its own name.
                try await client.execute(
                    uri: "/api/v1/loads", method: .post, headers: [.authorization: "Bearer \(APITests.token)"],
                    body: Self.load("l-3", stream: "dry", kg: 300)
                ) { response async throws in
                    #expect(response.status == .created)
                    #expect(try APITests.json(response.body)["booked_by"] as? String == "http:duty-officer")
                }
                try await client.execute(
                    uri: "/api/v1/loads?from=2026-06-01&to=2026-06-01", method: .get,
                    headers: [.authorization: "Bearer \(Self.readToken)"]
                ) { response async throws in
                    let loads = try #require(try APITests.json(response.body)["loads"] as? [[String: Any]])
                    #expect(loads.map { $0["id"] as? String } == ["l-1", "l-3"])
                }
            }
        }
    }

    @Test("the balance compares the points' collections with the station's intake per stream and flags a mixed day")
    func balance() async throws {
        try await APITests.withAPI(extra: Self.extra, streets: Self.streets) { harness in
            let store = harness.runtime.store
            var seq: Int64 = 0
            func collect(_ device: String, _ stream: WasteStream, kg: Double) async throws {
                seq += 1
                let event = EventPayload(
                    device: device, ts: APITests.time("2026-06-01T10:00"), seq: seq,
                    body: .collection(Collection(bin: stream.rawValue, stream: stream, massKg: kg, fillBefore: nil)))
                _ = try await store.book(
                    EventBooking(event: event, day: LocalDate("2026-06-01")!, receivedAtMs: 0, payload: "{}"))
            }
            try await collect("pt-1", .wet, kg: 400)
            try await collect("pt-2", .dry, kg: 300)
            try await collect("pt-2", .recyclable, kg: 50)  // not received by the station
            for (id, stream, kg) in [("w", WasteStream.wet, 300.0), ("d", .dry, 400.0)] {
                _ = try await store.bookLoad(
                    StationLoad(
                        id: id, station: "ts-west", stream: stream, massKg: kg,
                        atMs: APITests.time("2026-06-01T11:00").millisecondsSinceEpoch,
                        day: LocalDate("2026-06-01")!, bookedBy: "http:test", receivedAtMs: 0))
            }
            try await harness.application.test(.router) { client in
                try await client.execute(
                    uri: "/api/v1/balance?station=ts-west&from=2026-06-01&to=2026-06-02", method: .get
                ) { response async throws in
                    #expect(response.status == .ok)
                    let body = try APITests.json(response.body)
                    let stations = try #require(body["stations"] as? [[String: Any]])
                    #expect(stations.map { $0["station"] as? String } == ["ts-west"])
                    #expect(stations.first?["delivering_points"] as? Int == 2)
                    let days = try #require(stations.first?["days"] as? [[String: Any]])
                    #expect(days.map { $0["date"] as? String } == ["2026-06-01"])
                    #expect(days.first?["collected_kg"] as? Double == 700)
                    #expect(days.first?["received_kg"] as? Double == 700)
                    #expect(days.first?["flags"] as? [String] == ["stream_mixing"])
                    let streams = try #require(days.first?["streams"] as? [[String: Any]])
                    #expect(streams.map { $0["stream"] as? String } == ["wet", "dry"])
                    #expect(streams.map { $0["difference_kg"] as? Double } == [-100, 100])
                }
                try await client.execute(uri: "/api/v1/balance?station=c-a", method: .get) { response async throws in
                    #expect(response.status == .notFound)
                }
                try await client.execute(uri: "/api/v1/reports/daily?date=2026-06-01&format=csv&lang=zh", method: .get)
                { response async throws in
                    let text = String(buffer: response.body)
                    #expect(text.contains("中转站分类质量平衡"))
                    #expect(text.contains("混装混运"))
                }
            }
        }
    }

    @Test("the bins carry their forecast; the plan answers in every format and language and refuses a bad stream")
    func forecastAndPlan() async throws {
        try await APITests.withAPI(extra: Self.extra, streets: Self.streets) { harness in
            let store = harness.runtime.store
            let runtime = harness.runtime
            try await store.recordBirth(
                BirthPayload(
                    device: "pt-1", ts: APITests.time("2026-06-01T06:00"), session: 1, version: "1", configHash: "h",
                    board: "sim",
                    bins: [BinDescriptor(id: "wet", stream: .wet, capacityL: 240)]), receivedAtMs: 0)
            var items: [IngestItem] = []
            for hour in 0..<10 {
                let event = EventPayload(
                    device: "pt-1", ts: APITests.time(String(format: "2026-06-01T%02d:00", 8 + hour)),
                    seq: Int64(hour + 1),
                    body: .deposit(
                        Deposit(
                            bin: "wet", stream: .wet, massKg: 6, volumeL: 12, densityKgL: 0.5, observed: .wet,
                            confidence: 0.9, contaminated: false, quality: .good)))
                items.append(
                    .event(
                        EventBooking(
                            event: event, day: LocalDate("2026-06-01")!, receivedAtMs: 0,
                            payload: try WireCodec.encodeString(event))))
            }
            _ = try await store.commit(items)
            try await store.recordState(
                StatePayload(
                    device: "pt-1", ts: APITests.time("2026-06-01T18:00"), bin: "wet", stream: .wet, fill: 0.7,
                    massKg: 60, lidOpen: false, quality: .good, temperatureC: nil),
                receivedAtMs: 0)
            let now = APITests.time("2026-06-01T18:30").millisecondsSinceEpoch
            await ForecastService(
                snapshot: runtime.forecasts, store: store, registry: runtime.registry, calendar: runtime.calendar,
                settings: runtime.configuration.forecast, collectionFill: 0.8, logger: APITests.logger, clock: { now }
            ).refresh()
            try await harness.application.test(.router) { client in
                try await client.execute(uri: "/api/v1/bins", method: .get) { response async throws in
                    let bins = try #require(try APITests.json(response.body)["bins"] as? [[String: Any]])
                    let wet = try #require(bins.first { $0["device"] as? String == "pt-1" })
                    // Less than a day of history: the community's wet average (here this bin's 120 L over the
                    // 18.5 h observed, 6.5 L an hour) takes the 24 L to the collection fill in 3.7 h from 18:00.
                    #expect(wet["forecast_collection_at"] as? String == "2026-06-01T21:42:00.000+08:00")
                    #expect(wet["forecast_basis"] as? String == "stream_average")
                    #expect(wet["forecast_full_at"] != nil)
                }
                try await client.execute(uri: "/api/v1/plan?date=2026-06-02", method: .get) { response async throws in
                    #expect(response.status == .ok)
                    let body = try APITests.json(response.body)
                    let stops = try #require(body["stops"] as? [[String: Any]])
                    #expect(stops.map { $0["device"] as? String } == ["pt-1"])
                    #expect(body["fixed_round_visits"] as? Int == 1)
                }
                try await client.execute(uri: "/api/v1/plan?date=2026-06-02&format=html&lang=zh", method: .get) {
                    response async throws in
                    #expect(response.status == .ok)
                    #expect(response.headers[.contentType] == "text/html; charset=utf-8")
                    #expect(String(buffer: response.body).contains("每日清运计划"))
                }
                for uri in ["/api/v1/plan?stream=compost", "/api/v1/plan?format=pdf", "/api/v1/plan?date=2026-13-01"] {
                    try await client.execute(uri: uri, method: .get) { response async throws in
                        #expect(response.status == .badRequest, "\(uri)")
                    }
                }
            }
        }
    }
}
