import Aggregator
import BinsTestSupport
import Foundation
import GRDB
import Testing

/// The two stores write their schema each in its own SQL dialect (SQLiteSchema, PostgresStore's migrations),
/// side by side in the Storage folder. This keeps them describing the same tables: a column added to one
/// store's migrations and not the other's fails here, before a report reads a figure one backend lacks.
@Suite("Store schemas: SQLite and PostgreSQL migrate to the same tables and columns", .serialized)
struct SchemaAgreementTests {
    @Test("every table and column of one migrated store is in the other")
    func schemasAgree() async throws {
        let sqlite = try await sqliteColumns()
        let postgres = try await postgresColumns()
        #expect(!sqlite.isEmpty && !postgres.isEmpty)
        #expect(sqlite.subtracting(postgres).sorted() == [], "only in SQLite")
        #expect(postgres.subtracting(sqlite).sorted() == [], "only in PostgreSQL")
        #expect(sqlite.contains("loads.booked_by"), "the newest migration is among those compared")
    }

    /// `table.column` of every table the migrations made (SQLite's own and GRDB's bookkeeping left out).
    private func sqliteColumns() async throws -> Set<String> {
        let directory = try TemporaryDirectory(prefix: "schema-agreement")
        let path = directory.file("ledger.sqlite")
        let store = try SQLiteStore(settings: SQLiteSettings(path: path, synchronous: .normal))
        try await store.migrate()
        await store.close()
        let rows = try await DatabaseQueue(path: path).read { db in
            try String.fetchAll(
                db,
                sql: """
                    SELECT m.name || '.' || p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p
                    WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name NOT LIKE 'grdb_%'
                    """)
        }
        return Set(rows)
    }

    /// The same for PostgreSQL (the store's own migration bookkeeping, `schema_migrations`, left out).
    private func postgresColumns() async throws -> Set<String> {
        let url = try await PostgresServer.makeDatabase()
        defer { PostgresServer.dropDatabase(url: url) }
        let store = PostgresStore(settings: try #require(PostgresSettings.parse(url: url)), logger: Fixtures.logger)
        try await store.migrate()
        await store.close()
        let rows = try await PostgresServer.query(
            url: url,
            sql: """
                SELECT table_name || '.' || column_name FROM information_schema.columns
                WHERE table_schema = 'public' AND table_name <> 'schema_migrations'
                """)
        return Set(rows.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
    }
}
