internal import CBinsSQLite
import Lifecycle
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// How hard the outbox pushes each write to stable storage. Both keep the file consistent after a crash
/// or power cut (SQLite WAL); they differ in what the last moments before a power cut may lose.
public enum OutboxSyncPolicy: Sendable, Equatable, Hashable {
    /// `synchronous=FULL`: every `append` waits for fsync of the WAL, so a record is on disk when `append`
    /// returns. A power cut loses nothing that was recorded. Costs one fsync per event (milliseconds on an
    /// SD card).
    case everyWrite
    /// `synchronous=NORMAL`: appends are not synced one by one; the WAL is synced at a checkpoint at most
    /// `interval` after a write. A process crash still loses nothing (the OS has the pages); a power cut
    /// or kernel panic may lose the records of the last `interval`, and never corrupts the file.
    case batched(interval: Duration)
}

/// One recorded message waiting for its PUBACK.
public struct OutboxRecord: Sendable, Equatable, Hashable {
    public var seq: Int64
    public var topic: String
    public var qos: MQTTQoS
    public var payload: [UInt8]

    public init(seq: Int64, topic: String, qos: MQTTQoS, payload: [UInt8]) {
        self.seq = seq
        self.topic = topic
        self.qos = qos
        self.payload = payload
    }
}

/// Records that left the outbox without a successful PUBACK, as a contiguous seq range.
public struct OutboxDropReport: Sendable, Equatable, Hashable {
    public enum Reason: String, Sendable, Hashable {
        /// The outbox was full; the oldest records made room for new ones.
        case capacity
        /// The broker refused the record (MQTT 5 reason code) or libmosquitto could not send it (payload too
        /// large, invalid topic): retrying would never succeed.
        case rejected
    }

    public var firstSeq: Int64
    public var lastSeq: Int64
    public var count: Int
    public var reason: Reason

    public init(firstSeq: Int64, lastSeq: Int64, count: Int, reason: Reason) {
        self.firstSeq = firstSeq
        self.lastSeq = lastSeq
        self.count = count
        self.reason = reason
    }
}

/// A durable, bounded queue of messages on disk (SQLite in WAL mode) between whoever records events and
/// the MQTT client: a message is written here before it counts as recorded, and deleted only after the
/// broker's PUBACK (by `OutboxPublisher`).
///
/// It also owns the device's two persisted counters: `seq`, strictly increasing across restarts and
/// allocated in the same transaction that stores the record, and the session counter.
///
/// Bounded: at most `capacity` records. When full, `append` deletes the oldest and remembers their seq
/// range as an `OutboxDropReport` (persisted until taken), so the daemon can publish an `outbox.dropped`
/// fault. Disk use stays bounded by the peak (freed pages are reused, the WAL is truncated to 4 MiB after
/// checkpoints) and memory by SQLite's 1 MiB page cache: no record is held in memory.
///
/// Every method is a short synchronous SQLite transaction serialised by a mutex. A full or read-only disk
/// surfaces as an `MQTTError` naming the file and errno; nothing crashes, and nothing that `append`
/// returned successfully is lost. One process at a time: the file is locked exclusively while open.
public final class Outbox: Sendable {
    public let path: String
    public let capacity: Int
    public let syncPolicy: OutboxSyncPolicy
    private let logger: Logger
    private let state: Mutex<OutboxState>
    private let observers = Mutex(OutboxObservers())

    /// Drop-report rows kept before the oldest two are merged into one wider range.
    static let maximumDropReports = 64

    public init(path: String, capacity: Int, syncPolicy: OutboxSyncPolicy, logger: Logger) throws(MQTTError) {
        guard capacity > 0 else {
            throw MQTTError(.invalidConfiguration, outbox: path, detail: "capacity must be at least 1, got \(capacity)")
        }
        if case .batched(let interval) = syncPolicy, interval <= .zero {
            throw MQTTError(.invalidConfiguration, outbox: path, detail: "batched sync interval must be positive")
        }
        var logger = logger
        logger[metadataKey: "outbox.path"] = "\(path)"
        self.path = path
        self.capacity = capacity
        self.syncPolicy = syncPolicy
        self.logger = logger
        let opened = try Self.open(path: path, syncPolicy: syncPolicy)
        self.state = Mutex(opened)
        logger.info(
            "outbox.opened",
            metadata: ["outbox.depth": "\(opened.depth)", "outbox.last_seq": "\(opened.lastSeq)"])
    }

