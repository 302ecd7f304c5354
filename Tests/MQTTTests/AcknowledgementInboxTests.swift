import Testing

@testable import MQTT

@Suite("Outbox publisher's PUBACK inbox (no I/O)")
struct AcknowledgementInboxTests {
    /// The wake-ups the inbox asked for, in order: collected after the continuation is finished.
    private static func wakeUps(_ stream: AsyncStream<PublisherEvent>) async -> Int {
        var count = 0
        for await event in stream {
            if case .acknowledged = event { count += 1 }
        }
        return count
    }

    @Test("a drain wakes the task once per quarter window, and once more for the last outstanding PUBACK")
    func wakesPerQuarterWindow() async {
        let (stream, sink) = AsyncStream.makeStream(of: PublisherEvent.self)
        let inbox = AcknowledgementInbox(window: 16, sink: sink)
        for _ in 1...10 { inbox.handingOver() }
        for seq in Int64(1)...3 { inbox.add(seq: seq, result: .success(())) }
        // Three waiting of ten outstanding: below a quarter of 16, no wake-up yet.
        inbox.add(seq: 4, result: .success(()))
        #expect(inbox.take().map(\.seq) == [1, 2, 3, 4])
        for seq in Int64(5)...9 { inbox.add(seq: seq, result: .success(())) }
        #expect(inbox.take().map(\.seq) == [5, 6, 7, 8, 9])
        inbox.add(seq: 10, result: .success(()))
        #expect(inbox.take().map(\.seq) == [10])
        #expect(inbox.take().isEmpty)
        sink.finish()
        // At the 4th (a quarter of 16), at the 8th (four more since the take), and at the 10th (the last).
        #expect(await Self.wakeUps(stream) == 3)
    }

    @Test("a failure wakes at once; a refused hand-over settles what waits when nothing else is outstanding")
    func failuresAndWithdrawals() async {
        let (stream, sink) = AsyncStream.makeStream(of: PublisherEvent.self)
        let inbox = AcknowledgementInbox(window: 256, sink: sink)
        for _ in 1...3 { inbox.handingOver() }
        inbox.add(seq: 1, result: .failure(MQTTError(.cancelled, broker: "127.0.0.1:1883")))
        #expect(inbox.take().count == 1)
        inbox.add(seq: 2, result: .success(()))
        // The third was refused by the client: its outcome never comes, so the second must not wait for it.
        inbox.withdraw()
        #expect(inbox.take().map(\.seq) == [2])
        sink.finish()
        #expect(await Self.wakeUps(stream) == 2)
    }

    @Test("a window of one or two wakes the task for every PUBACK")
    func smallWindow() async {
        let (stream, sink) = AsyncStream.makeStream(of: PublisherEvent.self)
        let inbox = AcknowledgementInbox(window: 2, sink: sink)
        inbox.handingOver()
        inbox.handingOver()
        inbox.add(seq: 1, result: .success(()))
        inbox.add(seq: 2, result: .success(()))
        sink.finish()
        #expect(await Self.wakeUps(stream) == 2)
        #expect(inbox.take().map(\.seq) == [1, 2])
    }
}
