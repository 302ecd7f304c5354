internal import CBinsSQLite

#if canImport(Glibc)
import Glibc
#endif

/// Owns one `sqlite3 *` connection and its prepared statements. Opened `SQLITE_OPEN_NOMUTEX`; it is only
/// ever used under its owner's mutex (the outbox's `Mutex<OutboxState>`), which is what makes handing it
/// between threads sound.
final class SQLiteDatabase: @unchecked Sendable {
    let path: String
    private let handle: OpaquePointer
    private var statements: [String: SQLiteStatement] = [:]

    init(path: String) throws(MQTTError) {
        self.path = path
        var connection: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE
        let rc = sqlite3_open_v2(path, &connection, flags, nil)
        guard rc == SQLITE_OK, let connection else {
            let error = MQTTError.fromSQLite(
                connection, rc: rc, path: path, function: "sqlite3_open_v2", fallback: .cannotOpen)
            sqlite3_close_v2(connection)
            throw error
        }
        self.handle = connection
    }

    deinit {
        statements.removeAll()
        sqlite3_close_v2(handle)
    }

    func error(_ rc: Int32, _ function: String, detail: String? = nil) -> MQTTError {
        var error = MQTTError.fromSQLite(handle, rc: rc, path: path, function: function, fallback: nil)
        if let detail { error.detail = "\(detail): \(error.detail ?? "")" }
        return error
    }

    /// Runs SQL without results (schema, pragmas, transaction control).
    func execute(_ sql: String) throws(MQTTError) {
        let rc = sqlite3_exec(handle, sql, nil, nil, nil)
        guard rc == SQLITE_OK else { throw error(rc, "sqlite3_exec", detail: sql) }
    }

    /// A cached prepared statement, reset and with bindings cleared.
    func statement(_ sql: String) throws(MQTTError) -> SQLiteStatement {
        if let cached = statements[sql] {
            cached.reset()
            return cached
        }
        var raw: OpaquePointer?
        let rc = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &raw, nil)
        guard rc == SQLITE_OK, let raw else { throw error(rc, "sqlite3_prepare_v3", detail: sql) }
        let statement = SQLiteStatement(raw, database: self)
        statements[sql] = statement
        return statement
    }

    /// Reads one integer from a single-row query such as a pragma.
    func integer(_ sql: String) throws(MQTTError) -> Int64? {
        let statement = try statement(sql)
        defer { statement.reset() }
        guard try statement.step() else { return nil }
        return statement.isNull(0) ? nil : statement.int64(0)
    }

    func text(_ sql: String) throws(MQTTError) -> String? {
        let statement = try statement(sql)
        defer { statement.reset() }
        guard try statement.step() else { return nil }
        return statement.text(0)
    }

    var changes: Int { Int(sqlite3_changes(handle)) }

    /// Rolls back an open transaction, if any; errors are ignored (the transaction is gone either way).
    func rollback() {
        if sqlite3_get_autocommit(handle) == 0 {
            _ = sqlite3_exec(handle, "ROLLBACK", nil, nil, nil)
        }
    }
}

/// One prepared statement, finalised with its owner.
final class SQLiteStatement {
    private let raw: OpaquePointer
    private unowned let database: SQLiteDatabase

    init(_ raw: OpaquePointer, database: SQLiteDatabase) {
        self.raw = raw
        self.database = database
    }

    deinit {
        sqlite3_finalize(raw)
    }

    func reset() {
        sqlite3_reset(raw)
        sqlite3_clear_bindings(raw)
    }

    func bind(_ index: Int32, _ value: Int64) throws(MQTTError) {
        try check(sqlite3_bind_int64(raw, index, value), "sqlite3_bind_int64")
    }

    func bind(_ index: Int32, _ value: String) throws(MQTTError) {
        try check(sqlite3_bind_text(raw, index, value, -1, bins_sqlite_transient()), "sqlite3_bind_text")
    }

