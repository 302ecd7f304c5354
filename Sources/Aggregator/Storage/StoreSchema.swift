/// The ledger's tables, described once and migrated from by both stores. Each store renders a version's steps
/// in its own SQL dialect (`statements(of:in:)`), so a column added here reaches SQLite and PostgreSQL in the
/// same migration and cannot be forgotten in one of them. Days are local day numbers (days since 1970-01-01),
/// times are milliseconds since the epoch.
///
/// A version, once shipped, is never edited: databases that ran it keep what it made. A change is a new
/// version at the end.
enum StoreSchema {
    enum Dialect: Sendable {
        case sqlite
        case postgres
    }

    /// A column's type as the ledger means it; each dialect names it in its own words.
    enum ColumnType: String, Sendable {
        case text
        /// Offsets in seconds and small counts: 32 bits are plenty.
        case int32
        /// Times in milliseconds, sequence numbers, days and counts that grow without bound.
        case int64
        case double
        case boolean
        /// A key the database assigns in insertion order (a delivery queue's order).
        case identity

        func sql(_ dialect: Dialect) -> String {
            switch (self, dialect) {
            case (.text, _): "TEXT"
            case (.boolean, _): "BOOLEAN"
            case (.int32, _): "INTEGER"
            case (.int64, .sqlite): "INTEGER"
            case (.int64, .postgres): "BIGINT"
            case (.double, .sqlite): "REAL"
            case (.double, .postgres): "DOUBLE PRECISION"
            case (.identity, .sqlite): "INTEGER PRIMARY KEY AUTOINCREMENT"
            case (.identity, .postgres): "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
            }
        }
    }

    struct Column: Sendable {
        var name: String
        var type: ColumnType
        var nullable: Bool

        /// Columns from their compact spelling (see `Table.init(_:_:key:clusteredByKey:)`). The spelling is
        /// this file's own constant text, so a typo is a programming error that every migration test trips.
        static func list(_ spelling: String) -> [Column] {
            spelling.split(separator: ",").map { item in
                let words = item.split(whereSeparator: { $0 == " " || $0 == "\n" })
                precondition(words.count == 2, "StoreSchema column '\(item)' is not 'name type'")
                let nullable = words[1].hasSuffix("?")
                let typeName = nullable ? String(words[1].dropLast()) : String(words[1])
                guard let type = ColumnType(rawValue: typeName) else {
                    preconditionFailure("StoreSchema column '\(item)' has an unknown type")
                }
                return Column(name: String(words[0]), type: type, nullable: nullable)
            }
        }
    }

    struct Table: Sendable {
        var name: String
        var columns: [Column]
        /// Empty when a column is an `identity`, which is the key by itself.
        var primaryKey: [String]
        /// SQLite only: the rows are stored in their key's order (tables read and upserted by key).
        var clusteredByKey = false

        /// `columns` as `name type` pairs separated by commas, `?` after the type for a nullable column:
        /// `"device text, seq int64, bin text?"`.
        init(_ name: String, _ columns: String, key: [String], clusteredByKey: Bool = false) {
            self.name = name
            self.columns = Column.list(columns)
            primaryKey = key
            self.clusteredByKey = clusteredByKey
        }

        func createStatement(_ dialect: Dialect) -> String {
            let key = Set(primaryKey)
            var parts = columns.map { column in
                // A key column is NOT NULL in both dialects; SQLite needs to be told.
                let notNull = !column.nullable || key.contains(column.name)
                return column.name + " " + column.type.sql(dialect)
                    + (notNull && column.type != .identity ? " NOT NULL" : "")
            }
            if !primaryKey.isEmpty { parts.append("PRIMARY KEY (" + primaryKey.joined(separator: ", ") + ")") }
            let rowStorage = clusteredByKey && dialect == .sqlite ? " WITHOUT ROWID" : ""
            return "CREATE TABLE \(name) (" + parts.joined(separator: ", ") + ")" + rowStorage
        }
    }

    enum Step: Sendable {
        case table(Table)
        /// A statement both dialects read the same.
        case sql(String)
        case dialects(sqlite: String, postgres: String)

        func statement(_ dialect: Dialect) -> String {
            switch (self, dialect) {
            case (.table(let table), _): table.createStatement(dialect)
            case (.sql(let sql), _): sql
            case (.dialects(let sql, _), .sqlite), (.dialects(_, let sql), .postgres): sql
            }
        }
    }

    struct Version: Sendable {
        /// SQLite's migration name (GRDB records it); PostgreSQL records the version's number.
        var name: String
        var steps: [Step]
    }

    /// The statements of one version in a dialect, in order.
    static func statements(of version: Version, in dialect: Dialect) -> [String] {
        version.steps.map { $0.statement(dialect) }
    }

    /// The figure columns of a `ledger` or `ledger_days` row, in their order in the tables.
    private static let figureSpelling =
        "deposited_kg double, collected_kg double, deposits int64, collections int64, contaminated_kg double, "
        + "unknown_kg double, deposited_l double"
    static let figureColumns = Column.list(figureSpelling)