    private static func open(path: String, syncPolicy: OutboxSyncPolicy) throws(MQTTError) -> sending OutboxState {
        let database = try SQLiteDatabase(path: path)
        // Exclusive locking: a second process opening the same outbox fails at once instead of
        // interleaving seqs; WAL then needs no shared-memory index.
        try database.execute("PRAGMA locking_mode=EXCLUSIVE")
        try database.execute("PRAGMA busy_timeout=0")
        guard try database.text("PRAGMA journal_mode=WAL")?.lowercased() == "wal" else {
            throw MQTTError(.sqlite, outbox: path, detail: "the file system does not support SQLite's WAL mode")
        }
        try database.execute(syncPolicy == .everyWrite ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL")
        try database.execute("PRAGMA journal_size_limit=4194304")
        try database.execute("PRAGMA cache_size=-1024")
        let version = try database.integer("PRAGMA user_version") ?? 0
        guard version <= OutboxSchema.version else {
            throw MQTTError(
                .incompatible, outbox: path,
                detail: "schema version \(version) is newer than this software's \(OutboxSchema.version)")
        }
        do {
            try database.execute("BEGIN IMMEDIATE")
            for statement in OutboxSchema.create { try database.execute(statement) }
            try database.execute("PRAGMA user_version=\(OutboxSchema.version)")
            try database.execute("COMMIT")
        } catch {
            database.rollback()
            throw error
        }
        let counted = try database.integer("SELECT value FROM outbox_counters WHERE name = 'last_seq'") ?? 0
        let highest = try database.integer("SELECT max(seq) FROM outbox_records") ?? 0
        let depth = try database.integer("SELECT count(*) FROM outbox_records") ?? 0
        return OutboxState(database: database, lastSeq: max(counted, highest), depth: Int(depth))
    }

    // MARK: Counters

    /// Increments and returns the persisted session counter (1 on the first start). Call once per start.
    public func beginSession() throws(MQTTError) -> Int64 {
        try state.withLock { state throws(MQTTError) -> Int64 in
            try state.transaction { state throws(MQTTError) -> Int64 in
                let database = state.database
                let update = try database.statement(
                    "INSERT INTO outbox_counters(name, value) VALUES('session', 1) "
                        + "ON CONFLICT(name) DO UPDATE SET value = value + 1")
                try update.run()
                return try database.integer("SELECT value FROM outbox_counters WHERE name = 'session'") ?? 1
            }
        }
    }

    /// Whether a receiver that sends end-to-end receipts has been seen. Persisted, so that after a restart
    /// the publisher keeps waiting for receipts even before the receiver's status arrives (for example
    /// after a broker crash that lost the retained status).
    public var receiverAnnouncesReceipts: Bool {
        get throws(MQTTError) {
            try state.withLock { state throws(MQTTError) -> Bool in
                try state.database.integer("SELECT value FROM outbox_counters WHERE name = 'receipts_announced'") == 1
            }
        }
    }

    /// Remembers that a receiver with receipts has been seen (see ``receiverAnnouncesReceipts``).
    public func markReceiverAnnouncesReceipts() throws(MQTTError) {
        try state.withLock { state throws(MQTTError) in
            try state.transaction { state throws(MQTTError) in
                try state.database.execute(
                    "INSERT INTO outbox_counters(name, value) VALUES('receipts_announced', 1) "
                        + "ON CONFLICT(name) DO UPDATE SET value = 1")
            }
        }
    }

    /// The highest seq ever allocated (0 before the first append).
    public var lastSeq: Int64 { state.withLock { $0.lastSeq } }

    /// Records waiting for their PUBACK.
    public var depth: Int { state.withLock { $0.depth } }

    // MARK: Recording

    /// Allocates the next seq, asks `build` for the payload carrying it, and stores the record — all in one
    /// transaction, so a seq is used only if its record is stored. Returns the seq. When the outbox is
    /// full the oldest records are dropped (and reported). `build` runs under the outbox's lock: it must
    /// not call back into the outbox.
    @discardableResult
    public func append(topic: String, qos: MQTTQoS, build: (_ seq: Int64) throws -> [UInt8]) throws(MQTTError) -> Int64
    {
        let seq = try state.withLock { state throws(MQTTError) -> Int64 in
            try state.transaction { state throws(MQTTError) -> Int64 in
                try state.append(topic: topic, qos: qos, capacity: capacity, outbox: path, build: build)
            }
        }
        syncIfDue()
        notifyObservers()
        return seq
    }

    /// Takes the pending drop reports and, in the same transaction, appends one record per report built
    /// by `build` (the daemon's `outbox.dropped` fault event), so a report is never lost between being
    /// taken and being recorded. Returns the reports recorded.
    @discardableResult
    public func recordDropReports(
        topic: String, qos: MQTTQoS, build: (_ seq: Int64, _ report: OutboxDropReport) throws -> [UInt8]
    ) throws(MQTTError) -> [OutboxDropReport] {
        let reports = try state.withLock { state throws(MQTTError) -> [OutboxDropReport] in
            try state.transaction { state throws(MQTTError) -> [OutboxDropReport] in
                let reports = try state.takeDropReports()
                for report in reports {
                    _ = try state.append(topic: topic, qos: qos, capacity: capacity, outbox: path) { seq in
                        try build(seq, report)
                    }
                }
                return reports
            }
        }
        if !reports.isEmpty {
            syncIfDue()
            notifyObservers()
        }
        return reports
    }

    /// Returns and forgets the drop reports recorded so far (oldest first).
    public func takeDropReports() throws(MQTTError) -> [OutboxDropReport] {
        try state.withLock { state throws(MQTTError) -> [OutboxDropReport] in
            try state.transaction { state throws(MQTTError) -> [OutboxDropReport] in try state.takeDropReports() }
        }
    }

    // MARK: Draining (used by OutboxPublisher)

    /// Up to `limit` records with seq greater than `seq`, in seq order.
    public func pending(after seq: Int64, limit: Int) throws(MQTTError) -> [OutboxRecord] {
        try state.withLock { state throws(MQTTError) -> [OutboxRecord] in
            // Every stored record has seq ≤ `lastSeq`: nothing newer was recorded, so skip the query (the
            // publisher asks after every acknowledgement and outbox change).
            guard state.lastSeq > seq else { return [] }
            let statement = try state.database.statement(
                "SELECT seq, topic, qos, payload FROM outbox_records WHERE seq > ? ORDER BY seq LIMIT ?")
            try statement.bind(1, seq)
            try statement.bind(2, Int64(max(0, limit)))
            var records: [OutboxRecord] = []
            while try statement.step() {
                records.append(
                    OutboxRecord(
                        seq: statement.int64(0), topic: statement.text(1) ?? "",
                        qos: MQTTQoS(rawValue: Int32(clamping: statement.int64(2))) ?? .atLeastOnce,
                        payload: statement.blob(3)))
            }
            statement.reset()
            return records
        }
    }

    /// Deletes every record with seq ≤ `seq`: they were acknowledged (or rejected and reported). Not synced
    /// on its own: a power cut may bring an acknowledged record back, which only causes a duplicate that the
    /// receiver drops by `(device, seq)`.
    public func remove(through seq: Int64) throws(MQTTError) {
        let removed = try state.withLock { state throws(MQTTError) -> Int in
            try state.withRelaxedSync(syncPolicy) { state throws(MQTTError) -> Int in
                try state.transaction { state throws(MQTTError) -> Int in
                    let database = state.database
                    let statement = try database.statement("DELETE FROM outbox_records WHERE seq <= ?")
                    try statement.bind(1, seq)
                    try statement.run()
                    let removed = database.changes
                    state.depth -= removed
                    return removed
                }
            }
        }
        if removed > 0 { notifyObservers() }
    }

    /// Notes that the record `seq` will never be delivered (refused by the broker, unsendable): it is
    /// reported like a drop. The record itself is deleted by the next `remove(through:)`.
    public func recordRejected(seq: Int64) throws(MQTTError) {
        try state.withLock { state throws(MQTTError) in
            try state.transaction { state throws(MQTTError) in
                try state.recordDrop(firstSeq: seq, lastSeq: seq, count: 1, reason: .rejected)
            }
        }
    }

    // MARK: Durability

    /// Under `.batched`, runs a checkpoint (which syncs the WAL) if the interval has passed since the last
    /// one and something was written since. Errors are logged: the data stays in the WAL.
    public func syncIfDue() {
        guard case .batched(let interval) = syncPolicy else { return }
        state.withLock { state in
            guard state.unsyncedWrites, state.lastSync.duration(to: .now) >= interval else { return }
            state.checkpoint(logger: logger)
        }
    }

    // MARK: Observation

    /// Yields whenever records are appended or removed (coalesced: one pending signal at most).
    public func changes() -> AsyncStream<Void> {
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let id = observers.withLock { observers -> UInt64 in
            let id = observers.nextID
            observers.nextID += 1
            observers.continuations[id] = continuation
            return id
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.observers.withLock { $0.continuations.removeValue(forKey: id) }
        }
        return stream
    }

    /// Waits until no record is pending; `false` if `timeout` passed first.
    public func waitUntilEmpty(timeout: Duration) async -> Bool {
        let changes = changes()
        if depth == 0 { return true }
        let emptied = await withDeadline(timeout) { [self] in
            for await _ in changes where depth == 0 { return true }
            return false
        }
        return emptied ?? (depth == 0)
    }

    private func notifyObservers() {
        let continuations = observers.withLock { Array($0.continuations.values) }
        for continuation in continuations { continuation.yield() }
    }
}

struct OutboxObservers {
    var nextID: UInt64 = 0
    var continuations: [UInt64: AsyncStream<Void>.Continuation] = [:]
}

enum OutboxSchema {
    static let version: Int64 = 1
    static let create = [
        """
        CREATE TABLE IF NOT EXISTS outbox_records(
            seq INTEGER PRIMARY KEY,
            topic TEXT NOT NULL,
            qos INTEGER NOT NULL,
            payload BLOB NOT NULL,
            recorded_at_ms INTEGER NOT NULL)
        """,
        "CREATE TABLE IF NOT EXISTS outbox_counters(name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID",
        """
        CREATE TABLE IF NOT EXISTS outbox_drops(
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            first_seq INTEGER NOT NULL,
            last_seq INTEGER NOT NULL,
            count INTEGER NOT NULL,
            reason TEXT NOT NULL)
        """,
    ]
}

/// The outbox's connection and the counters it mirrors in memory, only touched under the outbox's mutex.
struct OutboxState {
    let database: SQLiteDatabase
    var lastSeq: Int64
    var depth: Int
    var lastSync = ContinuousClock.now
    var unsyncedWrites = false

