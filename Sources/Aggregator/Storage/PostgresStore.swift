import BinProtocol
import Foundation
import Lifecycle
import Logging
import PostgresNIO
import Synchronization

/// The store for a city-wide deployment: a PostgreSQL database shared by several aggregator instances.
/// Exactly-once booking and one-open-alert rest on unique keys and row locks in the database, so
/// instances splitting one MQTT shared subscription never double-book or double-raise.
///
/// The connection pool runs in a task the store owns from `init` to ``close()``.
public final class PostgresStore: AggregatorStore {
    private let client: PostgresClient
    private let runTask: Task<Void, Never>
    private let running = OneShot<Void>()
    private let logger: Logger
    private let name: String

    public init(settings: PostgresSettings, logger: Logger) {
        var configuration = PostgresClient.Configuration(
            host: settings.host, port: settings.port, username: settings.username,
            password: settings.password?.revealed,
            database: settings.database, tls: Self.tls(settings.tls))
        configuration.options.maximumConnections = settings.maxConnections
        configuration.options.connectionIdleTimeout = .seconds(300)
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        self.logger = logger
        name = "postgresql \(settings.host):\(settings.port)/\(settings.database)"
        let running = running
        runTask = Task {
            running.fulfil(())
            await client.run()
        }
    }

    /// Queries wait until the pool's `run()` has begun, so none is issued to a client that is not running.
    private func started() async {
        await running.wait()
        await Task.yield()
    }

    static func tls(_ mode: PostgresSettings.TLSMode) -> PostgresClient.Configuration.TLS {
        switch mode {
        case .disable: .disable
        case .prefer: .prefer(.makeClientConfiguration())
        case .require: .require(.makeClientConfiguration())
        }
    }

    public func close() async {
        runTask.cancel()
        await runTask.value
    }

    public func ping() async throws(AggregatorError) {
        _ = try await rows("ping", "SELECT 1")
    }

    /// What went wrong, from the server's message and SQLSTATE; never the query's bound values.
    func failure(_ error: any Error, doing: String) -> AggregatorError {
        if let error = error as? AggregatorError { return error }
        var error = error
        if let transaction = error as? PostgresTransactionError {
            error =
                transaction.closureError ?? transaction.commitError ?? transaction.beginError ?? transaction
                .rollbackError ?? error
            if let inner = error as? AggregatorError { return inner }
        }
        if let psql = error as? PSQLError {
            if let message = psql.serverInfo?[.message] {
                return AggregatorError(
                    .storage, "\(name): \(doing) failed: \(message) (SQLSTATE \(psql.serverInfo?[.sqlState] ?? "?"))")
            }
            return AggregatorError(.storage, "\(name): \(doing) failed: \(psql.code)")
        }
        return AggregatorError(.storage, "\(name): \(doing) failed: \(type(of: error))")
    }

    /// Runs `body` in a transaction, retrying when PostgreSQL aborts it for a serialization failure or
    /// deadlock (another instance touched the same rows).
    private func transaction<T: Sendable>(
        _ doing: String, _ body: (PostgresConnection) async throws -> sending T
    ) async throws(AggregatorError) -> T {
        var attempt = 0
        while true {
            attempt += 1
            await started()
            do {
                return try await client.withTransaction(logger: logger, body)
            } catch {
                if attempt < 5, Self.isRetryable(error) { continue }
                throw failure(error, doing: doing)
            }
        }
    }

    /// Serialization failures and deadlocks (another instance touched the same rows) abort a transaction
    /// that succeeds when run again: told by SQLSTATE class, never by the message text.
    static func isRetryable(_ error: any Error) -> Bool {
        var error = error
        if let transaction = error as? PostgresTransactionError {
            error = transaction.closureError ?? transaction.commitError ?? transaction.beginError ?? error
        }
        guard let psql = error as? PSQLError, let state = psql.serverInfo?[.sqlState] else { return false }
        return state == "40001" || state == "40P01"
    }

    func rows(_ doing: String, _ query: PostgresQuery) async throws(AggregatorError) -> [PostgresRandomAccessRow] {
        await started()
        do {
            return try await client.query(query, logger: logger).collect().map { $0.makeRandomAccess() }
        } catch {
            throw failure(error, doing: doing)
        }
    }

    // MARK: Schema

