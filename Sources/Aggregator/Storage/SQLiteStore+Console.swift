import BinProtocol
import GRDB

/// The queries behind the console's pages (docs/console.md).
extension SQLiteStore {
    public func recentEvents(device: String, limit: Int) async throws(AggregatorError) -> [StoredEvent] {
        try await read("read recent events") { db in
            try Row.fetchAll(
                db, sql: "SELECT payload, day, received_ms FROM events WHERE device = ? ORDER BY seq DESC LIMIT ?",
                arguments: [device, limit]
            ).compactMap(SQLiteSchema.storedEvent)
        }
    }

    public func dailyTotals(devices: [String]?, from: LocalDate, to: LocalDate) async throws(AggregatorError)
        -> [LedgerDayTotal]
    {
        if devices?.isEmpty == true { return [] }
        return try await read("read daily totals") { db in
            guard let devices else { return try Self.districtDays(db, from: from, to: to) }
            let booked = try String.fetchAll(db.cachedStatement(sql: "SELECT device FROM devices"))
            guard let subtract = StoreRules.devicesToSubtract(requested: devices, booked: booked) else {
                return try Self.summedRows(db, devices: devices, from: from, to: to)
            }
            let district = try Self.districtDays(db, from: from, to: to)
            return subtract.isEmpty
                ? district
                : StoreRules.subtracting(try Self.summedRows(db, devices: subtract, from: from, to: to), from: district)
        }
    }

    /// The maintained per-day totals of every device (`ledger_days`).
    private static func districtDays(_ db: Database, from: LocalDate, to: LocalDate) throws -> [LedgerDayTotal] {
        let rows = try Row.fetchAll(
            db.cachedStatement(
                sql: """
                    SELECT day, stream, deposited_kg, collected_kg, deposits, collections, contaminated_kg, unknown_kg, deposited_l
                    FROM ledger_days WHERE day >= ? AND day <= ? ORDER BY day, stream
                    """), arguments: [from.dayNumber, to.dayNumber])
        return rows.compactMap(dayTotal)
    }

    /// The given devices' ledger rows summed per day and stream.
    private static func summedRows(_ db: Database, devices: [String], from: LocalDate, to: LocalDate) throws
        -> [LedgerDayTotal]
    {
        let sql = """
            SELECT day, stream, SUM(deposited_kg) AS deposited_kg, SUM(collected_kg) AS collected_kg, SUM(deposits) AS deposits,
                   SUM(collections) AS collections, SUM(contaminated_kg) AS contaminated_kg, SUM(unknown_kg) AS unknown_kg,
                   SUM(deposited_l) AS deposited_l
            FROM ledger WHERE day >= ? AND day <= ?
              AND device IN (\(Array(repeating: "?", count: devices.count).joined(separator: ",")))
            GROUP BY day, stream ORDER BY day, stream
            """
        return try Row.fetchAll(db, sql: sql, arguments: [from.dayNumber, to.dayNumber] + StatementArguments(devices))
            .compactMap(dayTotal)
    }

    private static func dayTotal(_ row: Row) -> LedgerDayTotal? {
        guard let stream = WasteStream(rawValue: row["stream"]) else { return nil }
        return LedgerDayTotal(
            day: LocalDate(dayNumber: row["day"]), stream: stream,
            figures: SQLiteSchema.figures(row))
    }
}