    init(database: SQLiteDatabase, lastSeq: Int64, depth: Int) {
        self.database = database
        self.lastSeq = lastSeq
        self.depth = depth
    }

    /// Runs `body` in an immediate transaction; on any error rolls back and restores the mirrored counters.
    mutating func transaction<T>(_ body: (inout OutboxState) throws(MQTTError) -> T) throws(MQTTError) -> T {
        let saved = (lastSeq, depth)
        do {
            try database.execute("BEGIN IMMEDIATE")
            let result = try body(&self)
            try database.execute("COMMIT")
            unsyncedWrites = true
            return result
        } catch {
            database.rollback()
            (lastSeq, depth) = saved
            throw error
        }
    }

    /// Runs `body` with `synchronous=NORMAL` when the policy is `.everyWrite` (used for deletions, whose
    /// loss only causes a duplicate).
    mutating func withRelaxedSync<T>(
        _ policy: OutboxSyncPolicy, _ body: (inout OutboxState) throws(MQTTError) -> T
    ) throws(MQTTError) -> T {
        guard policy == .everyWrite else { return try body(&self) }
        try database.execute("PRAGMA synchronous=NORMAL")
        defer { try? database.execute("PRAGMA synchronous=FULL") }
        return try body(&self)
    }

    /// Allocates the next seq, asks `build` for the payload carrying it and inserts the record (inside a
    /// transaction, which rolls the seq back if anything fails). Returns the seq.
    mutating func append(
        topic: String, qos: MQTTQoS, capacity: Int, outbox path: String, build: (_ seq: Int64) throws -> [UInt8]
    ) throws(MQTTError) -> Int64 {
        let seq = lastSeq + 1
        let payload: [UInt8]
        do {
            payload = try build(seq)
        } catch {
            throw MQTTError(.payloadBuildFailed, outbox: path, detail: "seq \(seq): \(error)")
        }
        try insert(seq: seq, topic: topic, qos: qos, payload: payload, capacity: capacity)
        return seq
    }

