import Aggregator
import BinProtocol
import BinsTestSupport
import Foundation
import Testing

/// The order a PostgreSQL batch takes rows in. The district's per-day rows (`ledger_days`) are written by
/// every event batch of every instance; a batch that took them in no particular order could hold one day
/// while waiting for another that a second batch holds while waiting for the first (a deadlock, which
/// PostgreSQL breaks after a second by aborting one of them).
@Suite("PostgreSQL row locks")
struct PostgresRowLockTests {
    @Test("an event batch takes the district's per-day rows in day order, so two batches never wait in a circle")
    func perDayRowsInOrder() async throws {
        let directory = try TemporaryDirectory(prefix: "postgres-row-locks")
        let url = try await PostgresServer.makeDatabase()
        defer { PostgresServer.dropDatabase(url: url) }
        let store = PostgresStore(settings: try #require(PostgresSettings.parse(url: url)), logger: Fixtures.logger)
        do {
            try await store.migrate()
            try await Self.checkOrder(store: store, url: url, directory: directory)
            await store.close()
        } catch {
            await store.close()
            throw error
        }
    }

    private static func checkOrder(store: PostgresStore, url: String, directory: TemporaryDirectory) async throws {
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
            url: url, applicationName: session,
            sql: """
                BEGIN; SELECT day FROM ledger_days WHERE day = \(dayNumber(4)) FOR UPDATE; SELECT pg_sleep(600); COMMIT;
                """,
            // An xid is assigned once the row is locked.
            heldWhen: """
                SELECT count(*) FROM pg_stat_activity
                WHERE application_name = '\(session)' AND backend_xid IS NOT NULL
                """,
            outputPath: directory.file("holder.log"))
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
