import GPIO

/// Identifies an action scheduled on a `SimulatedChip`, so it can be cancelled.
public struct ScheduledActionID: Sendable, Hashable {
    let rawValue: UInt64
}

/// Work for the simulator to do at a virtual time: a device model's next conversion or echo edge, a
/// lid bounce, or a change of the simulated world. It runs under the chip's lock with the bus at its
/// due time.
public typealias SimulationAction = @Sendable (inout SimulationBus) -> Void

/// A min-heap of actions ordered by due time, then by scheduling order (actions due at the same
/// nanosecond run first-come first-served). Cancellation is lazy: a cancelled action is skipped
/// when it reaches the top.
struct ScheduledActionQueue: Sendable {
    struct Entry: Sendable {
        var due: UInt64
        var sequence: UInt64
        var action: SimulationAction

        func precedes(_ other: Entry) -> Bool {
            due != other.due ? due < other.due : sequence < other.sequence
        }
    }

    private var heap: [Entry] = []
    private var cancelled: Set<UInt64> = []
    private var nextSequence: UInt64 = 0

    var count: Int { heap.count - cancelled.count }

    mutating func push(due: UInt64, _ action: @escaping SimulationAction) -> ScheduledActionID {
        let entry = Entry(due: due, sequence: nextSequence, action: action)
        nextSequence += 1
        heap.append(entry)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].precedes(heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
        return ScheduledActionID(rawValue: entry.sequence)
    }

    mutating func cancel(_ id: ScheduledActionID) {
        if heap.contains(where: { $0.sequence == id.rawValue }) { cancelled.insert(id.rawValue) }
    }

    /// Due time of the earliest live action.
    mutating func nextDue() -> UInt64? {
        dropCancelledTop()
        return heap.first?.due
    }

    /// Removes and returns the earliest live action if it is due at or before `limit`.
    mutating func popDue(notAfter limit: UInt64) -> Entry? {
        dropCancelledTop()
        guard let first = heap.first, first.due <= limit else { return nil }
        return removeTop()
    }

    private mutating func dropCancelledTop() {
        while let first = heap.first, cancelled.contains(first.sequence) {
            cancelled.remove(first.sequence)
            _ = removeTop()
        }
    }

    private mutating func removeTop() -> Entry {
        let top = heap[0]
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1
                let right = left + 1
                var best = parent
                if left < heap.count, heap[left].precedes(heap[best]) { best = left }
                if right < heap.count, heap[right].precedes(heap[best]) { best = right }
                if best == parent { break }
                heap.swapAt(parent, best)
                parent = best
            }
        }
        return top
    }
}
