import BinProtocol
import Foundation
import GRDB
import Logging

/// The default store: one SQLite file in WAL mode through GRDB. One process writes at a time (GRDB
/// serialises writes; other processes wait on SQLite's lock), readers never block the writer, and the
/// log is checkpointed on a thread of its own (``WALCheckpointer``), not inside the writer's commits.
public final class SQLiteStore: AggregatorStore, SynchronousCommit {
    private let pool: DatabasePool
    private let path: String
    private let checkpointer: WALCheckpointer

    public init(settings: SQLiteSettings, logger: Logger = Logger(label: "bins-aggregator")) throws(AggregatorError) {
        path = settings.path
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.label = "bins-aggregator"
        let synchronous = settings.synchronous == .full ? "FULL" : "NORMAL"
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = \(synchronous)")
            try db.execute(sql: "PRAGMA foreign_keys = ON")
            try db.execute(sql: "PRAGMA wal_autocheckpoint = \(WALCheckpointer.writerFallbackPages)")
        }
        let directory = (settings.path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        do {
            pool = try DatabasePool(path: settings.path, configuration: configuration)
        } catch {
            throw Self.failure(error, path: settings.path, doing: "open")
        }
        do {
            checkpointer = try WALCheckpointer(path: settings.path, logger: logger)
        } catch {
            try? pool.close()
            throw Self.failure(error, path: settings.path, doing: "open the checkpoint connection")
        }
    }

    deinit { checkpointer.stop() }

    public func close() async {
        checkpointer.stop()
        try? pool.close()
    }

    public func ping() async throws(AggregatorError) {
        _ = try await read("ping") { db in try Int.fetchOne(db, sql: "SELECT 1") }
    }

    static func failure(_ error: any Error, path: String, doing: String) -> AggregatorError {
        if let error = error as? AggregatorError { return error }
        if let error = error as? DatabaseError {
            return AggregatorError(
                .storage,
                "sqlite \(path): \(doing) failed: \(error.message ?? "error \(error.resultCode.rawValue)") (code \(error.extendedResultCode.rawValue))"
            )
        }
        return AggregatorError(.storage, "sqlite \(path): \(doing) failed: \(error)", cause: error)
    }

    private func write<T: Sendable>(_ doing: String, _ body: @escaping @Sendable (Database) throws -> T)
        async throws(AggregatorError) -> T
    {
        do {
            defer { checkpointer.committed() }
            return try await pool.write(body)
        } catch {
            throw Self.failure(error, path: path, doing: doing)
        }
    }

    func read<T: Sendable>(_ doing: String, _ body: @escaping @Sendable (Database) throws -> T)
        async throws(AggregatorError) -> T
    {
        do {
            return try await pool.read(body)
        } catch {
            throw Self.failure(error, path: path, doing: doing)
        }
    }

    // MARK: Schema

    public func migrate() async throws(AggregatorError) {
        var migrator = DatabaseMigrator()
        for version in StoreSchema.versions {
            migrator.registerMigration(version.name) { db in
                for statement in StoreSchema.statements(of: version, in: .sqlite) { try db.execute(sql: statement) }
            }
        }
        do {
            // Runs once at start-up, before anything else uses the database.
            try migrator.migrate(pool)
        } catch {
            throw Self.failure(error, path: path, doing: "migrate")
        }
    }

    // MARK: Ingest

    public func commit(_ batch: [IngestItem]) async throws(AggregatorError) -> [IngestItemOutcome] {
        try await write(Self.describe(batch)) { db in try Self.apply(batch, db: db) }
    }

    /// The batch in one write transaction on the caller's own thread (the MQTT batch handler's): SQLite
    /// books each item with a few statements that cost no round trip, so a batch costs one commit.
    public func commitBlocking(_ batch: [IngestItem]) throws(AggregatorError) -> [IngestItemOutcome] {
        do {
            defer { checkpointer.committed() }
            return try pool.write { db in try Self.apply(batch, db: db) }
        } catch {
            throw Self.failure(error, path: path, doing: Self.describe(batch))
        }
    }

    static func describe(_ batch: [IngestItem]) -> String {
        batch.count == 1 ? "commit a message of \(batch[0].device)" : "commit a batch of \(batch.count) messages"
    }

