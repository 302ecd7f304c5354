import Aggregator
import BinProtocol
import BinsTestSupport
import Foundation
import GRDB
import Logging
import Testing

/// The two store implementations the storage suite runs against.
enum StoreKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite, postgres
    var testDescription: String { rawValue }
}

enum Fixtures {
    static let logger: Logger = {
        var logger = Logger(label: "aggregator-tests")
        logger.logLevel = .warning
        return logger
    }()

    static let shanghai = TimeZone(identifier: "Asia/Shanghai")!
    static let calendar = LedgerCalendar(timeZone: shanghai)

    /// Opens an empty, migrated store of `kind` for the duration of `body`. PostgreSQL stores get a
    /// database of their own on the test server (see ``PostgresServer``); `instances` opens that many
    /// independent stores on the same database, as separate aggregator instances would.
    static func withStores<T>(
        _ kind: StoreKind, instances: Int = 1, _ body: ([any AggregatorStore]) async throws -> T
    ) async throws -> T {
        try await withStores(kind, instances: instances) { stores, _ in try await body(stores) }
    }

    /// Like ``withStore(_:_:)``, and `body` may also run SQL on the store's database behind its back.
    static func withStoreAndSQL<T>(
        _ kind: StoreKind,
        _ body: (any AggregatorStore, _ execute: @escaping @Sendable (String) async throws -> Void) async throws -> T
    ) async throws -> T {
        try await withStores(kind, instances: 1) { stores, execute in try await body(stores[0], execute) }
    }

    private static func withStores<T>(
        _ kind: StoreKind, instances: Int,
        _ body: ([any AggregatorStore], _ execute: @escaping @Sendable (String) async throws -> Void) async throws -> T
    ) async throws -> T {
        switch kind {
        case .sqlite:
            let directory = try TemporaryDirectory(prefix: "aggregator-tests")
            defer { withExtendedLifetime(directory) {} }  // removed only after the stores are closed
            let path = directory.file("ledger.sqlite")
            let settings = SQLiteSettings(path: path, synchronous: .normal)
            var stores: [any AggregatorStore] = []
            for _ in 0..<instances { stores.append(try SQLiteStore(settings: settings)) }
            return try await migrated(stores) { stores in
                try await body(stores) { sql in try DatabaseQueue(path: path).write { try $0.execute(sql: sql) } }
            }
        case .postgres:
            return try await withPostgresStores(instances: instances) { stores, url in
                try await body(stores) { sql in try await PostgresServer.execute(url: url, sql: sql) }
            }
        }
    }

    /// `instances` migrated PostgreSQL stores on a database of their own, with the database's URL (for psql
    /// beside the stores, such as a session holding a lock).
    static func withPostgresStores<T>(
        instances: Int, _ body: ([any AggregatorStore], _ url: String) async throws -> T
    ) async throws -> T {
        let url = try await PostgresServer.makeDatabase()
        defer { PostgresServer.dropDatabase(url: url) }
        let settings = try #require(PostgresSettings.parse(url: url))
        return try await migrated((0..<instances).map { _ in PostgresStore(settings: settings, logger: logger) }) {
            stores in try await body(stores, url)
        }
    }

    /// Migrates `stores`, runs `body` with them and closes them, also when either fails.
    private static func migrated<T>(
        _ stores: [any AggregatorStore], _ body: ([any AggregatorStore]) async throws -> T
    ) async throws -> T {
        do {
            for store in stores { try await store.migrate() }
            let result = try await body(stores)
            for store in stores { await store.close() }
            return result
        } catch {
            for store in stores { await store.close() }
            throw error
        }
    }

    static func withStore<T>(_ kind: StoreKind, _ body: (any AggregatorStore) async throws -> T) async throws -> T {
        try await withStores(kind, instances: 1) { try await body($0[0]) }
    }

    /// `2026-06-01T08:00:00+08:00` plus `minutes`.
    static func time(_ minutes: Int64, day: Int = 1, offset: Int32 = 8 * 3600) -> WireTimestamp {
        let base = WireTimestamp(rfc3339: "2026-06-0\(day)T08:00:00.000+08:00")!
        return WireTimestamp(
            millisecondsSinceEpoch: base.millisecondsSinceEpoch + minutes * 60_000, utcOffsetSeconds: offset)
    }

    static func deposit(
        _ device: String, seq: Int64, at ts: WireTimestamp, bin: String = "wet", stream: WasteStream = .wet, kg: Double,
        litres: Double? = nil, observed: ObservedStream = .wet, contaminated: Bool = false, historical: Bool = false
    ) -> EventPayload {
        EventPayload(
            device: device, ts: ts, seq: seq, historical: historical,
            body: .deposit(
                Deposit(
                    bin: bin, stream: stream, massKg: kg, volumeL: litres, densityKgL: litres.map { kg / $0 },
                    observed: observed, confidence: 0.9, contaminated: contaminated, quality: .good)))
    }

    static func collection(
        _ device: String, seq: Int64, at ts: WireTimestamp, bin: String = "wet", stream: WasteStream = .wet, kg: Double,
        fillBefore: Double? = nil
    ) -> EventPayload {
        EventPayload(
            device: device, ts: ts, seq: seq,
            body: .collection(Collection(bin: bin, stream: stream, massKg: kg, fillBefore: fillBefore)))
    }

    static func fault(
        _ device: String, seq: Int64, at ts: WireTimestamp, bin: String? = "wet", code: String = "ranger.no_echo",
        active: Bool
    ) -> EventPayload {
        EventPayload(
            device: device, ts: ts, seq: seq,
            body: .fault(Fault(bin: bin, sensor: .ranger, code: code, active: active, detail: "test")))
    }

    static func booking(_ event: EventPayload, receivedAtMs: Int64? = nil) -> EventBooking {
        EventBooking(
            event: event, day: calendar.localDate(of: event.ts),
            receivedAtMs: receivedAtMs ?? event.ts.millisecondsSinceEpoch,
            payload: (try? WireCodec.encodeString(event)) ?? "{}")
    }

    static func json(_ value: some Encodable) -> [UInt8] { (try? WireCodec.encode(value)) ?? [] }

    static func date(_ text: String) -> LocalDate { LocalDate(text)! }
}
