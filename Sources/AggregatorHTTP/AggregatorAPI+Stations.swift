import Aggregator
import BinProtocol
import Foundation
import Hummingbird

/// Transfer stations: booking loads and reading the stream mass balance.
///
/// | route | answers |
/// |---|---|
/// | `POST /api/v1/loads` | books a load (an operator's or a load token); 201 booked, 200 the same load again, 409 another load under the key |
/// | `GET /api/v1/loads?station=&from=&to=` | loads booked |
/// | `GET /api/v1/balance?station=&from=&to=` | per station, day and stream: collected at points, received, difference, ratio, flags |
/// | `GET /api/v1/plan?date=&stream=&format=&lang=` | the day's collection plan (``PlanBuilder``) |
extension AggregatorAPI {
    func plan(_ query: Parameters) async throws -> Response {
        let date = try date(query, "date") ?? today
        var stream: WasteStream?
        if let text = query.get("stream") {
            guard let parsed = WasteStream(rawValue: text) else {
                throw APIError.badRequest(
                    "stream \"\(text.prefix(20))\" is not one of: \(WasteStream.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
            stream = parsed
        }
        let (format, language) = try formatAndLanguage(query)
        let plan = try await PlanBuilder(
            configuration: runtime.configuration, registry: runtime.registry, store: runtime.store
        )
        .build(date: date, stream: stream)
        var headers: HTTPFields = [.contentType: format.contentType]
        headers[.contentDisposition] =
            "inline; filename=\"plan-\(date)\(stream.map { "-\($0.rawValue)" } ?? "")-\(language.rawValue).\(format.rawValue)\""
        return Response(
            status: .ok, headers: headers,
            body: .init(byteBuffer: ByteBuffer(bytes: plan.render(format: format, language: language))))
    }

    struct LoadRequest: Decodable {
        var id: String
        var station: String
        var stream: WasteStream
        var massKg: Double
        var vehicle: String?
        var round: String?
        var ts: WireTimestamp?

        enum CodingKeys: String, CodingKey {
            case id, station, stream, vehicle, round, ts
            case massKg = "mass_kg"
        }
    }

    struct LoadView: Encodable {
        var id: String
        var station: String
        var stream: WasteStream
        var massKg: Double
        var vehicle: String?
        var round: String?
        var ts: String
        var date: LocalDate
        var bookedBy: String

        enum CodingKeys: String, CodingKey {
            case id, station, stream, vehicle, round, ts, date
            case massKg = "mass_kg"
            case bookedBy = "booked_by"
        }
    }

    func view(_ load: StationLoad) -> LoadView {
        LoadView(
            id: load.id, station: load.station, stream: load.stream, massKg: load.massKg, vehicle: load.vehicle,
            round: load.round,
            ts: timestamp(load.atMs) ?? "", date: load.day, bookedBy: load.bookedBy)
    }

    /// The name of the operator or load token presented; loads need one (reads and read tokens do not
    /// suffice: a load changes the district's figures).
    func loadBooker(authorization: String?) throws -> String {
        try tokenName(
            authorization: authorization,
            among: runtime.configuration.http.tokens + runtime.configuration.http.loadTokens,
            purpose: "booking loads", refusal: "the bearer token may not book loads")
    }

    func bookLoad(_ request: Request) async throws -> Response {
        let who = try loadBooker(authorization: request.headers[.authorization])
        let body = try await request.body.collect(upTo: 16 * 1024)
        let load: LoadRequest
        do {
            load = try JSONDecoder().decode(LoadRequest.self, from: Data(buffer: body))
        } catch {
            throw APIError.badRequest(
                "the body is not a load {id, station, stream, mass_kg, vehicle?, round?, ts?}: \(Self.describe(error))")
        }
        guard Topics.isValidIdentifier(load.id) else {
            throw APIError.badRequest("id must be \(Topics.identifierRule)")
        }
        guard let station = runtime.registry.station(load.station) else {
            throw APIError(
                status: .notFound, code: "not_found",
                message: "no transfer station \(load.station.prefix(64)) in the registry")
        }
        guard station.receives.contains(load.stream) else {
            throw APIError.badRequest(
                "station \(station.id) does not receive \(load.stream.rawValue) (receives: \(station.receives.map(\.rawValue).joined(separator: ", ")))"
            )
        }
        guard load.massKg.isFinite, WireLimits.loadKg.contains(load.massKg) else {
            throw APIError.badRequest("mass_kg must be above 0 and at most \(Int(WireLimits.loadKg.upperBound))")
        }
        for (name, text) in [("vehicle", load.vehicle), ("round", load.round)] where (text?.utf8.count ?? 0) > 64 {
            throw APIError.badRequest("\(name) is longer than 64 bytes")
        }
        let now = clock()
        let atMs = load.ts?.millisecondsSinceEpoch ?? now
        guard atMs <= now + 300_000 else { throw APIError.badRequest("ts is in the future") }
        let record = StationLoad(
            id: load.id, station: station.id, stream: load.stream, massKg: load.massKg, vehicle: load.vehicle,
            round: load.round,
            atMs: atMs, day: runtime.calendar.localDate(millisecondsSinceEpoch: atMs), bookedBy: "http:\(who)",
            receivedAtMs: now)
        switch try await runtime.store.bookLoad(record) {
        case .booked:
            logger.notice(
                "loads.booked",
                metadata: ["load.id": "\(record.id)", "load.station": "\(record.station)", "load.by": "\(who)"])
            await runtime.alerts.observe(
                .stationActivity(station: station.id, day: record.day, atMs: atMs, fromStation: false))
            return APIJSON.response(view(record), status: .created)
        case .duplicate:
            return APIJSON.response(view(record))
        case .conflict(let stored):
            throw APIError(
                status: .conflict, code: "conflict",
                message:
                    "load \(stored.id) is booked already as \(stored.massKg) kg of \(stored.stream.rawValue) at \(stored.station); use a new id for another load"
            )
        }
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): "\(key.stringValue) is missing"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            "\(context.codingPath.map(\.stringValue).joined(separator: ".")) has the wrong type"
        case DecodingError.dataCorrupted(let context):
            context.codingPath.isEmpty
                ? "not JSON" : "\(context.codingPath.map(\.stringValue).joined(separator: ".")) is not valid"
        default: "not JSON"
        }
    }