    /// The batch inside the caller's write transaction: its events booked together through
    /// ``BatchBookingPlan`` (the rules PostgreSQL books by too), then the other items in order.
    static func apply(_ batch: [IngestItem], db: Database) throws -> [IngestItemOutcome] {
        var outcomes = [IngestItemOutcome?](repeating: nil, count: batch.count)
        let events = batch.enumerated().compactMap { index, item -> (Int, EventBooking)? in
            if case .event(let booking) = item { (index, booking) } else { nil }
        }
        if !events.isEmpty {
            for ((index, _), outcome) in zip(events, try bookEvents(events.map(\.1), db: db)) {
                outcomes[index] = .event(outcome)
            }
        }
        for (index, item) in batch.enumerated() where outcomes[index] == nil {
            outcomes[index] = try apply(item, db: db)
        }
        return outcomes.map { $0 ?? .applied(false) }
    }

    /// Which of the batch's events are stored already: one range query per device when its seqs in the
    /// batch lie close together (a backlog's usual shape), a lookup per event when they are scattered (a
    /// range query would then read every stored event between them).
    static func storedEvents(of bookings: [EventBooking], db: Database) throws -> Set<BatchBookingPlan.EventKey> {
        var seqsByDevice: [String: [Int64]] = [:]
        for booking in bookings { seqsByDevice[booking.event.device, default: []].append(booking.event.seq) }
        var stored = Set<BatchBookingPlan.EventKey>()
        let range = try db.cachedStatement(sql: "SELECT seq FROM events WHERE device = ? AND seq BETWEEN ? AND ?")
        let exists = try db.cachedStatement(sql: "SELECT 1 FROM events WHERE device = ? AND seq = ?")
        for (device, seqs) in seqsByDevice {
            let lowest = seqs.min()!
            let highest = seqs.max()!
            if highest - lowest < Int64(seqs.count) * 4 {
                let wanted = Set(seqs)
                for seq in try Int64.fetchAll(range, arguments: [device, lowest, highest]) where wanted.contains(seq) {
                    stored.insert(BatchBookingPlan.EventKey(device: device, seq: seq))
                }
            } else {
                for seq in seqs where try Int.fetchOne(exists, arguments: [device, seq]) != nil {
                    stored.insert(BatchBookingPlan.EventKey(device: device, seq: seq))
                }
            }
        }
        return stored
    }

