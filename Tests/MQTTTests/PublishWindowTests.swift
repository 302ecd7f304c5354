import Testing

@testable import MQTT

@Suite("Outbox publish window (no I/O)")
struct PublishWindowTests {
    @Test("out-of-order acknowledgements delete only the finished prefix, in seq order")
    func inOrderDeletion() {
        var window = PublishWindow()
        for seq in Int64(1)...5 { window.sent(seq) }
        #expect(window.inFlight == 5)
        #expect(window.cursor == 5)
        #expect(window.finished(3) == nil)
        #expect(window.finished(2) == nil)
        #expect(window.finished(1) == 3)
        #expect(window.unfinished == [4, 5])
        #expect(window.finished(5) == nil)
        #expect(window.finished(4) == 5)
        #expect(window.inFlight == 0)
        #expect(window.unfinished.isEmpty)
    }

    @Test("duplicate or unknown acknowledgements change nothing")
    func duplicates() {
        var window = PublishWindow(cursor: 10)
        window.sent(11)
        window.sent(12)
        #expect(window.finished(99) == nil)
        #expect(window.finished(11) == 11)
        #expect(window.finished(11) == nil)
        #expect(window.inFlight == 1)
        #expect(window.finished(12) == 12)
    }

    @Test("seq gaps (records dropped from the outbox) do not block deletion")
    func gaps() {
        var window = PublishWindow()
        window.sent(4)
        window.sent(9)
        #expect(window.finished(9) == nil)
        #expect(window.finished(4) == 9)
    }

    @Test("a window of thousands settled in a shuffled order deletes exactly the finished prefix each time")
    func largeShuffledWindow() {
        var window = PublishWindow(cursor: 100)
        let seqs = Array(Int64(101)...5100)
        for seq in seqs { window.sent(seq) }
        var generator = SystemRandomNumberGenerator()
        var settled = Set<Int64>()
        var deletedThrough: Int64 = 100
        for seq in seqs.shuffled(using: &generator) {
            let through = window.finished(seq)
            settled.insert(seq)
            var expected = deletedThrough
            while settled.contains(expected + 1) { expected += 1 }
            #expect(through == (expected > deletedThrough ? expected : nil))
            deletedThrough = expected
            #expect(window.inFlight == seqs.count - settled.count)
            #expect(window.finished(seq) == nil)
        }
        #expect(deletedThrough == 5100)
        #expect(window.unfinished.isEmpty)
        window.sent(5101)
        #expect(window.unfinished == [5101])
        #expect(window.finished(5101) == 5101)
    }
}