    /// An upsert's update: the figures of the row being inserted added to those already booked in `table`.
    static func addExcludedFigures(to table: String) -> String {
        figureColumns.map { "\($0.name) = \(table).\($0.name) + excluded.\($0.name)" }.joined(separator: ", ")
    }

    private static let figureNames = figureColumns.map(\.name).joined(separator: ", ")

    static let versions: [Version] = [
        Version(
            name: "1-initial",
            steps: [
                .table(
                    Table(
                        "events",
                        """
                        device text, seq int64, day int64, ts_ms int64, ts_offset_s int32, type text, bin text?,
                        historical boolean, received_ms int64, payload text
                        """,
                        key: ["device", "seq"], clusteredByKey: true)),
                .sql("CREATE INDEX events_day ON events (day, type)"),
                .table(
                    Table(
                        "ledger", "device text, bin text, day int64, stream text, \(figureSpelling)",
                        key: ["device", "bin", "day", "stream"], clusteredByKey: true)),
                .sql("CREATE INDEX ledger_day ON ledger (day)"),
                .table(
                    Table(
                        "devices",
                        """
                        device text, online boolean?, session int64?, status_ts_ms int64?, status_offset_s int32?,
                        status_received_ms int64?, last_seen_ms int64?, version text?, board text?, config_hash text?,
                        birth_session int64?, bins text?, highest_seq int64?, outbox_depth int64?, dropped_total int64?
                        """,
                        key: ["device"])),
                .table(
                    Table(
                        "seq_gaps", "device text, first_seq int64, last_seq int64, detected_ms int64",
                        key: ["device", "first_seq"])),
                .table(
                    Table(
                        "bin_states", "device text, bin text, ts_ms int64, payload text, received_ms int64",
                        key: ["device", "bin"])),
                .table(
                    Table(
                        "faults",
                        """
                        device text, bin text, code text, sensor text, active boolean, detail text, ts_ms int64,
                        ts_offset_s int32
                        """,
                        key: ["device", "bin", "code"])),
                .table(
                    Table(
                        "alerts",
                        """
                        id text, kind text, severity text, state text, subject text, value double?, threshold double?,
                        message text, raised_ms int64, acknowledged_ms int64?, acknowledged_by text?, cleared_ms int64?
                        """,
                        key: ["id"])),
                .sql("CREATE UNIQUE INDEX alerts_one_open ON alerts (kind, subject) WHERE state <> 'cleared'"),
                .sql("CREATE INDEX alerts_raised ON alerts (raised_ms)"),
                .table(
                    Table(
                        "deliveries",
                        """
                        id identity, target text, alert_id text, body text, attempts int32, next_attempt_ms int64,
                        lease_until_ms int64, created_ms int64, last_error text?
                        """,
                        key: [])),
            ]),
        // End-to-end receipts: seqs that will never be booked but count as handled.
        Version(
            name: "2-receipts",
            steps: [
                .table(
                    Table(
                        "seq_accounted", "device text, first_seq int64, last_seq int64, reason text, received_ms int64",
                        key: ["device", "first_seq"]))
            ]),
        // Daily totals over many bins (the console, targets, reports) read this index alone, in day order,
        // instead of looking every row up by its key: for 2,000 bins and 28 days about a tenth of the work.
        // PostgreSQL carries the figures as INCLUDE columns, which SQLite does not have.
        Version(
            name: "3-ledger-day-totals",
            steps: [
                .dialects(
                    sqlite:
                        "CREATE INDEX IF NOT EXISTS ledger_day_totals ON ledger (day, stream, device, \(figureNames))",
                    postgres:
                        "CREATE INDEX IF NOT EXISTS ledger_day_totals ON ledger (day, stream) INCLUDE (device, \(figureNames))"
                )
            ]),
        // The district's ledger summed per day and stream, kept up to date by every booking in the same
        // transaction, so the district's daily totals over a year read a few thousand rows (docs/console.md).
        // The second statement fills it from a ledger booked before it existed.
        Version(
            name: "4-ledger-days",
            steps: [
                .table(
                    Table(
                        "ledger_days", "day int64, stream text, \(figureSpelling)", key: ["day", "stream"],
                        clusteredByKey: true)),
                .sql(
                    "INSERT INTO ledger_days (day, stream, \(figureNames)) SELECT day, stream, "
                        + figureColumns.map { "SUM(\($0.name))" }.joined(separator: ", ")
                        + " FROM ledger GROUP BY day, stream"),
            ]),
        // Loads received at transfer stations (the station's intake beside its own devices' deposits).
        Version(
            name: "5-station-loads",
            steps: [
                .table(
                    Table(
                        "loads",
                        """
                        id text, station text, stream text, mass_kg double, vehicle text?, round text?, ts_ms int64,
                        day int64, booked_by text, received_ms int64
                        """,
                        key: ["id"])),
                .sql("CREATE INDEX loads_station_day ON loads (station, day)"),
            ]),
    ]
}
