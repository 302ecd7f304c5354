import Aggregator
import BinProtocol
import BinsTestSupport
import Foundation
import Testing

/// The order PostgreSQL writes take shared rows in. The district's per-day rows (`ledger_days`) are written
/// by every event batch of every instance, and every instance decides every alert; a transaction that took
/// such rows in no particular order could hold one while waiting for another that a second transaction
/// holds while waiting for the first (a deadlock, which PostgreSQL breaks after a second by aborting one).
@Suite("PostgreSQL row locks")
struct PostgresRowLockTests {
    @Test("an event batch takes the district's per-day rows in day order, so two batches never wait in a circle")
    func perDayRowsInOrder() async throws {
        try await Self.withStore { store, url, directory in
            try await Self.checkDayOrder(store: store, url: url, directory: directory)
        }
    }

    @Test("alert steps take their alerts' rows in (kind, subject) order, whatever order they come in")
    func alertRowsInOrder() async throws {
        try await Self.withStore { store, url, directory in
            try await Self.checkAlertOrder(store: store, url: url, directory: directory)
        }
    }

    /// A migrated store on a database of its own, its URL, and a directory for the psql sessions' output.
    private static func withStore(
        _ body: (any AggregatorStore, _ url: String, TemporaryDirectory) async throws -> Void
    ) async throws {
        let directory = try TemporaryDirectory(prefix: "postgres-row-locks")
        try await Fixtures.withPostgresStores(instances: 1) { stores, url in
            try await body(stores[0], url, directory)
        }
    }

    private static func checkAlertOrder(store: any AggregatorStore, url: String, directory: TemporaryDirectory)
        async throws
    {
        func alert(_ point: String) -> AlertRecord {
            AlertRecord(
                id: "offline-\(point)", kind: .deviceOffline, severity: .critical, subject: "device:\(point)",
                value: 1000, threshold: 900, message: "offline", raisedAtMs: 1000)
        }
        let points = ["pt-a", "pt-b", "pt-c"]
        #expect(
            try await store.applyAlertSteps(points.map { .raise(alert($0), deliveries: []) }) == [true, true, true])

        // Another transaction holds pt-b's alert.
        let session = "bins-test-alert-row"
        let holder = try await PostgresServer.holdLock(
            .rows(select: "SELECT id FROM alerts WHERE subject = 'device:pt-b'"), url: url, applicationName: session,
            outputPath: directory.file("\(session).log"))
        defer { holder.send(SIGKILL) }

        // The three clear, listed c, b, a: the write waits at pt-b holding pt-a's row, not pt-c's.
        let clears: [AlertStep] = points.reversed().map { point in
            var cleared = alert(point)
            cleared.state = .cleared
            cleared.clearedAtMs = 2000
            return .transition(cleared, from: .raised, deliveries: [])
        }
        let clearing = Task { try await store.applyAlertSteps(clears) }
        try await waitUntil(timeout: .seconds(20), "the steps wait for pt-b's alert") {
            try await PostgresServer.sessionsWaitingOnLocks(url: url) > 0
        }
        let free = try await PostgresServer.query(
            url: url, sql: "SELECT subject FROM alerts ORDER BY subject FOR UPDATE SKIP LOCKED")
        #expect(free == ["device:pt-c"])

        try await PostgresServer.terminateSessions(url: url, applicationName: session)
        #expect(try await clearing.value == [true, true, true])
        #expect(try await store.openAlerts().isEmpty)
    }

    private static func checkDayOrder(store: any AggregatorStore, url: String, directory: TemporaryDirectory)
        async throws
    {
        let days = 1...8
        func dayNumber(_ day: Int) -> Int64 { Fixtures.calendar.localDate(of: Fixtures.time(0, day: day)).dayNumber }
        // Every day's row exists, from a first event of another point on each day.
        for day in days {
            let event = Fixtures.deposit("pt-9", seq: Int64(day), at: Fixtures.time(0, day: day), kg: 1)
            _ = try await store.commit([.event(Fixtures.booking(event))])
        }

        // Another transaction holds day 4's row.
        let session = "bins-test-day-row"
        let holder = try await PostgresServer.holdLock(
            .rows(select: "SELECT day FROM ledger_days WHERE day = \(dayNumber(4))"), url: url,
            applicationName: session, outputPath: directory.file("\(session).log"))
        defer { holder.send(SIGKILL) }

        // One batch books an event on each day, newest day first (seq 1 on day 8); it waits at day 4.
        let batch: [IngestItem] = days.reversed().map { day in
            .event(
                Fixtures.booking(
                    Fixtures.deposit("pt-1", seq: Int64(9 - day), at: Fixtures.time(1, day: day), kg: 0.5)))
        }
        let booking = Task { try await store.commit(batch) }
        try await waitUntil(timeout: .seconds(20), "the batch waits for day 4's row") {
            try await PostgresServer.sessionsWaitingOnLocks(url: url) > 0
        }
        // It holds the days before 4 and none after: the rows nobody holds are exactly 5 to 8.
        let free = try await PostgresServer.query(
            url: url, sql: "SELECT day FROM ledger_days ORDER BY day FOR UPDATE SKIP LOCKED")
        #expect(free == (5...8).map { "\(dayNumber($0))" })

        try await PostgresServer.terminateSessions(url: url, applicationName: session)
        #expect(try await booking.value == Array(repeating: .event(.booked(gap: nil, filledGap: false)), count: 8))
        let totals = try await store.dailyTotals(
            devices: nil, from: Fixtures.date("2026-06-01"), to: Fixtures.date("2026-06-08"))
        #expect(totals.map(\.figures.depositedKg) == Array(repeating: 1.5, count: 8))
    }
}
