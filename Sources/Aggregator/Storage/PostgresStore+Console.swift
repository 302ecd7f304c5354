import BinProtocol
import PostgresNIO

/// The queries behind the console's pages (docs/console.md).
extension PostgresStore {
    public func recentEvents(device: String, limit: Int) async throws(AggregatorError) -> [StoredEvent] {
        let rows = try await rows(
            "read recent events",
            "SELECT payload, day, received_ms FROM events WHERE device = \(device) ORDER BY seq DESC LIMIT \(limit)")
        return try storedEvents(rows, doing: "decode recent events")
    }

    public func dailyTotals(devices: [String]?, from: LocalDate, to: LocalDate) async throws(AggregatorError)
        -> [LedgerDayTotal]
    {
        if devices?.isEmpty == true { return [] }
        let district: PostgresQuery = """
            SELECT day, stream, deposited_kg, collected_kg, deposits, collections, contaminated_kg, unknown_kg, deposited_l
            FROM ledger_days WHERE day >= \(from.dayNumber) AND day <= \(to.dayNumber) ORDER BY day, stream
            """
        guard let devices else { return try dayTotals(try await rows("read daily totals", district)) }
        let booked = try await rows("read booked devices", "SELECT device FROM devices")
        let bookedDevices: [String]
        do {
            bookedDevices = try booked.map { try $0["device"].decode(String.self) }
        } catch {
            throw failure(error, doing: "decode booked devices")
        }
        guard let subtract = StoreRules.devicesToSubtract(requested: devices, booked: bookedDevices) else {
            return try dayTotals(try await rows("read daily totals", summedRows(devices: devices, from: from, to: to)))
        }
        let totals = try dayTotals(try await rows("read daily totals", district))
        guard !subtract.isEmpty else { return totals }
        let less = try dayTotals(try await rows("read daily totals", summedRows(devices: subtract, from: from, to: to)))
        return StoreRules.subtracting(less, from: totals)
    }

    /// The given devices' ledger rows summed per day and stream.
    private func summedRows(devices: [String], from: LocalDate, to: LocalDate) -> PostgresQuery {
        """
        SELECT day, stream, SUM(deposited_kg) AS deposited_kg, SUM(collected_kg) AS collected_kg,
               SUM(deposits)::BIGINT AS deposits, SUM(collections)::BIGINT AS collections,
               SUM(contaminated_kg) AS contaminated_kg, SUM(unknown_kg) AS unknown_kg, SUM(deposited_l) AS deposited_l
        FROM ledger WHERE day >= \(from.dayNumber) AND day <= \(to.dayNumber) AND device = ANY(\(devices))
        GROUP BY day, stream ORDER BY day, stream
        """
    }

    private func dayTotals(_ rows: [PostgresRandomAccessRow]) throws(AggregatorError) -> [LedgerDayTotal] {
        do {
            return try rows.compactMap { row -> LedgerDayTotal? in
                guard let stream = WasteStream(rawValue: try row["stream"].decode(String.self)) else { return nil }
                return LedgerDayTotal(
                    day: LocalDate(dayNumber: try row["day"].decode(Int64.self)), stream: stream,
                    figures: try PostgresSchema.figures(row))
            }
        } catch {
            throw failure(error, doing: "decode daily totals")
        }
    }
}
