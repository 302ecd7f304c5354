import BinsTestSupport
import Foundation

/// Reads the aggregator's SQLite file from outside, with the `sqlite3` command (Debian's `sqlite3`
/// package), as an operator would: the test sees the database the way it is on disk, not through the
/// aggregator's own code.
enum SQLiteQuery {
    static func rows<T: Decodable>(_ type: T.Type, database: String, _ sql: String, in directory: TemporaryDirectory)
        async throws -> [T]
    {
        let output = directory.file("sqlite3-\(UUID().uuidString.prefix(8)).json")
        defer { try? FileManager.default.removeItem(atPath: output) }
        // -readonly: never the last writer to close the file, so the test cannot checkpoint or change it.
        let process = try ChildProcess("sqlite3", ["-readonly", "-json", database, sql], outputPath: output)
        let termination = try await process.waitForExit(timeout: .seconds(30))
        let text = process.output
        guard termination == .exited(0) else {
            throw QueryError(
                description: "sqlite3 \(database) \"\(sql)\" ended with \(termination): \(text.prefix(500))")
        }
        // sqlite3 prints nothing at all for an empty result.
        guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { return [] }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        do {
            return try decoder.decode([T].self, from: Data(text.utf8))
        } catch {
            throw SystemTestError(
                "sqlite3 \(database): cannot decode \(T.self) rows from \(text.prefix(500)): \(error)")
        }
    }

    /// A failed query (e.g. the database is locked during a restart); a wait treats it as "not yet".
    struct QueryError: Error, CustomStringConvertible {
        var description: String
    }
}