    /// Inserts one record inside a transaction and enforces the capacity.
    mutating func insert(seq: Int64, topic: String, qos: MQTTQoS, payload: [UInt8], capacity: Int) throws(MQTTError) {
        let insert = try database.statement(
            "INSERT INTO outbox_records(seq, topic, qos, payload, recorded_at_ms) VALUES(?, ?, ?, ?, ?)")
        try insert.bind(1, seq)
        try insert.bind(2, topic)
        try insert.bind(3, Int64(qos.rawValue))
        try insert.bind(4, payload)
        try insert.bind(5, Self.wallClockMilliseconds())
        try insert.run()
        let counter = try database.statement(
            "INSERT INTO outbox_counters(name, value) VALUES('last_seq', ?) "
                + "ON CONFLICT(name) DO UPDATE SET value = excluded.value")
        try counter.bind(1, seq)
        try counter.run()
        lastSeq = seq
        depth += 1
        if depth > capacity { try dropOldest(depth - capacity) }
    }

    private mutating func dropOldest(_ count: Int) throws(MQTTError) {
        let range = try database.statement(
            "SELECT min(seq), max(seq), count(*) FROM (SELECT seq FROM outbox_records ORDER BY seq LIMIT ?)")
        try range.bind(1, Int64(count))
        guard try range.step(), !range.isNull(0) else {
            range.reset()
            return
        }
        let (first, last, dropped) = (range.int64(0), range.int64(1), Int(range.int64(2)))
        range.reset()
        let delete = try database.statement("DELETE FROM outbox_records WHERE seq <= ?")
        try delete.bind(1, last)
        try delete.run()
        depth -= database.changes
        try recordDrop(firstSeq: first, lastSeq: last, count: dropped, reason: .capacity)
    }