    /// Books events: reads what is stored about their devices and `(device, seq)`s, plans, writes the net
    /// change (each ledger row and district day once per batch, each device once).
    static func bookEvents(_ bookings: [EventBooking], db: Database) throws -> [BookingOutcome] {
        var highest: [String: Int64] = [:]
        var gaps: [String: [Int64: BatchBookingPlan.Gap]] = [:]
        let selectHighest = try db.cachedStatement(sql: "SELECT highest_seq FROM devices WHERE device = ?")
        let selectGaps = try db.cachedStatement(
            sql: "SELECT first_seq, last_seq, detected_ms FROM seq_gaps WHERE device = ?")
        for device in Set(bookings.map(\.event.device)) {
            highest[device] = try Int64.fetchOne(selectHighest, arguments: [device])
            for row in try Row.fetchAll(selectGaps, arguments: [device]) {
                gaps[device, default: [:]][row[0]] = BatchBookingPlan.Gap(last: row[1], detectedMs: row[2])
            }
        }
        let stored = try storedEvents(of: bookings, db: db)

        var plan = BatchBookingPlan(highest: highest, gaps: gaps, stored: stored)
        let outcomes = bookings.map { plan.book($0) }

        // Looked up once per batch, not per event: the statement cache hashes the whole SQL text.
        let insertEvent = try db.cachedStatement(
            sql: """
                INSERT INTO events (device, seq, day, ts_ms, ts_offset_s, type, bin, historical, received_ms, payload)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
        for booking in plan.booked {
            let event = booking.event
            try insertEvent.execute(
                arguments: [
                    event.device, event.seq, booking.day.dayNumber, event.ts.millisecondsSinceEpoch,
                    Int(event.ts.utcOffsetSeconds),
                    event.type.rawValue, event.bin, event.historical, booking.receivedAtMs, booking.payload,
                ])
            if case .fault(let fault) = event.body {
                try db.run(
                    sql: """
                        INSERT INTO faults (device, bin, code, sensor, active, detail, ts_ms, ts_offset_s)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                        ON CONFLICT (device, bin, code) DO UPDATE SET
                            sensor = excluded.sensor, active = excluded.active, detail = excluded.detail,
                            ts_ms = excluded.ts_ms, ts_offset_s = excluded.ts_offset_s
                        WHERE excluded.ts_ms >= faults.ts_ms
                        """,
                    arguments: [
                        event.device, fault.bin ?? "", fault.code, fault.sensor.rawValue, fault.active, fault.detail,
                        event.ts.millisecondsSinceEpoch, Int(event.ts.utcOffsetSeconds),
                    ])
            }
        }
        for (key, f) in plan.ledger {
            try db.run(
                sql: SQLiteSchema.addToLedger,
                arguments: [
                    key.device, key.bin, key.day, key.stream, f.depositedKg, f.collectedKg, f.deposits, f.collections,
                    f.contaminatedKg, f.unknownKg, f.depositedL,
                ])
        }
        for (key, f) in plan.days {
            try db.run(
                sql: SQLiteSchema.addToLedgerDay,
                arguments: [
                    key.day, key.stream, f.depositedKg, f.collectedKg, f.deposits, f.collections, f.contaminatedKg,
                    f.unknownKg,
                    f.depositedL,
                ])
        }
        for (device, change) in plan.devices {
            try db.run(
                sql: """
                    INSERT INTO devices (device, highest_seq, last_seen_ms) VALUES (?, ?, ?)
                    ON CONFLICT (device) DO UPDATE SET highest_seq = excluded.highest_seq,
                        last_seen_ms = MAX(COALESCE(last_seen_ms, 0), excluded.last_seen_ms)
                    """,
                arguments: [device, change.highest, change.lastSeenMs])
        }
        for gap in plan.gapsToDelete {
            try db.run(
                sql: "DELETE FROM seq_gaps WHERE device = ? AND first_seq = ?", arguments: [gap.device, gap.first])
        }
        for gap in plan.gapsToInsert {
            try db.run(
                sql: "INSERT INTO seq_gaps (device, first_seq, last_seq, detected_ms) VALUES (?, ?, ?, ?)",
                arguments: [gap.device, gap.first, gap.gap.last, gap.gap.detectedMs])
        }
        for dropped in plan.dropped {
            try account(
                device: dropped.device, seqs: dropped.seqs, reason: .dropped, receivedAtMs: dropped.receivedAtMs, db: db
            )
        }
        return outcomes
    }

    /// One non-event item (events go through ``bookEvents(_:db:)``).
    static func apply(_ item: IngestItem, db: Database) throws -> IngestItemOutcome {
        switch item {
        case .event(let booking): return .event(try bookEvents([booking], db: db)[0])
        case .status(let status, let receivedAtMs):
            return .applied(try recordStatus(status, receivedAtMs: receivedAtMs, db: db))
        case .birth(let birth, let receivedAtMs):
            return .applied(try recordBirth(birth, receivedAtMs: receivedAtMs, db: db))
        case .state(let state, let receivedAtMs):
            return .applied(try recordState(state, receivedAtMs: receivedAtMs, db: db))
        case .health(let health, let receivedAtMs):
            try recordHealth(health, receivedAtMs: receivedAtMs, db: db)
            return .applied(true)
        case .account(let device, let seqs, let reason, let receivedAtMs):
            try account(device: device, seqs: seqs, reason: reason, receivedAtMs: receivedAtMs, db: db)
            return .applied(true)
        case .load(let load, _):
            return .applied(try bookLoad(load, db: db) == .booked)
        }
    }

    static func bookLoad(_ load: StationLoad, db: Database) throws -> LoadBookingOutcome {
        try db.run(
            sql: """
                INSERT INTO loads (id, station, stream, mass_kg, vehicle, round, ts_ms, day, booked_by, received_ms)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING
                """,
            arguments: [
                load.id, load.station, load.stream.rawValue, load.massKg, load.vehicle, load.round, load.atMs,
                load.day.dayNumber,
                load.bookedBy, load.receivedAtMs,
            ])
        guard db.changesCount == 0 else { return .booked }
        return StoreRules.repeatedLoad(
            load,
            stored: try Row.fetchOne(db, sql: "SELECT * FROM loads WHERE id = ?", arguments: [load.id]).flatMap(
                Self.load))
    }

    static func load(_ row: Row) -> StationLoad? {
        guard let stream = WasteStream(rawValue: row["stream"]) else { return nil }
        return StationLoad(
            id: row["id"], station: row["station"], stream: stream, massKg: row["mass_kg"], vehicle: row["vehicle"],
            round: row["round"],
            atMs: row["ts_ms"], day: LocalDate(dayNumber: row["day"]), bookedBy: row["booked_by"],
            receivedAtMs: row["received_ms"])
    }

    public func bookLoad(_ load: StationLoad) async throws(AggregatorError) -> LoadBookingOutcome {
        try await write("book load \(load.id)") { db in try Self.bookLoad(load, db: db) }
    }

    public func loads(stations: [String]?, from: LocalDate, to: LocalDate) async throws(AggregatorError)
        -> [StationLoad]
    {
        try await read("read loads") { db in
            var sql = "SELECT * FROM loads WHERE day BETWEEN ? AND ?"
            var arguments: StatementArguments = [from.dayNumber, to.dayNumber]
            if let stations {
                sql += " AND station IN (\(Array(repeating: "?", count: stations.count).joined(separator: ",")))"
                arguments += StatementArguments(stations)
            }
            return try Row.fetchAll(db, sql: sql + " ORDER BY ts_ms, id", arguments: arguments).compactMap(Self.load)
        }
    }

    static func account(
        device: String, seqs: ClosedRange<Int64>, reason: AccountedReason, receivedAtMs: Int64, db: Database
    ) throws {
        try db.run(
            sql: """
                INSERT INTO seq_accounted (device, first_seq, last_seq, reason, received_ms) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (device, first_seq) DO UPDATE SET last_seq = MAX(last_seq, excluded.last_seq)
                """,
            arguments: [device, seqs.lowerBound, seqs.upperBound, reason.rawValue, receivedAtMs])
    }

    public func receiptMarks(devices: [String]) async throws(AggregatorError) -> [String: ReceiptMark] {
        try await read("read receipt marks") { db in
            var marks: [String: ReceiptMark] = [:]
            for device in devices {
                let highest = try Int64.fetchOne(
                    db.cachedStatement(sql: "SELECT highest_seq FROM devices WHERE device = ?"), arguments: [device])
                let gaps = try Row.fetchAll(
                    db.cachedStatement(sql: "SELECT first_seq, last_seq FROM seq_gaps WHERE device = ?"),
                    arguments: [device]
                ).map { ($0[0] as Int64)...($0[1] as Int64) }
                let accounted = try Row.fetchAll(
                    db.cachedStatement(sql: "SELECT first_seq, last_seq FROM seq_accounted WHERE device = ?"),
                    arguments: [device]
                ).map { ($0[0] as Int64)...($0[1] as Int64) }
                marks[device] = StoreRules.receiptMark(highest: highest, gaps: gaps, accounted: accounted)
            }
            return marks
        }
    }

    /// Records that `device` was heard from (the device row is made on first contact).
    private static func touch(_ db: Database, _ device: String, receivedAtMs: Int64) throws {
        try db.run(
            sql: """
                INSERT INTO devices (device, last_seen_ms) VALUES (?, ?)
                ON CONFLICT (device) DO UPDATE SET last_seen_ms = MAX(COALESCE(last_seen_ms, 0), excluded.last_seen_ms)
                """,
            arguments: [device, receivedAtMs])
    }

    static func recordStatus(_ status: StatusPayload, receivedAtMs: Int64, db: Database) throws -> Bool {
        let row = try Row.fetchOne(
            db.cachedStatement(sql: "SELECT session, status_ts_ms FROM devices WHERE device = ?"),
            arguments: [status.device])
        let keptTs = StoreRules.statusUpdate(status, storedSession: row?["session"], storedTsMs: row?["status_ts_ms"])
        try Self.touch(db, status.device, receivedAtMs: receivedAtMs)
        guard let keptTs else { return false }
        try db.run(
            sql: """
                UPDATE devices SET online = ?, session = ?, status_ts_ms = ?, status_offset_s = ?, status_received_ms = ?
                WHERE device = ?
                """,
            arguments: [
                status.online, status.session, keptTs, Int(status.ts.utcOffsetSeconds), receivedAtMs, status.device,
            ])
        return true
    }

    static func recordBirth(_ birth: BirthPayload, receivedAtMs: Int64, db: Database) throws -> Bool {
        try Self.touch(db, birth.device, receivedAtMs: receivedAtMs)
        try db.run(
            sql: """
                UPDATE devices SET birth_session = ?, version = ?, board = ?, config_hash = ?, bins = ?
                WHERE device = ? AND (birth_session IS NULL OR birth_session <= ?)
                """,
            arguments: [
                birth.session, birth.version, birth.board, birth.configHash, StoreRules.encodeBins(birth.bins),
                birth.device,
                birth.session,
            ])
        return db.changesCount == 1
    }

    static func recordState(_ state: StatePayload, receivedAtMs: Int64, db: Database) throws -> Bool {
        try Self.touch(db, state.device, receivedAtMs: receivedAtMs)
        try db.run(
            sql: """
                INSERT INTO bin_states (device, bin, ts_ms, payload, received_ms) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (device, bin) DO UPDATE SET ts_ms = excluded.ts_ms, payload = excluded.payload,
                    received_ms = excluded.received_ms
                WHERE excluded.ts_ms >= bin_states.ts_ms
                """,
            arguments: [
                state.device, state.bin, state.ts.millisecondsSinceEpoch, StoreRules.encodeState(state), receivedAtMs,
            ])
        return db.changesCount == 1
    }

    static func recordHealth(_ health: HealthPayload, receivedAtMs: Int64, db: Database) throws {
        try db.run(
            sql: """
                INSERT INTO devices (device, last_seen_ms, outbox_depth, dropped_total) VALUES (?, ?, ?, ?)
                ON CONFLICT (device) DO UPDATE SET last_seen_ms = MAX(COALESCE(last_seen_ms, 0), excluded.last_seen_ms),
                    outbox_depth = excluded.outbox_depth, dropped_total = excluded.dropped_total
                """,
            arguments: [health.device, receivedAtMs, health.outboxDepth, health.droppedTotal])
    }

    // MARK: Queries

    public func devices(ids: [String]?) async throws(AggregatorError) -> [DeviceRecord] {
        if ids?.isEmpty == true { return [] }
        return try await read("read devices") { db in
            var sql = "SELECT * FROM devices"
            var arguments = StatementArguments()
            if let ids {
                sql += " WHERE device IN (\(Array(repeating: "?", count: ids.count).joined(separator: ",")))"
                arguments += StatementArguments(ids)
            }
            return try Row.fetchAll(db, sql: sql + " ORDER BY device", arguments: arguments).map { row in
                var record = DeviceRecord(device: row["device"])
                record.online = row["online"]
                record.session = row["session"]
                if let ms: Int64 = row["status_ts_ms"] {
                    record.statusAt = WireTimestamp(
                        millisecondsSinceEpoch: ms, utcOffsetSeconds: Int32(row["status_offset_s"] as Int? ?? 0))
                }
                record.statusReceivedMs = row["status_received_ms"]
                record.lastSeenMs = row["last_seen_ms"]
                record.version = row["version"]
                record.board = row["board"]
                record.configHash = row["config_hash"]
                record.birthSession = row["birth_session"]
                record.bins = StoreRules.decodeBins(row["bins"])
                record.highestSeq = row["highest_seq"]
                record.outboxDepth = row["outbox_depth"]
                record.droppedTotal = row["dropped_total"]
                return record
            }
        }
    }

    public func binStates() async throws(AggregatorError) -> [BinStateRecord] {
        try await read("read bin states") { db in
            try Row.fetchAll(db, sql: "SELECT device, payload, received_ms FROM bin_states ORDER BY device, bin")
                .compactMap { row in
                    StoreRules.decodeState(row["payload"]).map {
                        BinStateRecord(device: row["device"], state: $0, receivedAtMs: row["received_ms"])
                    }
                }
        }
    }

    public func ledger(devices: [String]?, from: LocalDate, to: LocalDate) async throws(AggregatorError) -> [LedgerRow]
    {
        try await read("read ledger") { db in
            var sql = """
                SELECT device, bin, day, stream, deposited_kg, collected_kg, deposits, collections, contaminated_kg, unknown_kg,
                       deposited_l FROM ledger WHERE day >= ? AND day <= ?
                """
            var arguments: StatementArguments = [from.dayNumber, to.dayNumber]
            if let devices {
                if devices.isEmpty { return [] }
                sql += " AND device IN (\(Array(repeating: "?", count: devices.count).joined(separator: ",")))"
                arguments += StatementArguments(devices)
            }
            sql += " ORDER BY day, device, bin, stream"
            return try Row.fetchAll(db, sql: sql, arguments: arguments).compactMap { row -> LedgerRow? in
                guard let stream = WasteStream(rawValue: row["stream"]) else { return nil }
                return LedgerRow(
                    device: row["device"], bin: row["bin"], day: LocalDate(dayNumber: row["day"]), stream: stream,
                    figures: SQLiteSchema.figures(row))
            }
        }
    }

    public func events(from: LocalDate, to: LocalDate, types: Set<EventType>?) async throws(AggregatorError)
        -> [StoredEvent]
    {
        try await read("read events") { db in
            var sql = "SELECT payload, day, received_ms FROM events WHERE day >= ? AND day <= ?"
            var arguments: StatementArguments = [from.dayNumber, to.dayNumber]
            if let types {
                if types.isEmpty { return [] }
                sql += " AND type IN (\(Array(repeating: "?", count: types.count).joined(separator: ",")))"
                arguments += StatementArguments(types.map(\.rawValue).sorted())
            }
            sql += " ORDER BY device, seq"
            return try Row.fetchAll(db, sql: sql, arguments: arguments).compactMap(SQLiteSchema.storedEvent)
        }
    }

    public func faults(activeOnly: Bool) async throws(AggregatorError) -> [FaultRecord] {
        try await read("read faults") { db in
            let sql = "SELECT * FROM faults\(activeOnly ? " WHERE active = 1" : "") ORDER BY device, bin, code"
            return try Row.fetchAll(db, sql: sql).compactMap { row in
                guard let sensor = FaultSensor(rawValue: row["sensor"]) else { return nil }
                return FaultRecord(
                    device: row["device"], bin: row["bin"], code: row["code"], sensor: sensor, active: row["active"],
                    detail: row["detail"],
                    at: WireTimestamp(
                        millisecondsSinceEpoch: row["ts_ms"], utcOffsetSeconds: Int32(row["ts_offset_s"] as Int)))
            }
        }
    }

    public func sequenceGaps(device: String?) async throws(AggregatorError) -> [SequenceGap] {
        try await read("read sequence gaps") { db in
            let rows =
                if let device {
                    try Row.fetchAll(
                        db, sql: "SELECT * FROM seq_gaps WHERE device = ? ORDER BY first_seq", arguments: [device])
                } else {
                    try Row.fetchAll(db, sql: "SELECT * FROM seq_gaps ORDER BY device, first_seq")
                }
            return rows.map {
                SequenceGap(
                    device: $0["device"], first: $0["first_seq"], last: $0["last_seq"], detectedAtMs: $0["detected_ms"])
            }
        }
    }

    public func bookedEventCount() async throws(AggregatorError) -> Int {
        try await read("count events") { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM events") ?? 0 }
    }

    // MARK: Alerts

    public func applyAlertSteps(_ steps: [AlertStep]) async throws(AggregatorError) -> [Bool] {
        guard !steps.isEmpty else { return [] }
        return try await write(steps.count == 1 ? "write an alert" : "write \(steps.count) alert steps") { db in
            try steps.map { step in
                switch step {
                case .raise(let alert, let deliveries):
                    try db.execute(
                        sql: """
                            INSERT INTO alerts (id, kind, severity, state, subject, value, threshold, message, raised_ms,
                                                acknowledged_ms, acknowledged_by, cleared_ms)
                            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
                            """,
                        arguments: Self.alertArguments(alert))
                    guard db.changesCount == 1 else { return false }
                    try Self.enqueue(deliveries, alertID: alert.id, db: db)
                    return true
                case .transition(let alert, let expected, let deliveries):
                    try db.execute(
                        sql: """
                            UPDATE alerts SET severity = ?, state = ?, value = ?, threshold = ?, message = ?, acknowledged_ms = ?,
                                acknowledged_by = ?, cleared_ms = ?
                            WHERE id = ? AND state = ?
                            """,
                        arguments: [
                            alert.severity.rawValue, alert.state.rawValue, alert.value, alert.threshold,
                            alert.message, alert.acknowledgedAtMs, alert.acknowledgedBy, alert.clearedAtMs, alert.id,
                            expected.rawValue,
                        ])
                    guard db.changesCount == 1 else { return false }
                    try Self.enqueue(deliveries, alertID: alert.id, db: db)
                    return true
                }
            }
        }
    }

    static func alertArguments(_ alert: AlertRecord) -> StatementArguments {
        [
            alert.id, alert.kind.rawValue, alert.severity.rawValue, alert.state.rawValue, alert.subject,
            alert.value, alert.threshold, alert.message, alert.raisedAtMs,
            alert.acknowledgedAtMs, alert.acknowledgedBy, alert.clearedAtMs,
        ]
    }

    static func enqueue(_ deliveries: [DeliveryRequest], alertID: String, db: Database) throws {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        for delivery in deliveries {
            try db.execute(
                sql: """
                    INSERT INTO deliveries (target, alert_id, body, attempts, next_attempt_ms, lease_until_ms, created_ms)
                    VALUES (?, ?, ?, 0, ?, 0, ?)
                    """,
                arguments: [delivery.target, alertID, delivery.body, now, now])
        }
    }

    static func alert(_ row: Row) -> AlertRecord? {
        guard let kind = AlertKind(rawValue: row["kind"]), let severity = AlertSeverity(rawValue: row["severity"]),
            let state = AlertState(rawValue: row["state"])
        else { return nil }
        return AlertRecord(
            id: row["id"], kind: kind, severity: severity, state: state, subject: row["subject"], value: row["value"],
            threshold: row["threshold"], message: row["message"], raisedAtMs: row["raised_ms"],
            acknowledgedAtMs: row["acknowledged_ms"], acknowledgedBy: row["acknowledged_by"],
            clearedAtMs: row["cleared_ms"])
    }

    public func alert(id: String) async throws(AggregatorError) -> AlertRecord? {
        try await read("read alert") { db in
            try Row.fetchOne(db, sql: "SELECT * FROM alerts WHERE id = ?", arguments: [id]).flatMap(Self.alert)
        }
    }

    public func alerts(state: AlertState?, limit: Int) async throws(AggregatorError) -> [AlertRecord] {
        try await read("read alerts") { db in
            let rows =
                if let state {
                    try Row.fetchAll(
                        db, sql: "SELECT * FROM alerts WHERE state = ? ORDER BY raised_ms DESC, id LIMIT ?",
                        arguments: [state.rawValue, limit])
                } else {
                    try Row.fetchAll(
                        db, sql: "SELECT * FROM alerts ORDER BY raised_ms DESC, id LIMIT ?", arguments: [limit])
                }
            return rows.compactMap(Self.alert)
        }
    }

    public func openAlerts() async throws(AggregatorError) -> [AlertRecord] {
        try await read("read open alerts") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM alerts WHERE state <> 'cleared' ORDER BY raised_ms, id")
                .compactMap(Self.alert)
        }
    }

    public func alerts(openBetween fromMs: Int64, and toMs: Int64) async throws(AggregatorError) -> [AlertRecord] {
        try await read("read alerts") { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT * FROM alerts WHERE raised_ms < ? AND (cleared_ms IS NULL OR cleared_ms >= ?)
                    ORDER BY raised_ms, id
                    """,
                arguments: [toMs, fromMs]
            ).compactMap(Self.alert)
        }
    }

    // MARK: Deliveries

    static func delivery(_ row: Row) -> Delivery {
        Delivery(
            id: row["id"], target: row["target"], alertID: row["alert_id"], body: row["body"],
            attempts: row["attempts"],
            nextAttemptMs: row["next_attempt_ms"], lastError: row["last_error"])
    }

    public func claimDeliveries(nowMs: Int64, limit: Int, leaseMs: Int64) async throws(AggregatorError) -> [Delivery] {
        try await write("claim deliveries") { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    UPDATE deliveries SET lease_until_ms = ?
                    WHERE id IN (
                        SELECT id FROM deliveries AS d
                        WHERE next_attempt_ms <= ? AND lease_until_ms <= ?
                          AND NOT EXISTS (SELECT 1 FROM deliveries AS e WHERE e.target = d.target AND e.alert_id = d.alert_id AND e.id < d.id)
                        ORDER BY id LIMIT ?)
                    RETURNING *
                    """,
                arguments: [nowMs + leaseMs, nowMs, nowMs, limit])
            return rows.map(Self.delivery).sorted { $0.id < $1.id }
        }
    }

    public func completeDeliveries(ids: [Int64]) async throws(AggregatorError) {
        guard !ids.isEmpty else { return }
        try await write("complete deliveries") { db in
            try db.execute(
                sql:
                    "DELETE FROM deliveries WHERE id IN (\(Array(repeating: "?", count: ids.count).joined(separator: ",")))",
                arguments: StatementArguments(ids))
        }
    }

    public func retryDelivery(id: Int64, attempts: Int, nextAttemptMs: Int64, error: String)
        async throws(AggregatorError)
    {
        try await write("reschedule delivery") { db in
            try db.execute(
                sql:
                    "UPDATE deliveries SET attempts = ?, next_attempt_ms = ?, lease_until_ms = 0, last_error = ? WHERE id = ?",
                arguments: [attempts, nextAttemptMs, String(error.prefix(500)), id])
        }
    }

    public func pendingDeliveries() async throws(AggregatorError) -> [Delivery] {
        try await read("read deliveries") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM deliveries ORDER BY id").map(Self.delivery)
        }
    }
}

/// SQLite's own statements over the tables of `StoreSchema`.
enum SQLiteSchema {
    /// A booking's change to its bin's ledger row.
    static let addToLedger = """
        INSERT INTO ledger (device, bin, day, stream, deposited_kg, collected_kg, deposits, collections,
                            contaminated_kg, unknown_kg, deposited_l)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (device, bin, day, stream) DO UPDATE SET \(StoreSchema.addExcludedFigures(to: "ledger"))
        """

    /// The same change to the district's total for that day and stream (`ledger_days`).
    static let addToLedgerDay = """
        INSERT INTO ledger_days (day, stream, deposited_kg, collected_kg, deposits, collections, contaminated_kg,
                                 unknown_kg, deposited_l)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (day, stream) DO UPDATE SET \(StoreSchema.addExcludedFigures(to: "ledger_days"))
        """

    /// A row of `payload, day, received_ms` as an event; nil for a payload that no longer decodes.
    static func storedEvent(_ row: Row) -> StoredEvent? {
        StoreRules.decodeEvent(row["payload"]).map {
            StoredEvent(event: $0, day: LocalDate(dayNumber: row["day"]), receivedAtMs: row["received_ms"])
        }
    }

    /// The figures columns of a `ledger` or `ledger_days` row, or of a sum of them under the same names.
    static func figures(_ row: Row) -> LedgerFigures {
        LedgerFigures(
            depositedKg: row["deposited_kg"], collectedKg: row["collected_kg"], deposits: row["deposits"],
            collections: row["collections"], contaminatedKg: row["contaminated_kg"], unknownKg: row["unknown_kg"],
            depositedL: row["deposited_l"])
    }
}

extension Database {
    /// Runs a statement kept prepared in the connection's cache: ingest runs the same few statements
    /// for every event.
    func run(sql: String, arguments: StatementArguments) throws {
        try cachedStatement(sql: sql).execute(arguments: arguments)
    }
}
