import BinsTestSupport
import Foundation
import GRDB
import Testing

@testable import Aggregator

/// Both stores migrate from one description (StoreSchema), each rendering it in its own SQL dialect. This holds
/// the rendering to it: the two migrated databases have the same tables, columns and nullability, so a report
/// never reads a figure one backend lacks or finds a NULL the other refuses.
@Suite("Store schemas: SQLite and PostgreSQL migrate to the same tables and columns", .serialized)
struct SchemaAgreementTests {
    @Test("every table and column of one migrated store is in the other, nullable in both or in neither")
    func schemasAgree() async throws {
        let sqlite = try await sqliteColumns()
        let postgres = try await postgresColumns()
        #expect(!sqlite.isEmpty && !postgres.isEmpty)
        #expect(sqlite.subtracting(postgres).sorted() == [], "only in SQLite")
        #expect(postgres.subtracting(sqlite).sorted() == [], "only in PostgreSQL")
        #expect(sqlite.contains("loads.booked_by not null"), "the newest migration is among those compared")
        #expect(sqlite.contains("loads.vehicle null") && sqlite.contains("events.seq not null"))
    }

    @Test("a table's description reads the same in both dialects but for the types' names and SQLite's row storage")
    func rendering() {
        let table = StoreSchema.Table(
            "t", "id identity, name text, at int64?, seen boolean, share double?, offset int32", key: [])
        #expect(
            table.createStatement(.sqlite)
                == "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, at INTEGER, "
                + "seen BOOLEAN NOT NULL, share REAL, offset INTEGER NOT NULL)")
        #expect(
            table.createStatement(.postgres)
                == "CREATE TABLE t (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name TEXT NOT NULL, at BIGINT, "
                + "seen BOOLEAN NOT NULL, share DOUBLE PRECISION, offset INTEGER NOT NULL)")
        let keyed = StoreSchema.Table("k", "device text?, seq int64", key: ["device", "seq"], clusteredByKey: true)
        #expect(
            keyed.createStatement(.sqlite)
                == "CREATE TABLE k (device TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (device, seq)) WITHOUT ROWID"
        )
        #expect(
            keyed.createStatement(.postgres)
                == "CREATE TABLE k (device TEXT NOT NULL, seq BIGINT NOT NULL, PRIMARY KEY (device, seq))")
        #expect(StoreSchema.versions.map(\.name).prefix(2) == ["1-initial", "2-receipts"], "shipped names kept")
    }

    /// `table.column null` or `table.column not null` of every table the migrations made (SQLite's own and GRDB's bookkeeping left out).
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
                    SELECT m.name || '.' || p.name || CASE WHEN p."notnull" = 1 OR p.pk > 0 THEN ' not null' ELSE ' null' END
                    FROM sqlite_master m JOIN pragma_table_info(m.name) p
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
                SELECT table_name || '.' || column_name || CASE WHEN is_nullable = 'NO' THEN ' not null' ELSE ' null' END
                FROM information_schema.columns
                WHERE table_schema = 'public' AND table_name <> 'schema_migrations'
                """)
        return Set(rows.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
    }
}
