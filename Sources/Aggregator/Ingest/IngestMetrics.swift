import BinProtocol
import Metrics
import Synchronization

/// The ingest counters, exported through swift-metrics under the names of DESIGN section 7 and kept as
/// plain tallies too, so `/healthz`, the benchmark and tests can read them without scraping.
///
/// Label sets are bounded: `type` is one of the message types below, `reason` one of ``RejectReason``.
public final class IngestMetrics: Sendable {
    /// `type` label values of `bins_ingest_messages_total`.
    public enum MessageType: String, Sendable, CaseIterable {
        case status, birth, state, health, deposit, collection, fault, load
    }

    public struct Snapshot: Sendable, Equatable {
        public var messages: [MessageType: Int] = [:]
        public var rejected: [RejectReason: Int] = [:]
        public var duplicates = 0
        public var sequenceGaps = 0
        public var storageFailures = 0

        public var totalMessages: Int { messages.values.reduce(0, +) }
        public var totalRejected: Int { rejected.values.reduce(0, +) }
    }

    private let messageCounters: [MessageType: Counter]
    private let rejectCounters: [RejectReason: Counter]
    private let duplicateCounter: Counter
    private let gapCounter: Counter
    private let storageFailureCounter: Counter
    private let tallies = Mutex(Snapshot())

    /// Every counter is created up front so a scrape shows zeros rather than missing series.
    public init(factory: any MetricsFactory) {
        messageCounters = Dictionary(
            uniqueKeysWithValues: MessageType.allCases.map {
                (
                    $0,
                    Counter(label: "bins_ingest_messages_total", dimensions: [("type", $0.rawValue)], factory: factory)
                )
            })
        rejectCounters = Dictionary(
            uniqueKeysWithValues: RejectReason.allCases.map {
                (
                    $0,
                    Counter(
                        label: "bins_ingest_rejected_total", dimensions: [("reason", $0.rawValue)], factory: factory)
                )
            })
        duplicateCounter = Counter(label: "bins_ingest_duplicates_total", factory: factory)
        gapCounter = Counter(label: "bins_ingest_sequence_gaps_total", factory: factory)
        storageFailureCounter = Counter(label: "bins_ingest_storage_failures_total", factory: factory)
    }

    func accepted(_ type: MessageType) {
        messageCounters[type]?.increment()
        tallies.withLock { $0.messages[type, default: 0] += 1 }
    }

    func rejected(_ reason: RejectReason) {
        rejectCounters[reason]?.increment()
        tallies.withLock { $0.rejected[reason, default: 0] += 1 }
    }

    func duplicate() {
        duplicateCounter.increment()
        tallies.withLock { $0.duplicates += 1 }
    }

    func sequenceGap() {
        gapCounter.increment()
        tallies.withLock { $0.sequenceGaps += 1 }
    }

    func storageFailure() {
        storageFailureCounter.increment()
        tallies.withLock { $0.storageFailures += 1 }
    }

    public var snapshot: Snapshot { tallies.withLock { $0 } }
}