    public func migrate() async throws(AggregatorError) {
        try await transaction("migrate") { connection in
            // One instance migrates at a time; the others wait here and then find nothing to do.
            try await connection.query("SELECT pg_advisory_xact_lock(7243519)", logger: logger)
            try await connection.query(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
                logger: logger)
            var applied = Set<Int>()
            for try await version in try await connection.query("SELECT version FROM schema_migrations", logger: logger)
                .decode(Int.self)
            {
                applied.insert(version)
            }
            for (index, version) in StoreSchema.versions.enumerated() where !applied.contains(index + 1) {
                for statement in StoreSchema.statements(of: version, in: .postgres) {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query(
                    "INSERT INTO schema_migrations (version) VALUES (\(index + 1))", logger: logger)
            }
        }
    }

    // MARK: Ingest

    public func commit(_ batch: [IngestItem]) async throws(AggregatorError) -> [IngestItemOutcome] {
        guard !batch.isEmpty else { return [] }
        let logger = logger
        return try await transaction(SQLiteStore.describe(batch)) { connection in
            // Every device row the batch touches is locked first (created if new), in one order, so two
            // instances never deadlock on them and never both think they extend a device's sequence.
            // The same statement notes when a status, birth or state was last heard from each device.
            var seen: [String: Int64] = [:]
            for item in batch {
                switch item {
                case .status(_, let at), .birth(_, let at), .state(_, let at):
                    seen[item.device] = max(seen[item.device] ?? 0, at)
                default: seen[item.device] = seen[item.device] ?? 0
                }
            }
            let devices = seen.keys.sorted()
            let seenMs = devices.map { seen[$0] ?? 0 }
            var highest: [String: Int64] = [:]
            let locked = try await connection.query(
                """
                INSERT INTO devices (device, last_seen_ms)
                SELECT d, NULLIF(s, 0) FROM unnest(\(devices)::TEXT[], \(seenMs)::BIGINT[]) AS t(d, s) ORDER BY d
                ON CONFLICT (device) DO UPDATE SET last_seen_ms =
                    CASE WHEN excluded.last_seen_ms IS NULL THEN devices.last_seen_ms
                         ELSE GREATEST(COALESCE(devices.last_seen_ms, 0), excluded.last_seen_ms) END
                RETURNING device, highest_seq
                """, logger: logger)
            for try await (device, seq) in locked.decode((String, Int64?).self) {
                if let seq { highest[device] = seq }
            }
            // Then the bins' states, the other items, and the events last: their final statement takes the
            // district's per-day rows, which every instance's every event batch writes, so those are held
            // for as short a time as can be and always after the rows above (no circle of waits).
            var outcomes = [IngestItemOutcome?](repeating: nil, count: batch.count)
            let states = batch.enumerated().compactMap { index, item -> (Int, StatePayload, Int64)? in
                if case .state(let state, let at) = item { (index, state, at) } else { nil }
            }
            if !states.isEmpty {
                let applied = try await Self.recordStates(
                    states.map { ($0.1, $0.2) }, connection: connection, logger: logger)
                for ((index, _, _), done) in zip(states, applied) { outcomes[index] = .applied(done) }
            }
            for (index, item) in batch.enumerated() where outcomes[index] == nil {
                if case .event = item { continue }
                outcomes[index] = try await Self.apply(item, connection: connection, logger: logger)
            }
            let events = batch.enumerated().compactMap { index, item -> (Int, EventBooking)? in
                if case .event(let booking) = item { (index, booking) } else { nil }
            }
            if !events.isEmpty {
                let plan = try await Self.bookEvents(
                    events.map(\.1), highest: highest, connection: connection, logger: logger)
                for ((index, _), outcome) in zip(events, plan) { outcomes[index] = .event(outcome) }
            }
            return outcomes.map { $0 ?? .applied(false) }
        }
    }

    /// Books a batch's events with a fixed number of statements: read what is stored, plan in memory
    /// (``BatchBookingPlan``), then write the events, the summed ledger increments, the devices' sequences
    /// and the district's per-day sums in one statement, the last before the commit. The per-day rows are
    /// the one thing every instance's every batch writes, so they are taken last and in one order: they are
    /// held only for that statement and the commit, and two batches never wait for each other in a circle.
    private static func bookEvents(
        _ bookings: [EventBooking], highest: [String: Int64], connection: PostgresConnection, logger: Logger
    ) async throws -> [BookingOutcome] {
        let devices = Array(Set(bookings.map(\.event.device))).sorted()
        // Which of the batch's (device, seq) are stored, and the devices' open gaps, in one round trip: a
        // row with a last seq is a gap, one without is a stored event.
        var stored = Set<BatchBookingPlan.EventKey>()
        var gaps: [String: [Int64: BatchBookingPlan.Gap]] = [:]
        let storedRows = try await connection.query(
            """
            SELECT e.device, e.seq, NULL::BIGINT, NULL::BIGINT FROM events e
            JOIN unnest(\(bookings.map(\.event.device))::TEXT[], \(bookings.map(\.event.seq))::BIGINT[]) AS b(device, seq)
              ON e.device = b.device AND e.seq = b.seq
            UNION ALL
            SELECT device, first_seq, last_seq, detected_ms FROM seq_gaps WHERE device = ANY(\(devices)::TEXT[])
            """, logger: logger)
        for try await (device, seq, last, detected) in storedRows.decode((String, Int64, Int64?, Int64?).self) {
            if let last, let detected {
                gaps[device, default: [:]][seq] = BatchBookingPlan.Gap(last: last, detectedMs: detected)
            } else {
                stored.insert(BatchBookingPlan.EventKey(device: device, seq: seq))
            }
        }

        var plan = BatchBookingPlan(highest: highest, gaps: gaps, stored: stored)
        let outcomes = bookings.map { plan.book($0) }

        let deleted = plan.gapsToDelete
        if !deleted.isEmpty {
            try await connection.query(
                """
                DELETE FROM seq_gaps USING unnest(\(deleted.map(\.device))::TEXT[], \(deleted.map(\.first))::BIGINT[]) AS b(device, first_seq)
                WHERE seq_gaps.device = b.device AND seq_gaps.first_seq = b.first_seq
                """, logger: logger)
        }
        let inserted = plan.gapsToInsert
        if !inserted.isEmpty {
            try await connection.query(
                """
                INSERT INTO seq_gaps (device, first_seq, last_seq, detected_ms)
                SELECT * FROM unnest(\(inserted.map(\.device))::TEXT[], \(inserted.map(\.first))::BIGINT[],
                                     \(inserted.map(\.gap.last))::BIGINT[], \(inserted.map(\.gap.detectedMs))::BIGINT[])
                """, logger: logger)
        }
        let new = plan.booked
        // Faults are rare and one batch may carry several of the same (device, bin, code): one statement each.
        for booking in new {
            guard case .fault(let fault) = booking.event.body else { continue }
            let event = booking.event
            try await connection.query(
                """
                INSERT INTO faults (device, bin, code, sensor, active, detail, ts_ms, ts_offset_s)
                VALUES (\(event.device), \(fault.bin ?? ""), \(fault.code), \(fault.sensor.rawValue), \(fault.active), \(fault.detail),
                        \(event.ts.millisecondsSinceEpoch), \(Int(event.ts.utcOffsetSeconds)))
                ON CONFLICT (device, bin, code) DO UPDATE SET
                    sensor = excluded.sensor, active = excluded.active, detail = excluded.detail,
                    ts_ms = excluded.ts_ms, ts_offset_s = excluded.ts_offset_s
                WHERE excluded.ts_ms >= faults.ts_ms
                """, logger: logger)
        }
        for dropped in plan.dropped {
            try await connection.query(
                Self.account(
                    device: dropped.device, seqs: dropped.seqs, reason: .dropped, receivedAtMs: dropped.receivedAtMs),
                logger: logger)
        }
        guard !new.isEmpty else { return outcomes }
        // The ledger's and devices' rows are the batch's own devices', locked already; the per-day rows
        // are everyone's, and the statement takes them in day order (its ORDER BY).
        let ledger = Array(plan.ledger)
        let figures = ledger.map(\.value)
        let days = Array(plan.days)
        let dayFigures = days.map(\.value)
        let sequenced = Array(plan.devices)
        // Each sub-statement writes its own table. The main statement, the per-day rows, counts what the
        // others wrote before it takes a row: PostgreSQL runs sub-statements in no promised order, and
        // without that dependency it may take the per-day rows first and hold them while the events are
        // written.
        try await connection.query(
            """
            WITH booked AS (
                INSERT INTO events (device, seq, day, ts_ms, ts_offset_s, type, bin, historical, received_ms, payload)
                SELECT device, seq, day, ts_ms, ts_offset_s::INTEGER, type, NULLIF(bin, ''), historical, received_ms, payload
                FROM unnest(\(new.map(\.event.device))::TEXT[], \(new.map(\.event.seq))::BIGINT[], \(new.map(\.day.dayNumber))::BIGINT[],
                            \(new.map(\.event.ts.millisecondsSinceEpoch))::BIGINT[], \(new.map { Int64($0.event.ts.utcOffsetSeconds) })::BIGINT[],
                            \(new.map(\.event.type.rawValue))::TEXT[], \(new.map { $0.event.bin ?? "" })::TEXT[],
                            \(new.map(\.event.historical))::BOOLEAN[], \(new.map(\.receivedAtMs))::BIGINT[], \(new.map(\.payload))::TEXT[])
                    AS b(device, seq, day, ts_ms, ts_offset_s, type, bin, historical, received_ms, payload)
                RETURNING 1),
            ledgered AS (
                INSERT INTO ledger (device, bin, day, stream, deposited_kg, collected_kg, deposits, collections, contaminated_kg,
                                    unknown_kg, deposited_l)
                SELECT * FROM unnest(\(ledger.map(\.key.device))::TEXT[], \(ledger.map(\.key.bin))::TEXT[], \(ledger.map(\.key.day))::BIGINT[],
                                     \(ledger.map(\.key.stream))::TEXT[], \(figures.map(\.depositedKg))::DOUBLE PRECISION[], \(figures.map(\.collectedKg))::DOUBLE PRECISION[],
                                     \(figures.map(\.deposits))::BIGINT[], \(figures.map(\.collections))::BIGINT[],
                                     \(figures.map(\.contaminatedKg))::DOUBLE PRECISION[], \(figures.map(\.unknownKg))::DOUBLE PRECISION[],
                                     \(figures.map(\.depositedL))::DOUBLE PRECISION[])
                ON CONFLICT (device, bin, day, stream) DO UPDATE SET \(unescaped: PostgresSchema.addExcludedFiguresRow)
                RETURNING 1),
            sequenced AS (
                UPDATE devices SET highest_seq = b.highest, last_seen_ms = GREATEST(COALESCE(devices.last_seen_ms, 0), b.last_seen)
                FROM unnest(\(sequenced.map(\.key))::TEXT[], \(sequenced.map(\.value.highest))::BIGINT[], \(sequenced.map(\.value.lastSeenMs))::BIGINT[])
                    AS b(device, highest, last_seen)
                WHERE devices.device = b.device
                RETURNING 1)
            INSERT INTO ledger_days (day, stream, deposited_kg, collected_kg, deposits, collections, contaminated_kg, unknown_kg,
                                     deposited_l)
            SELECT * FROM unnest(\(days.map(\.key.day))::BIGINT[], \(days.map(\.key.stream))::TEXT[],
                                 \(dayFigures.map(\.depositedKg))::DOUBLE PRECISION[], \(dayFigures.map(\.collectedKg))::DOUBLE PRECISION[],
                                 \(dayFigures.map(\.deposits))::BIGINT[], \(dayFigures.map(\.collections))::BIGINT[],
                                 \(dayFigures.map(\.contaminatedKg))::DOUBLE PRECISION[], \(dayFigures.map(\.unknownKg))::DOUBLE PRECISION[],
                                 \(dayFigures.map(\.depositedL))::DOUBLE PRECISION[])
                AS d(day, stream, deposited_kg, collected_kg, deposits, collections, contaminated_kg, unknown_kg, deposited_l)
            WHERE (SELECT count(*) FROM booked) + (SELECT count(*) FROM ledgered) + (SELECT count(*) FROM sequenced) >= 0
            ORDER BY day, stream
            ON CONFLICT (day, stream) DO UPDATE SET \(unescaped: PostgresSchema.addExcludedFiguresDay)
            """, logger: logger)
        return outcomes
    }

    static func account(device: String, seqs: ClosedRange<Int64>, reason: AccountedReason, receivedAtMs: Int64)
        -> PostgresQuery
    {
        """
        INSERT INTO seq_accounted (device, first_seq, last_seq, reason, received_ms)
        VALUES (\(device), \(seqs.lowerBound), \(seqs.upperBound), \(reason.rawValue), \(receivedAtMs))
        ON CONFLICT (device, first_seq) DO UPDATE SET last_seq = GREATEST(seq_accounted.last_seq, excluded.last_seq)
        """
    }

    public func receiptMarks(devices: [String]) async throws(AggregatorError) -> [String: ReceiptMark] {
        guard !devices.isEmpty else { return [:] }
        let highestRows = try await rows(
            "read receipt marks", "SELECT device, highest_seq FROM devices WHERE device = ANY(\(devices))")
        let gapRows = try await rows(
            "read receipt marks", "SELECT device, first_seq, last_seq FROM seq_gaps WHERE device = ANY(\(devices))")
        let accountedRows = try await rows(
            "read receipt marks", "SELECT device, first_seq, last_seq FROM seq_accounted WHERE device = ANY(\(devices))"
        )
        do {
            var highest: [String: Int64] = [:]
            for row in highestRows {
                highest[try row["device"].decode(String.self)] = try row["highest_seq"].decode(Int64?.self)
            }
            func ranges(_ rows: [PostgresRandomAccessRow]) throws -> [String: [ClosedRange<Int64>]] {
                var ranges: [String: [ClosedRange<Int64>]] = [:]
                for row in rows {
                    let first = try row["first_seq"].decode(Int64.self)
                    let last = try row["last_seq"].decode(Int64.self)
                    ranges[try row["device"].decode(String.self), default: []].append(first...max(first, last))
                }
                return ranges
            }
            let gaps = try ranges(gapRows)
            let accounted = try ranges(accountedRows)
            var marks: [String: ReceiptMark] = [:]
            for device in devices {
                marks[device] = StoreRules.receiptMark(
                    highest: highest[device] ?? nil, gaps: gaps[device] ?? [], accounted: accounted[device] ?? [])
            }
            return marks
        } catch {
            throw failure(error, doing: "read receipt marks")
        }
    }

    /// Records a batch's bin states in one statement, by the rule a state at a time follows: a state is kept
    /// if it is not older than the bin's current one (stored, or kept earlier in the batch). The statement
    /// upserts each bin's newest state and reads the bins' stored times from its snapshot beside it; the
    /// devices' rows are locked, so nobody else changes their bins meanwhile (and were that to change, the
    /// upsert's condition still keeps the newer state, and reports what it wrote). Returns for each state
    /// whether it was kept.
    private static func recordStates(
        _ states: [(state: StatePayload, receivedAtMs: Int64)], connection: PostgresConnection, logger: Logger
    ) async throws -> [Bool] {
        struct BinKey: Hashable {
            var device: String
            var bin: String
        }
        var newest: [BinKey: (state: StatePayload, receivedAtMs: Int64)] = [:]
        for entry in states {
            let key = BinKey(device: entry.state.device, bin: entry.state.bin)
            if let kept = newest[key], entry.state.ts.millisecondsSinceEpoch < kept.state.ts.millisecondsSinceEpoch {
                continue
            }
            newest[key] = entry
        }
        let rows = Array(newest.values)
        let devices = rows.map(\.state.device)
        let bins = rows.map(\.state.bin)
        let result = try await connection.query(
            """
            WITH written AS (
                INSERT INTO bin_states (device, bin, ts_ms, payload, received_ms)
                SELECT * FROM unnest(\(devices)::TEXT[], \(bins)::TEXT[],
                                     \(rows.map(\.state.ts.millisecondsSinceEpoch))::BIGINT[], \(rows.map { StoreRules.encodeState($0.state) })::TEXT[],
                                     \(rows.map(\.receivedAtMs))::BIGINT[])
                ON CONFLICT (device, bin) DO UPDATE SET ts_ms = excluded.ts_ms, payload = excluded.payload,
                    received_ms = excluded.received_ms
                WHERE excluded.ts_ms >= bin_states.ts_ms
                RETURNING device, bin)
            SELECT k.device, k.bin, s.ts_ms, EXISTS (SELECT 1 FROM written w WHERE w.device = k.device AND w.bin = k.bin)
            FROM unnest(\(devices)::TEXT[], \(bins)::TEXT[]) AS k(device, bin)
            LEFT JOIN bin_states s ON s.device = k.device AND s.bin = k.bin
            """, logger: logger)
        var current: [BinKey: Int64] = [:]
        var written = Set<BinKey>()
        for try await (device, bin, ts, wrote) in result.decode((String, String, Int64?, Bool).self) {
            let key = BinKey(device: device, bin: bin)
            if let ts { current[key] = ts }
            if wrote { written.insert(key) }
        }
        return states.map { entry -> Bool in
            let key = BinKey(device: entry.state.device, bin: entry.state.bin)
            guard written.contains(key) else { return false }
            let ts = entry.state.ts.millisecondsSinceEpoch
            if let existing = current[key], ts < existing { return false }
            current[key] = ts
            return true
        }
    }

    /// One non-event item, inside the batch's transaction (its device row is locked already).
    private static func apply(_ item: IngestItem, connection: PostgresConnection, logger: Logger) async throws
        -> IngestItemOutcome
    {
        switch item {
        case .event(let booking):
            // commit(_:) books every event through bookEvents before it gets here.
            throw AggregatorError(
                .storage, "event \(booking.event.device)/\(booking.event.seq) reached the per-item path")
        case .status(let status, let receivedAtMs):
            let stored = try await connection.query(
                "SELECT session, status_ts_ms FROM devices WHERE device = \(status.device)", logger: logger
            ).collect().first.map { try $0.decode((Int64?, Int64?).self) }
            guard let kept = StoreRules.statusUpdate(status, storedSession: stored?.0, storedTsMs: stored?.1) else {
                return .applied(false)
            }
            try await connection.query(
                """
                UPDATE devices SET online = \(status.online), session = \(status.session), status_ts_ms = \(kept),
                    status_offset_s = \(Int(status.ts.utcOffsetSeconds)), status_received_ms = \(receivedAtMs)
                WHERE device = \(status.device)
                """, logger: logger)
            return .applied(true)
        case .birth(let birth, _):
            let updated = try await connection.query(
                """
                UPDATE devices SET birth_session = \(birth.session), version = \(birth.version), board = \(birth.board),
                    config_hash = \(birth.configHash), bins = \(StoreRules.encodeBins(birth.bins))
                WHERE device = \(birth.device) AND (birth_session IS NULL OR birth_session <= \(birth.session))
                RETURNING 1
                """, logger: logger
            ).collect()
            return .applied(!updated.isEmpty)
        case .state:
            // commit(_:) records every state through recordStates before it gets here.
            throw AggregatorError(.storage, "a state of \(item.device) reached the per-item path")
        case .health(let health, let receivedAtMs):
            try await connection.query(
                """
                UPDATE devices SET last_seen_ms = GREATEST(COALESCE(last_seen_ms, 0), \(receivedAtMs)),
                    outbox_depth = \(health.outboxDepth), dropped_total = \(health.droppedTotal)
                WHERE device = \(health.device)
                """, logger: logger)
            return .applied(true)
        case .account(let device, let seqs, let reason, let receivedAtMs):
            try await connection.query(
                Self.account(device: device, seqs: seqs, reason: reason, receivedAtMs: receivedAtMs), logger: logger)
            return .applied(true)
        case .load(let load, _):
            return .applied(try await bookLoad(load, connection: connection, logger: logger) == .booked)
        }
    }

    private static func bookLoad(_ load: StationLoad, connection: PostgresConnection, logger: Logger) async throws
        -> LoadBookingOutcome
    {
        let inserted = try await connection.query(
            """
            INSERT INTO loads (id, station, stream, mass_kg, vehicle, round, ts_ms, day, booked_by, received_ms)
            VALUES (\(load.id), \(load.station), \(load.stream.rawValue), \(load.massKg), \(load.vehicle), \(load.round), \(load.atMs),
                    \(load.day.dayNumber), \(load.bookedBy), \(load.receivedAtMs))
            ON CONFLICT (id) DO NOTHING RETURNING 1
            """, logger: logger
        ).collect()
        guard inserted.isEmpty else { return .booked }
        let stored = try await connection.query("SELECT * FROM loads WHERE id = \(load.id)", logger: logger).collect()
        return StoreRules.repeatedLoad(load, stored: try stored.first.flatMap { try Self.load($0.makeRandomAccess()) })
    }

    static func load(_ row: PostgresRandomAccessRow) throws -> StationLoad? {
        guard let stream = WasteStream(rawValue: try row["stream"].decode(String.self)) else { return nil }
        return StationLoad(
            id: try row["id"].decode(String.self), station: try row["station"].decode(String.self), stream: stream,
            massKg: try row["mass_kg"].decode(Double.self), vehicle: try row["vehicle"].decode(String?.self),
            round: try row["round"].decode(String?.self), atMs: try row["ts_ms"].decode(Int64.self),
            day: LocalDate(dayNumber: try row["day"].decode(Int64.self)),
            bookedBy: try row["booked_by"].decode(String.self),
            receivedAtMs: try row["received_ms"].decode(Int64.self))
    }

    public func bookLoad(_ load: StationLoad) async throws(AggregatorError) -> LoadBookingOutcome {
        let logger = logger
        return try await transaction("book load \(load.id)") { connection in
            try await Self.bookLoad(load, connection: connection, logger: logger)
        }
    }

    public func loads(stations: [String]?, from: LocalDate, to: LocalDate) async throws(AggregatorError)
        -> [StationLoad]
    {
        if stations?.isEmpty == true { return [] }
        let query: PostgresQuery =
            if let stations {
                """
                SELECT * FROM loads WHERE day >= \(from.dayNumber) AND day <= \(to.dayNumber) AND station = ANY(\(stations))
                ORDER BY ts_ms, id
                """
            } else {
                "SELECT * FROM loads WHERE day >= \(from.dayNumber) AND day <= \(to.dayNumber) ORDER BY ts_ms, id"
            }
        let rows = try await rows("read loads", query)
        do {
            return try rows.compactMap(Self.load)
        } catch {
            throw failure(error, doing: "decode loads")
        }
    }

    // MARK: Queries

    public func devices(ids: [String]?) async throws(AggregatorError) -> [DeviceRecord] {
        if ids?.isEmpty == true { return [] }
        let rows =
            if let ids {
                try await rows("read devices", "SELECT * FROM devices WHERE device = ANY(\(ids)) ORDER BY device")
            } else {
                try await rows("read devices", "SELECT * FROM devices ORDER BY device")
            }
        do {
            return try rows.map { row in
                var record = DeviceRecord(device: try row["device"].decode(String.self))
                record.online = try row["online"].decode(Bool?.self)
                record.session = try row["session"].decode(Int64?.self)
                if let ms = try row["status_ts_ms"].decode(Int64?.self) {
                    let offset = try row["status_offset_s"].decode(Int?.self) ?? 0
                    record.statusAt = WireTimestamp(millisecondsSinceEpoch: ms, utcOffsetSeconds: Int32(offset))
                }
                record.statusReceivedMs = try row["status_received_ms"].decode(Int64?.self)
                record.lastSeenMs = try row["last_seen_ms"].decode(Int64?.self)
                record.version = try row["version"].decode(String?.self)
                record.board = try row["board"].decode(String?.self)
                record.configHash = try row["config_hash"].decode(String?.self)
                record.birthSession = try row["birth_session"].decode(Int64?.self)
                record.bins = StoreRules.decodeBins(try row["bins"].decode(String?.self))
                record.highestSeq = try row["highest_seq"].decode(Int64?.self)
                record.outboxDepth = try row["outbox_depth"].decode(Int64?.self)
                record.droppedTotal = try row["dropped_total"].decode(Int64?.self)
                return record
            }
        } catch {
            throw failure(error, doing: "decode devices")
        }
    }

    public func binStates() async throws(AggregatorError) -> [BinStateRecord] {
        let rows = try await rows(
            "read bin states", "SELECT device, payload, received_ms FROM bin_states ORDER BY device, bin")
        do {
            return try rows.compactMap { row in
                StoreRules.decodeState(try row["payload"].decode(String.self)).map {
                    BinStateRecord(
                        device: $0.device, state: $0, receivedAtMs: (try? row["received_ms"].decode(Int64.self)) ?? 0)
                }
            }
        } catch {
            throw failure(error, doing: "decode bin states")
        }
    }

    public func ledger(devices: [String]?, from: LocalDate, to: LocalDate) async throws(AggregatorError) -> [LedgerRow]
    {
        if devices?.isEmpty == true { return [] }
        let query: PostgresQuery =
            if let devices {
                """
                SELECT device, bin, day, stream, deposited_kg, collected_kg, deposits, collections, contaminated_kg, unknown_kg,
                       deposited_l FROM ledger
                WHERE day >= \(from.dayNumber) AND day <= \(to.dayNumber) AND device = ANY(\(devices))
                ORDER BY day, device, bin, stream
                """
            } else {
                """
                SELECT device, bin, day, stream, deposited_kg, collected_kg, deposits, collections, contaminated_kg, unknown_kg,
                       deposited_l FROM ledger
                WHERE day >= \(from.dayNumber) AND day <= \(to.dayNumber)
                ORDER BY day, device, bin, stream
                """
            }
        let rows = try await rows("read ledger", query)
        do {
            return try rows.compactMap { row -> LedgerRow? in
                guard let stream = WasteStream(rawValue: try row["stream"].decode(String.self)) else { return nil }
                return LedgerRow(
                    device: try row["device"].decode(String.self), bin: try row["bin"].decode(String.self),
                    day: LocalDate(dayNumber: try row["day"].decode(Int64.self)), stream: stream,
                    figures: try PostgresSchema.figures(row))
            }
        } catch {
            throw failure(error, doing: "decode ledger")
        }
    }

    public func events(from: LocalDate, to: LocalDate, types: Set<EventType>?) async throws(AggregatorError)
        -> [StoredEvent]
    {
        if types?.isEmpty == true { return [] }
        let typeNames = (types ?? Set(EventType.allCases)).map(\.rawValue).sorted()
        let rows = try await rows(
            "read events",
            """
            SELECT payload, day, received_ms FROM events
            WHERE day >= \(from.dayNumber) AND day <= \(to.dayNumber) AND type = ANY(\(typeNames))
            ORDER BY device, seq
            """)
        return try storedEvents(rows, doing: "decode events")
    }

    /// Rows of `payload, day, received_ms` as events; a payload that no longer decodes is left out.
    func storedEvents(_ rows: [PostgresRandomAccessRow], doing: String) throws(AggregatorError) -> [StoredEvent] {
        do {
            return try rows.compactMap { row in
                StoreRules.decodeEvent(try row["payload"].decode(String.self)).map {
                    StoredEvent(
                        event: $0, day: LocalDate(dayNumber: (try? row["day"].decode(Int64.self)) ?? 0),
                        receivedAtMs: (try? row["received_ms"].decode(Int64.self)) ?? 0)
                }
            }
        } catch {
            throw failure(error, doing: doing)
        }
    }

    public func faults(activeOnly: Bool) async throws(AggregatorError) -> [FaultRecord] {
        let rows = try await rows(
            "read faults",
            activeOnly
                ? "SELECT * FROM faults WHERE active ORDER BY device, bin, code"
                : "SELECT * FROM faults ORDER BY device, bin, code")
        do {
            return try rows.compactMap { row in
                guard let sensor = FaultSensor(rawValue: try row["sensor"].decode(String.self)) else { return nil }
                return FaultRecord(
                    device: try row["device"].decode(String.self), bin: try row["bin"].decode(String.self),
                    code: try row["code"].decode(String.self), sensor: sensor,
                    active: try row["active"].decode(Bool.self),
                    detail: try row["detail"].decode(String.self),
                    at: WireTimestamp(
                        millisecondsSinceEpoch: try row["ts_ms"].decode(Int64.self),
                        utcOffsetSeconds: Int32(try row["ts_offset_s"].decode(Int.self))))
            }
        } catch {
            throw failure(error, doing: "decode faults")
        }
    }

    public func sequenceGaps(device: String?) async throws(AggregatorError) -> [SequenceGap] {
        let query: PostgresQuery =
            if let device {
                "SELECT * FROM seq_gaps WHERE device = \(device) ORDER BY first_seq"
            } else {
                "SELECT * FROM seq_gaps ORDER BY device, first_seq"
            }
        let rows = try await rows("read sequence gaps", query)
        do {
            return try rows.map { row in
                SequenceGap(
                    device: try row["device"].decode(String.self), first: try row["first_seq"].decode(Int64.self),
                    last: try row["last_seq"].decode(Int64.self),
                    detectedAtMs: try row["detected_ms"].decode(Int64.self))
            }
        } catch {
            throw failure(error, doing: "decode sequence gaps")
        }
    }

    public func bookedEventCount() async throws(AggregatorError) -> Int {
        let rows = try await rows("count events", "SELECT COUNT(*) FROM events")
        return (try? rows.first?[0].decode(Int.self)) ?? 0
    }

    // MARK: Alerts

    private static func enqueue(
        _ deliveries: [DeliveryRequest], alertID: String, connection: PostgresConnection, logger: Logger
    )
        async throws
    {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        for delivery in deliveries {
            try await connection.query(
                """
                INSERT INTO deliveries (target, alert_id, body, attempts, next_attempt_ms, lease_until_ms, created_ms)
                VALUES (\(delivery.target), \(alertID), \(delivery.body), 0, \(now), 0, \(now))
                """, logger: logger)
        }
    }

    public func applyAlertSteps(_ steps: [AlertStep]) async throws(AggregatorError) -> [Bool] {
        guard !steps.isEmpty else { return [] }
        let logger = logger
        return try await transaction(steps.count == 1 ? "write an alert" : "write \(steps.count) alert steps") {
            connection in
            // Applied in (kind, subject) order, keeping a subject's own steps in theirs: every instance
            // follows every bin and decides the same alerts, and two instances that took the same alerts'
            // rows in different orders deadlocked (PostgreSQL broke it after a second by aborting one).
            let order = steps.indices.sorted {
                let (lhs, rhs) = (steps[$0].alert, steps[$1].alert)
                return (lhs.kind.rawValue, lhs.subject, $0) < (rhs.kind.rawValue, rhs.subject, $1)
            }
            var applied = [Bool](repeating: false, count: steps.count)
            for index in order {
                switch steps[index] {
                case .raise(let alert, let deliveries):
                    let inserted = try await connection.query(
                        """
                        INSERT INTO alerts (id, kind, severity, state, subject, value, threshold, message, raised_ms,
                                            acknowledged_ms, acknowledged_by, cleared_ms)
                        VALUES (\(alert.id), \(alert.kind.rawValue), \(alert.severity.rawValue), \(alert.state.rawValue),
                                \(alert.subject), \(alert.value), \(alert.threshold), \(alert.message), \(alert.raisedAtMs),
                                \(alert.acknowledgedAtMs), \(alert.acknowledgedBy), \(alert.clearedAtMs))
                        ON CONFLICT DO NOTHING RETURNING 1
                        """, logger: logger
                    ).collect()
                    if !inserted.isEmpty {
                        try await Self.enqueue(deliveries, alertID: alert.id, connection: connection, logger: logger)
                    }
                    applied[index] = !inserted.isEmpty
                case .transition(let alert, let expected, let deliveries):
                    let updated = try await connection.query(
                        """
                        UPDATE alerts SET severity = \(alert.severity.rawValue), state = \(alert.state.rawValue), value = \(alert.value),
                            threshold = \(alert.threshold), message = \(alert.message), acknowledged_ms = \(alert.acknowledgedAtMs),
                            acknowledged_by = \(alert.acknowledgedBy), cleared_ms = \(alert.clearedAtMs)
                        WHERE id = \(alert.id) AND state = \(expected.rawValue)
                        RETURNING 1
                        """, logger: logger
                    ).collect()
                    if !updated.isEmpty {
                        try await Self.enqueue(deliveries, alertID: alert.id, connection: connection, logger: logger)
                    }
                    applied[index] = !updated.isEmpty
                }
            }
            return applied
        }
    }

    private func alerts(_ doing: String, _ query: PostgresQuery) async throws(AggregatorError) -> [AlertRecord] {
        let rows = try await rows(doing, query)
        do {
            return try rows.compactMap { row in
                guard let kind = AlertKind(rawValue: try row["kind"].decode(String.self)),
                    let severity = AlertSeverity(rawValue: try row["severity"].decode(String.self)),
                    let state = AlertState(rawValue: try row["state"].decode(String.self))
                else { return nil }
                return AlertRecord(
                    id: try row["id"].decode(String.self), kind: kind, severity: severity, state: state,
                    subject: try row["subject"].decode(String.self), value: try row["value"].decode(Double?.self),
                    threshold: try row["threshold"].decode(Double?.self),
                    message: try row["message"].decode(String.self),
                    raisedAtMs: try row["raised_ms"].decode(Int64.self),
                    acknowledgedAtMs: try row["acknowledged_ms"].decode(Int64?.self),
                    acknowledgedBy: try row["acknowledged_by"].decode(String?.self),
                    clearedAtMs: try row["cleared_ms"].decode(Int64?.self))
            }
        } catch {
            throw failure(error, doing: "decode alerts")
        }
    }

    public func alert(id: String) async throws(AggregatorError) -> AlertRecord? {
        try await alerts("read alert", "SELECT * FROM alerts WHERE id = \(id)").first
    }

    public func alerts(state: AlertState?, limit: Int) async throws(AggregatorError) -> [AlertRecord] {
        if let state {
            return try await alerts(
                "read alerts",
                "SELECT * FROM alerts WHERE state = \(state.rawValue) ORDER BY raised_ms DESC, id LIMIT \(limit)")
        }
        return try await alerts("read alerts", "SELECT * FROM alerts ORDER BY raised_ms DESC, id LIMIT \(limit)")
    }

    public func openAlerts() async throws(AggregatorError) -> [AlertRecord] {
        try await alerts("read open alerts", "SELECT * FROM alerts WHERE state <> 'cleared' ORDER BY raised_ms, id")
    }

    public func alerts(openBetween fromMs: Int64, and toMs: Int64) async throws(AggregatorError) -> [AlertRecord] {
        try await alerts(
            "read alerts",
            """
            SELECT * FROM alerts WHERE raised_ms < \(toMs) AND (cleared_ms IS NULL OR cleared_ms >= \(fromMs))
            ORDER BY raised_ms, id
            """)
    }

    // MARK: Deliveries

    private func deliveries(_ doing: String, _ query: PostgresQuery) async throws(AggregatorError) -> [Delivery] {
        let rows = try await rows(doing, query)
        do {
            return try rows.map { row in
                Delivery(
                    id: try row["id"].decode(Int64.self), target: try row["target"].decode(String.self),
                    alertID: try row["alert_id"].decode(String.self), body: try row["body"].decode(String.self),
                    attempts: try row["attempts"].decode(Int.self),
                    nextAttemptMs: try row["next_attempt_ms"].decode(Int64.self),
                    lastError: try row["last_error"].decode(String?.self))
            }.sorted { $0.id < $1.id }
        } catch {
            throw failure(error, doing: "decode deliveries")
        }
    }

    public func claimDeliveries(nowMs: Int64, limit: Int, leaseMs: Int64) async throws(AggregatorError) -> [Delivery] {
        try await deliveries(
            "claim deliveries",
            """
            UPDATE deliveries SET lease_until_ms = \(nowMs + leaseMs)
            WHERE id IN (
                SELECT id FROM deliveries AS d
                WHERE next_attempt_ms <= \(nowMs) AND lease_until_ms <= \(nowMs)
                  AND NOT EXISTS (SELECT 1 FROM deliveries AS e WHERE e.target = d.target AND e.alert_id = d.alert_id AND e.id < d.id)
                ORDER BY id LIMIT \(limit) FOR UPDATE SKIP LOCKED)
            RETURNING *
            """)
    }

    public func completeDeliveries(ids: [Int64]) async throws(AggregatorError) {
        guard !ids.isEmpty else { return }
        _ = try await rows("complete deliveries", "DELETE FROM deliveries WHERE id = ANY(\(ids))")
    }

    public func retryDelivery(id: Int64, attempts: Int, nextAttemptMs: Int64, error: String)
        async throws(AggregatorError)
    {
        _ = try await rows(
            "reschedule delivery",
            """
            UPDATE deliveries SET attempts = \(attempts), next_attempt_ms = \(nextAttemptMs), lease_until_ms = 0,
                last_error = \(String(error.prefix(500))) WHERE id = \(id)
            """)
    }

    public func pendingDeliveries() async throws(AggregatorError) -> [Delivery] {
        try await deliveries("read deliveries", "SELECT * FROM deliveries ORDER BY id")
    }
}

/// PostgreSQL's own statements over the tables of `StoreSchema`; `schema_migrations` records the versions
/// that ran.
enum PostgresSchema {
    /// For a booking's change to its bin's ledger row, and to the district's total for its day (`ledger_days`).
    static let addExcludedFiguresRow = StoreSchema.addExcludedFigures(to: "ledger")
    static let addExcludedFiguresDay = StoreSchema.addExcludedFigures(to: "ledger_days")

    /// The figures columns of a `ledger` or `ledger_days` row, or of a sum of them under the same names.
    static func figures(_ row: PostgresRandomAccessRow) throws -> LedgerFigures {
        LedgerFigures(
            depositedKg: try row["deposited_kg"].decode(Double.self),
            collectedKg: try row["collected_kg"].decode(Double.self),
            deposits: try row["deposits"].decode(Int.self), collections: try row["collections"].decode(Int.self),
            contaminatedKg: try row["contaminated_kg"].decode(Double.self),
            unknownKg: try row["unknown_kg"].decode(Double.self),
            depositedL: try row["deposited_l"].decode(Double.self))
    }
}

extension AlertStep {
    /// The alert a step writes; its kind and subject name its row the same way in every instance (instances
    /// name new alerts differently).
    fileprivate var alert: AlertRecord {
        switch self {
        case .raise(let alert, _), .transition(let alert, _, _): alert
        }
    }
}