    func bind(_ index: Int32, _ bytes: [UInt8]) throws(MQTTError) {
        let rc = bytes.withUnsafeBytes { buffer in
            // A zero-length blob still needs a non-null pointer to be stored as a blob, not NULL.
            sqlite3_bind_blob(
                raw, index, buffer.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(buffer.count),
                bins_sqlite_transient())
        }
        try check(rc, "sqlite3_bind_blob")
    }

    /// Steps once; `true` if a row is available.
    @discardableResult
    func step() throws(MQTTError) -> Bool {
        let rc = sqlite3_step(raw)
        switch rc {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default:
            let error = database.error(rc, "sqlite3_step")
            sqlite3_reset(raw)
            throw error
        }
    }

    /// Steps to completion (INSERT, UPDATE, DELETE).
    func run() throws(MQTTError) {
        while try step() {}
        sqlite3_reset(raw)
    }

    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(raw, column) == SQLITE_NULL }
    func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(raw, column) }

    func text(_ column: Int32) -> String? {
        guard let pointer = sqlite3_column_text(raw, column) else { return nil }
        return String(cString: pointer)
    }

    func blob(_ column: Int32) -> [UInt8] {
        let count = Int(sqlite3_column_bytes(raw, column))
        guard count > 0, let pointer = sqlite3_column_blob(raw, column) else { return [] }
        return Array(UnsafeRawBufferPointer(start: pointer, count: count))
    }

    private func check(_ rc: Int32, _ function: String) throws(MQTTError) {
        guard rc == SQLITE_OK else { throw database.error(rc, function) }
    }
}

extension MQTTError {
    /// Classifies an SQLite result code (primary code = low byte of the extended code).
    static func code(forSQLite extendedCode: Int32) -> Code {
        switch extendedCode & 0xFF {
        case SQLITE_FULL: .diskFull
        case SQLITE_READONLY: .readOnly
        case SQLITE_CANTOPEN: .cannotOpen
        case SQLITE_IOERR: .io
        case SQLITE_CORRUPT, SQLITE_NOTADB: .corrupt
        case SQLITE_BUSY, SQLITE_LOCKED: .busy
        case SQLITE_PERM, SQLITE_AUTH: .readOnly
        default: .sqlite
        }
    }

    /// An error from SQLite's state on `connection` after a call returned `rc`: the extended code, the
    /// message, and the OS errno for I/O failures (which decides disk-full and read-only).
    static func fromSQLite(
        _ connection: OpaquePointer?, rc: Int32, path: String, function: String, fallback: Code?
    ) -> MQTTError {
        let extended = connection.map { sqlite3_extended_errcode($0) } ?? rc
        let systemErrno = connection.map { sqlite3_system_errno($0) } ?? 0
        let message =
            connection.flatMap { sqlite3_errmsg($0) }.map { String(cString: $0) } ?? String(cString: sqlite3_errstr(rc))
        var code = MQTTError.code(forSQLite: extended)
        if systemErrno == ENOSPC || systemErrno == EDQUOT {
            code = .diskFull
        } else if systemErrno == EROFS {
            code = .readOnly
        } else if code == .sqlite, let fallback {
            code = fallback
        }
        var error = MQTTError(
            code, outbox: path, function: function, sqliteCode: extended, errno: systemErrno == 0 ? nil : systemErrno,
            detail: message)
        // SQLite falls back to read-only opens and reports what failed after that (ENOENT, EBADF); the
        // installer needs to hear that the file system is read-only.
        if code != .diskFull, code != .busy, code != .corrupt, isOnReadOnlyFileSystem(path) {
            error.code = .readOnly
            error.errno = EROFS
            error.detail = "\(message); the file system holding it is mounted read-only"
        }
        return error
    }

    /// Whether the directory that holds (or would hold) `path` is on a read-only mount.
    static func isOnReadOnlyFileSystem(_ path: String) -> Bool {
        let directory: String
        if let slash = path.lastIndex(of: "/") {
            directory = slash == path.startIndex ? "/" : String(path[..<slash])
        } else {
            directory = "."
        }
        var info = statvfs()
        guard statvfs(directory, &info) == 0 else { return false }
        return info.f_flag & UInt(ST_RDONLY) != 0
    }
}
