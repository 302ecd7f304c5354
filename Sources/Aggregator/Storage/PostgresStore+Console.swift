import BinProtocol
import PostgresNIO

/// The queries behind the console's pages (docs/console.md).
extension PostgresStore {
    public func recentEvents(device: String, limit: Int) async throws(AggregatorError) -> [StoredEvent] {
        let rows = try await rows(
            "read recent events",
            "SELECT payload, day, received_ms FROM events WHERE device = \(device) ORDER BY seq DESC LIMIT \(limit)")
        do {
            return try rows.compactMap { row in
                StoreRules.decodeEvent(try row["payload"].decode(String.self)).map {
                    StoredEvent(
                        event: $0, day: LocalDate(dayNumber: (try? row["day"].decode(Int64.self)) ?? 0),
                        receivedAtMs: (try? row["received_ms"].decode(Int64.self)) ?? 0)
                }
            }
        } catch {
            throw failure(error, doing: "decode recent events")
        }
    }

    public func dailyTotals(devices: [String]?, from: LocalDate, to: LocalDate) async throws(AggregatorError) -> [LedgerDayTotal] {
        if devices?.isEmpty == true { return [] }
        let sums = """
            SELECT day, stream, SUM(deposited_kg) AS deposited_kg, SUM(collected_kg) AS collected_kg,
                   SUM(deposits)::BIGINT AS deposits, SUM(collections)::BIGINT AS collections,
                   SUM(contaminated_kg) AS contaminated_kg, SUM(unknown_kg) AS unknown_kg, SUM(deposited_l) AS deposited_l
            FROM ledger
            """
        let query: PostgresQuery =
            if let devices {
                "\(unescaped: sums) WHERE day >= \(from.dayNumber) AND day <= \(to.dayNumber) AND device = ANY(\(devices)) GROUP BY day, stream ORDER BY day, stream"
            } else {
                "\(unescaped: sums) WHERE day >= \(from.dayNumber) AND day <= \(to.dayNumber) GROUP BY day, stream ORDER BY day, stream"
            }
        let rows = try await rows("read daily totals", query)
        do {
            return try rows.compactMap { row -> LedgerDayTotal? in
                guard let stream = WasteStream(rawValue: try row["stream"].decode(String.self)) else { return nil }
                return LedgerDayTotal(
                    day: LocalDate(dayNumber: try row["day"].decode(Int64.self)), stream: stream,
                    figures: LedgerFigures(
                        depositedKg: try row["deposited_kg"].decode(Double.self),
                        collectedKg: try row["collected_kg"].decode(Double.self),
                        deposits: try row["deposits"].decode(Int.self), collections: try row["collections"].decode(Int.self),
                        contaminatedKg: try row["contaminated_kg"].decode(Double.self),
                        unknownKg: try row["unknown_kg"].decode(Double.self),
                        depositedL: try row["deposited_l"].decode(Double.self)))
            }
        } catch {
            throw failure(error, doing: "decode daily totals")
        }
    }
}
