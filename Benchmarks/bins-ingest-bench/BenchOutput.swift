import Aggregator
import Foundation

/// What both benchmarks print and how: figures to standard output unbuffered (a run cut short still
/// shows what it measured), progress to standard error.
enum BenchOutput {
    static func say(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }

    static func progress(_ text: String) {
        FileHandle.standardError.write(Data("bins-ingest-bench: \(text)\n".utf8))
    }

    static func describe(_ storage: StorageSettings) -> String {
        switch storage {
        case .sqlite(let sqlite): "SQLite (WAL, synchronous \(sqlite.synchronous.rawValue)) \(sqlite.path)"
        case .postgres(let postgres): "PostgreSQL \(postgres.redactedURL)"
        }
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
