import BinProtocol
import GRDB

/// The queries behind the console's pages (docs/console.md).
extension SQLiteStore {
    public func recentEvents(device: String, limit: Int) async throws(AggregatorError) -> [StoredEvent] {
        try await read("read recent events") { db in
            try Row.fetchAll(
                db, sql: "SELECT payload, day, received_ms FROM events WHERE device = ? ORDER BY seq DESC LIMIT ?",
                arguments: [device, limit]
            ).compactMap { row in
                StoreRules.decodeEvent(row["payload"]).map {
                    StoredEvent(event: $0, day: LocalDate(dayNumber: row["day"]), receivedAtMs: row["received_ms"])
                }
            }
        }
    }

    public func dailyTotals(devices: [String]?, from: LocalDate, to: LocalDate) async throws(AggregatorError) -> [LedgerDayTotal] {
        try await read("read daily totals") { db in
            var sql = """
                SELECT day, stream, SUM(deposited_kg) AS deposited_kg, SUM(collected_kg) AS collected_kg, SUM(deposits) AS deposits,
                       SUM(collections) AS collections, SUM(contaminated_kg) AS contaminated_kg, SUM(unknown_kg) AS unknown_kg,
                       SUM(deposited_l) AS deposited_l
                FROM ledger WHERE day >= ? AND day <= ?
                """
            var arguments: StatementArguments = [from.dayNumber, to.dayNumber]
            if let devices {
                if devices.isEmpty { return [] }
                sql += " AND device IN (\(Array(repeating: "?", count: devices.count).joined(separator: ",")))"
                arguments += StatementArguments(devices)
            }
            sql += " GROUP BY day, stream ORDER BY day, stream"
            return try Row.fetchAll(db, sql: sql, arguments: arguments).compactMap { row -> LedgerDayTotal? in
                guard let stream = WasteStream(rawValue: row["stream"]) else { return nil }
                return LedgerDayTotal(
                    day: LocalDate(dayNumber: row["day"]), stream: stream,
                    figures: LedgerFigures(
                        depositedKg: row["deposited_kg"], collectedKg: row["collected_kg"], deposits: row["deposits"],
                        collections: row["collections"], contaminatedKg: row["contaminated_kg"], unknownKg: row["unknown_kg"],
                        depositedL: row["deposited_l"]))
            }
        }
    }
}