    /// `station` (optional, must be a station), `from`/`to` (default: the last 7 days).
    func stationRange(_ query: Parameters) throws -> (stations: [String]?, from: LocalDate, to: LocalDate) {
        let stations: [String]?
        if let id = query.get("station") {
            guard runtime.registry.station(id) != nil else {
                throw APIError(
                    status: .notFound, code: "not_found",
                    message: "no transfer station \(id.prefix(64)) in the registry")
            }
            stations = [id]
        } else {
            stations = nil
        }
        let to = try date(query, "to") ?? today
        let from = try date(query, "from") ?? to.adding(days: -6)
        guard from <= to else { throw APIError.badRequest("from \(from) is after to \(to)") }
        guard to.dayNumber - from.dayNumber < 366 else {
            throw APIError.badRequest("the range from \(from) to \(to) is longer than a year")
        }
        return (stations, from, to)
    }

    func loads(_ query: Parameters) async throws -> Response {
        let (stations, from, to) = try stationRange(query)
        let loads = try await runtime.store.loads(
            stations: stations ?? runtime.registry.stations.map(\.id), from: from, to: to)
        struct Body: Encodable { var loads: [LoadView] }
        return APIJSON.response(Body(loads: loads.map(view)))
    }

    struct BalanceView: Encodable {
        struct Day: Encodable {
            var date: LocalDate
            var collectedKg: Double
            var receivedKg: Double
            var differenceKg: Double
            var ratio: Double?
            var mixing: Double
            var missing: Double
            var flags: [AlertKind]
            var streams: [BalanceStreamLine]

            enum CodingKeys: String, CodingKey {
                case date, ratio, mixing, missing, flags, streams
                case collectedKg = "collected_kg"
                case receivedKg = "received_kg"
                case differenceKg = "difference_kg"
            }
        }
        struct Station: Encodable {
            var station: String
            var name: String
            var receives: [WasteStream]
            var deliveringPoints: Int
            var days: [Day]

            enum CodingKeys: String, CodingKey {
                case station, name, receives, days
                case deliveringPoints = "delivering_points"
            }
        }
        var from: LocalDate
        var to: LocalDate
        var tolerance: Double
        var stations: [Station]
    }

    func balance(_ query: Parameters) async throws -> Response {
        let (stations, from, to) = try stationRange(query)
        let configuration = runtime.configuration
        let balances = try await BalanceReader(registry: runtime.registry, store: runtime.store).balances(
            stations: stations, from: from, to: to)
        let views = balances.map { balance in
            BalanceView.Station(
                station: balance.station, name: balance.name,
                receives: runtime.registry.station(balance.station)?.receives ?? [],
                deliveringPoints: runtime.registry.station(balance.station)?.deliveringDevices.count ?? 0,
                days: balance.days.map { day in
                    BalanceView.Day(
                        date: day.day, collectedKg: day.collectedKg, receivedKg: day.receivedKg,
                        differenceKg: day.differenceKg,
                        ratio: day.ratio, mixing: day.mixing, missing: day.missing,
                        flags: day.flags(configuration.alerts, minimumKg: configuration.balance.minimumKg),
                        streams: day.streams.map(BalanceStreamLine.init))
                })
        }
        return APIJSON.response(
            BalanceView(from: from, to: to, tolerance: configuration.alerts.rule(.streamMixing).raise, stations: views))
    }
}
