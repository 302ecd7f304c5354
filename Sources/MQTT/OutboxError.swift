#if canImport(Glibc)
import Glibc
#endif
internal import CBinsSQLite

/// The one error type of the outbox. Its description names the file, the SQLite function, SQLite's code
/// and message and the OS errno, e.g. `outbox /var/lib/binsd/outbox.sqlite: disk full: sqlite3_step
/// failed: database or disk is full (SQLite 13): No space left on device (errno 28)`.
public struct OutboxError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable {
        case cannotOpen = "cannot open"
        /// The file system (or the outbox's size limit in SQLite) has no room: the event was not recorded.
        case diskFull = "disk full"
        /// The file or its file system is read-only: nothing can be recorded.
        case readOnly = "read-only"
        case io = "I/O error"
        /// The file is not an outbox SQLite database, or it is damaged.
        case corrupt = "corrupt"
        /// Another process (a second daemon?) holds the outbox.
        case busy = "in use by another process"
        /// The file was written by a newer version of this software.
        case incompatible = "incompatible schema"
        case invalidArgument = "invalid argument"
        /// The caller's `build` closure threw; nothing was recorded and the seq was not used.
        case payloadBuildFailed = "payload build failed"
        case sqlite = "SQLite error"
    }

    public var code: Code
    /// The outbox file.
    public var path: String
    /// The SQLite function that failed, if any.
    public var function: String?
    /// SQLite's extended result code, if any.
    public var sqliteCode: Int32?
    /// The OS errno behind an I/O failure (`sqlite3_system_errno`), if any.
    public var errno: Int32?
    /// SQLite's message or what else is known.
    public var detail: String?

    public init(
        _ code: Code, path: String, function: String? = nil, sqliteCode: Int32? = nil, errno: Int32? = nil,
        detail: String? = nil
    ) {
        self.code = code
        self.path = path
        self.function = function
        self.sqliteCode = sqliteCode
        self.errno = errno
        self.detail = detail
    }

    public var description: String {
        var text = "outbox \(path): \(code.rawValue)"
        if let function { text += ": \(function) failed" }
        if let detail { text += ": \(detail)" }
        if let sqliteCode { text += " (SQLite \(sqliteCode))" }
        if let errno, errno != 0 {
            let reason = strerror(errno).map { String(cString: $0) } ?? "errno"
            text += ": \(reason) (errno \(errno))"
        }
        return text
    }

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
}
