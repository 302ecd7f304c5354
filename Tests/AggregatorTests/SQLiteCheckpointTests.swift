import Aggregator
import BinsTestSupport
import Foundation
import Testing

/// The SQLite store copies its write-ahead log into the database file on a thread of its own, so that
/// ingest's commits (which the broker's PUBACKs wait for) do not carry the checkpoints.
@Suite("SQLite write-ahead log")
struct SQLiteCheckpointTests {
    @Test("committed pages reach the database file through the store's checkpoint thread, not the writer's commits")
    func checkpointsBesideTheWriter() async throws {
        let directory = try TemporaryDirectory(prefix: "wal-checkpoint")
        let path = directory.file("ledger.sqlite")
        let store = try SQLiteStore(settings: SQLiteSettings(path: path, synchronous: .normal))
        try await store.migrate()
        func fileSize(_ file: String) -> Int {
            ((try? FileManager.default.attributesOfItem(atPath: file))?[.size] as? Int) ?? 0
        }
        let before = fileSize(path)
        // About 2 MB of log: far below the writer's own automatic checkpoint (SQLite's default of 1000
        // pages, and the store's fallback of 8192), so only the checkpoint thread can move it.
        for batch in 0..<8 {
            let items = (0..<500).map { index -> IngestItem in
                let seq = Int64(batch * 500 + index + 1)
                return .event(
                    Fixtures.booking(
                        Fixtures.deposit("pt-1", seq: seq, at: Fixtures.time(seq), kg: 1), receivedAtMs: seq))
            }
            _ = try await store.commit(items)
        }
        try await waitUntil(timeout: .seconds(30), "the database file to take the log's pages") {
            fileSize(path) > before + 1_000_000
        }
        #expect(try await store.bookedEventCount() == 4000)
        await store.close()
    }
}
