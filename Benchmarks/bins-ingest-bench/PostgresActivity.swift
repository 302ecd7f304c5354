import BinsTestSupport
import Foundation

/// What the PostgreSQL server did during a fleet run, from its statistics views through `psql`: the
/// transactions committed and rolled back in the ledger's database (a rollback is a batch retried after a
/// serialisation failure or a deadlock), the WAL written and flushed (cluster-wide), and how often the
/// client backends waited on a lock, sampled four times a second by one `psql` running `\watch`. It tells
/// whether the alert and commit latency of several instances is spent in transactions, in flushes or in
/// waiting for each other's row locks.
final class PostgresActivity {
    private struct Counters {
        var commits = 0
        var rollbacks = 0
        var deadlocks = 0
        var walRecords = 0
        var walBytes = 0
        var walWrites = 0
        var walSyncs = 0
    }

    private let url: String
    private let directory: TemporaryDirectory
    private let start: Counters
    private let startedAt = ContinuousClock.now
    private let sampler: ChildProcess

    init(url: String, in directory: TemporaryDirectory) async throws {
        self.url = url
        self.directory = directory
        start = try await Self.counters(url: url, in: directory)
        let script = try directory.write(
            "lock-samples.sql",
            """
            SELECT count(*) FILTER (WHERE state = 'active'),
                   coalesce(string_agg(wait_event, ' ') FILTER (WHERE wait_event_type = 'Lock'), '')
              FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend';
            \\watch 0.25

            """)
        sampler = try ChildProcess(
            "psql", [url, "-X", "-A", "-t", "-q", "-f", script], outputPath: directory.file("lock-samples.txt"))
    }

    /// One line for the run's report.
    func finish() async throws -> String {
        sampler.send(SIGTERM)
        try await sampler.waitForExit(timeout: .seconds(10))
        let elapsed = BenchOutput.seconds(startedAt.duration(to: .now))
        let end = try await Self.counters(url: url, in: directory)
        // Each sample: the active backends, and the kind of lock each waiting one waits for (`transactionid`:
        // a row another transaction holds; `tuple`: queued behind such a waiter; `relation`, `advisory`...).
        let samples = sampler.output.split(separator: "\n").compactMap { line -> (active: Int, waits: [Substring])? in
            let fields = line.split(separator: "|", omittingEmptySubsequences: false)
            guard fields.count == 2, let active = Int(fields[0]) else { return nil }
            return (active, fields[1].split(separator: " "))
        }
        let count = Double(max(1, samples.count))
        let withWaiter = Double(samples.filter { !$0.waits.isEmpty }.count) / count
        let meanWaiting = Double(samples.reduce(0) { $0 + $1.waits.count }) / count
        let meanActive = Double(samples.reduce(0) { $0 + $1.active }) / count
        let kinds = Dictionary(samples.flatMap(\.waits).map { (String($0), 1) }, uniquingKeysWith: +)
            .sorted { $0.value > $1.value }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        func rate(_ value: KeyPath<Counters, Int>) -> Double {
            Double(end[keyPath: value] - start[keyPath: value]) / elapsed
        }
        return String(
            format:
                "postgres: %.0f commits/s, %.1f rollbacks/s, %d deadlocks; WAL %.0f records/s, %.1f MB/s in %.0f writes/s and %.0f flushes/s; "
                + "a client backend waiting on a lock in %.0f %% of %d samples (%.2f waiting, %.2f active on average; waits seen: %@)",
            rate(\.commits), rate(\.rollbacks), end.deadlocks - start.deadlocks, rate(\.walRecords),
            rate(\.walBytes) / 1e6, rate(\.walWrites), rate(\.walSyncs), withWaiter * 100, samples.count, meanWaiting,
            meanActive, kinds.isEmpty ? "none" : kinds)
    }

    private static func counters(url: String, in directory: TemporaryDirectory) async throws -> Counters {
        let output = try await ChildProcess.run(
            "psql",
            [
                url, "-X", "-A", "-t", "-q", "-c",
                "SELECT d.xact_commit, d.xact_rollback, d.deadlocks, w.wal_records, w.wal_bytes, w.wal_write, w.wal_sync"
                    + " FROM pg_stat_database d, pg_stat_wal w WHERE d.datname = current_database()",
            ], in: directory)
        let fields = output.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "|").compactMap { Int($0) }
        guard fields.count == 7 else { throw BenchError("psql printed no statistics row: \(output.prefix(300))") }
        return Counters(
            commits: fields[0], rollbacks: fields[1], deadlocks: fields[2], walRecords: fields[3], walBytes: fields[4],
            walWrites: fields[5], walSyncs: fields[6])
    }
}
