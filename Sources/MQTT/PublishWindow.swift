/// The outbox publisher's in-flight bookkeeping: which seqs were handed to the client, which are finished
/// (acknowledged, or rejected and reported), and how far the outbox may be deleted. Deletion is strictly
/// in seq order: seq n is deleted only when every seq sent before it is finished, so a crash can only
/// ever resend a suffix, never leave a hole. A value type, tested without I/O.
struct PublishWindow: Sendable {
    /// Sent seqs in ascending order from `head` on; the finished prefix before `head` is dropped lazily,
    /// so settling a PUBACK is a binary search, not a scan and a shift of the whole window.
    private var entries: [(seq: Int64, finished: Bool)] = []
    private var head = 0
    /// Seqs sent and not yet finished.
    private(set) var inFlight = 0
    /// Highest seq handed to the client; records above it have not been sent by this process.
    private(set) var cursor: Int64

    init(cursor: Int64 = 0) {
        self.cursor = cursor
    }

    /// A record was handed to the client (in seq order).
    mutating func sent(_ seq: Int64) {
        assert(seq > cursor, "records are sent in seq order")
        entries.append((seq, false))
        inFlight += 1
        cursor = seq
    }

    /// A sent record finished. Returns the seq through which the outbox may now be deleted, if the finished
    /// prefix grew.
    mutating func finished(_ seq: Int64) -> Int64? {
        guard let index = index(of: seq), !entries[index].finished else { return nil }
        entries[index].finished = true
        inFlight -= 1
        var through: Int64?
        while head < entries.count, entries[head].finished {
            through = entries[head].seq
            head += 1
        }
        if head == entries.count {
            entries.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 1024 && head * 2 >= entries.count {
            entries.removeFirst(head)
            head = 0
        }
        return through
    }

    /// Seqs sent and not finished, oldest first.
    var unfinished: [Int64] { entries[head...].filter { !$0.finished }.map(\.seq) }

    /// Where `seq` sits among the unsettled entries (they ascend), if it was sent.
    private func index(of seq: Int64) -> Int? {
        var low = head
        var high = entries.count
        while low < high {
            let middle = (low + high) / 2
            if entries[middle].seq < seq { low = middle + 1 } else { high = middle }
        }
        return low < entries.count && entries[low].seq == seq ? low : nil
    }
}