    /// Stores a drop, extending the newest report of the same reason when the ranges are contiguous, and
    /// merging the two oldest reports when there are too many, so the table stays small.
    mutating func recordDrop(firstSeq: Int64, lastSeq: Int64, count: Int, reason: OutboxDropReport.Reason)
        throws(MQTTError)
    {
        let newest = try database.statement(
            "SELECT id, last_seq FROM outbox_drops WHERE reason = ? ORDER BY id DESC LIMIT 1")
        try newest.bind(1, reason.rawValue)
        var extendID: Int64?
        if try newest.step(), newest.int64(1) + 1 == firstSeq { extendID = newest.int64(0) }
        newest.reset()
        if let extendID {
            let extend = try database.statement(
                "UPDATE outbox_drops SET last_seq = ?, count = count + ? WHERE id = ?")
            try extend.bind(1, lastSeq)
            try extend.bind(2, Int64(count))
            try extend.bind(3, extendID)
            try extend.run()
            return
        }
        let insert = try database.statement(
            "INSERT INTO outbox_drops(first_seq, last_seq, count, reason) VALUES(?, ?, ?, ?)")
        try insert.bind(1, firstSeq)
        try insert.bind(2, lastSeq)
        try insert.bind(3, Int64(count))
        try insert.bind(4, reason.rawValue)
        try insert.run()
        if try database.integer("SELECT count(*) FROM outbox_drops") ?? 0 > Int64(Outbox.maximumDropReports) {
            try database.execute(
                """
                UPDATE outbox_drops SET
                    first_seq = min(first_seq, (SELECT first_seq FROM outbox_drops ORDER BY id LIMIT 1)),
                    last_seq = max(last_seq, (SELECT last_seq FROM outbox_drops ORDER BY id LIMIT 1)),
                    count = count + (SELECT count FROM outbox_drops ORDER BY id LIMIT 1)
                WHERE id = (SELECT id FROM outbox_drops ORDER BY id LIMIT 1 OFFSET 1)
                """)
            try database.execute("DELETE FROM outbox_drops WHERE id = (SELECT min(id) FROM outbox_drops)")
        }
    }

    mutating func takeDropReports() throws(MQTTError) -> [OutboxDropReport] {
        let select = try database.statement(
            "SELECT first_seq, last_seq, count, reason FROM outbox_drops ORDER BY id")
        var reports: [OutboxDropReport] = []
        while try select.step() {
            reports.append(
                OutboxDropReport(
                    firstSeq: select.int64(0), lastSeq: select.int64(1), count: Int(select.int64(2)),
                    reason: OutboxDropReport.Reason(rawValue: select.text(3) ?? "") ?? .capacity))
        }
        select.reset()
        if !reports.isEmpty { try database.execute("DELETE FROM outbox_drops") }
        return reports
    }

    mutating func checkpoint(logger: Logger) {
        do {
            try database.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            lastSync = .now
            unsyncedWrites = false
        } catch {
            logger.warning("outbox.checkpoint.failed", metadata: ["outbox.error": "\(error)"])
        }
    }

    static func wallClockMilliseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }
}
