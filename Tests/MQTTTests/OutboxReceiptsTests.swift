import BinsTestSupport
import Foundation
import MQTT
import Synchronization
import Testing

/// End-to-end receipts through a real mosquitto: the outbox keeps what the broker acknowledged until the
/// receiver's receipt covers it, so a broker that crashes after acknowledging loses nothing for good.
/// The receiver here is a plain subscriber; the test hands its receipts to the publisher the way the
/// daemon's receipt listener does (the aggregator's side is tested in AggregatorTests and SystemTests).
@Suite("Outbox receipts through a real mosquitto", .serialized)
struct OutboxReceiptsTests {
    static let topic = "bins/v1/pt-0001/events"
    static let settings = ReceiptSettings(
        mode: .required, resendAfter: .seconds(2), maximumResendInterval: .seconds(4),
        gapResendAfter: .milliseconds(200),
        reconnectSettle: .milliseconds(300), fallbackAfter: .seconds(3600))

    struct Device {
        let outbox: Outbox
        let client: MQTTClient
        let receipts: OutboxReceipts
        let publisher: OutboxPublisher
        let tasks: [Task<Void, any Error>]

        init(
            broker: MosquittoBroker, directory: TemporaryDirectory,
            settings: ReceiptSettings = OutboxReceiptsTests.settings
        ) throws {
            outbox = try Outbox(
                path: directory.file("outbox.sqlite"), capacity: 10_000, syncPolicy: .everyWrite, logger: testLogger)
            client = try MQTTClient(configuration: clientConfiguration(broker, clientID: "pt-0001"), logger: testLogger)
            receipts = OutboxReceipts(settings: settings)
            publisher = OutboxPublisher(
                outbox: outbox, client: client, receipts: receipts, logger: testLogger, markHistorical: markHistorical)
            let client = client
            let publisher = publisher
            tasks = [Task { try await client.run() }, Task { try await publisher.run() }]
        }

        func record(_ count: Int) throws {
            for _ in 0..<count {
                try outbox.append(topic: OutboxReceiptsTests.topic, qos: .atLeastOnce) { seq in
                    Array("{\"seq\":\(seq)}".utf8)
                }
            }
        }

        func stop() async throws {
            tasks[1].cancel()
            try await tasks[1].value
            await client.disconnect()
            try await tasks[0].value
        }
    }

    /// A receiver with a persistent session that books what it receives; `receiptThrough` is the highest
    /// seq up to which it has everything.
    final class Receiver: Sendable {
        let collector = MessageCollector()
        let client: MQTTClient
        let task: Task<Void, any Error>

        init(broker: MosquittoBroker) async throws {
            client = try MQTTClient(
                configuration: clientConfiguration(broker, clientID: "receipt-receiver", cleanSession: false),
                logger: testLogger)
            try await client.subscribe(["bins/v1/+/events"], qos: .atLeastOnce, handler: collector)
            let client = client
            task = Task { try await client.run() }
            try await client.waitUntilConnected(timeout: .seconds(20))
        }

        var seqs: Set<Int64> { Set(ReceivedEvents(collector.received).seqs) }

        var receiptThrough: Int64 {
            let seqs = seqs
            var through: Int64 = 0
            while seqs.contains(through + 1) { through += 1 }
            return through
        }

        func stop() async throws {
            await client.disconnect()
            try await task.value
        }
    }

    @Test("acknowledged records stay in the outbox until a receipt covers them")
    func keptUntilReceipt() async throws {
        let directory = try TemporaryDirectory(prefix: "receipts-kept")
        let broker = try await MosquittoBroker.start(in: directory)
        let receiver = try await Receiver(broker: broker)
        let device = try Device(broker: broker, directory: directory)
        try await device.client.waitUntilConnected(timeout: .seconds(20))
        device.receipts.receiver(.online(announcesReceipts: true))

        try device.record(50)
        try await receiver.collector.wait("50 events") { Set(ReceivedEvents($0).seqs).count == 50 }
        try await waitUntil(timeout: .seconds(10), "all 50 acknowledged") { device.receipts.status.unreceipted == 50 }
        #expect(device.outbox.depth == 50, "acknowledged by the broker, not yet receipted: kept")
        #expect(device.receipts.status.mode == .receipts)

        device.receipts.receipt(through: 30, highest: 30)
        try await waitUntil(timeout: .seconds(10), "deleted through 30") { device.outbox.depth == 20 }
        device.receipts.receipt(through: 50, highest: 50)
        #expect(await device.publisher.waitUntilDrained(timeout: .seconds(10)))
        // The status is the publisher's snapshot after its step, which may come just after the deletion.
        try await waitUntil(timeout: .seconds(10), "the status shows through 50") {
            device.receipts.status.through == 50
        }
        try await device.stop()
        try await receiver.stop()
    }

    @Test("a receipt that shows a gap gets the missing records again, and the receiver ends with every seq")
    func gapIsFilled() async throws {
        let directory = try TemporaryDirectory(prefix: "receipts-gap")
        let broker = try await MosquittoBroker.start(in: directory)
        let receiver = try await Receiver(broker: broker)
        let device = try Device(broker: broker, directory: directory)
        try await device.client.waitUntilConnected(timeout: .seconds(20))
        try device.record(40)
        try await receiver.collector.wait("40 events") { Set(ReceivedEvents($0).seqs).count == 40 }
        try await waitUntil(timeout: .seconds(10), "all acknowledged") { device.receipts.status.unreceipted == 40 }
        let before = receiver.collector.received.count
        // The receiver says: through 10, and it has seen up to 40, so 11... went missing on the way.
        device.receipts.receipt(through: 10, highest: 40)
        try await receiver.collector.wait("11...40 again") { $0.count >= before + 30 }
        let again = ReceivedEvents(Array(receiver.collector.received.dropFirst(before)))
        #expect(Array(again.seqs.prefix(30)) == Array(11...40), "sent again in seq order from the first uncovered")
        #expect(again.historical.isSuperset(of: Set(11...40)), "what is sent again is late: historical")
        #expect(device.receipts.status.resends == 1)
        device.receipts.receipt(through: 40, highest: 40)
        #expect(await device.publisher.waitUntilDrained(timeout: .seconds(10)))
        try await device.stop()
        try await receiver.stop()
    }

    @Test(
        "broker killed (SIGKILL) long after its last save, receiver away: every acknowledged record still arrives once the receiver is back"
    )
    func brokerCrash() async throws {
        let directory = try TemporaryDirectory(prefix: "receipts-crash")
        // Nothing is saved before the kill but at start: everything acknowledged since is in memory only.
        let broker = try await MosquittoBroker.start(.init(extraLines: ["autosave_interval 3600"]), in: directory)
        let first = try await Receiver(broker: broker)
        try await first.stop()  // away; its session queues

        let device = try Device(broker: broker, directory: directory)
        try await device.client.waitUntilConnected(timeout: .seconds(20))
        device.receipts.receiver(.offline)
        try device.record(300)
        try await waitUntil(timeout: .seconds(20), "300 acknowledged by the broker") {
            device.receipts.status.unreceipted == 300
        }
        #expect(device.outbox.depth == 300)

        try await broker.kill()
        try await broker.restart()
        try await waitUntil(timeout: .seconds(20), "device reconnected") { device.client.state == .connected }
        // The receiver comes back to a broker that lost its queue; the device learns it is back and sends
        // again what no receipt covers.
        let receiver = try await Receiver(broker: broker)
        device.receipts.receiver(.online(announcesReceipts: true))
        try await receiver.collector.wait(timeout: .seconds(60), "all 300 seqs") {
            Set(ReceivedEvents($0).seqs).count == 300
        }
        #expect(receiver.seqs == Set(1...300))
        device.receipts.receipt(through: receiver.receiptThrough, highest: receiver.receiptThrough)
        #expect(await device.publisher.waitUntilDrained(timeout: .seconds(10)))
        #expect(try device.outbox.takeDropReports().isEmpty)
        try await device.stop()
        try await receiver.stop()
    }

    @Test("the announcement survives a restart: a reopened outbox keeps waiting for receipts before any status arrives")
    func announcementPersists() async throws {
        let directory = try TemporaryDirectory(prefix: "receipts-persist")
        let broker = try await MosquittoBroker.start(in: directory)
        var auto = Self.settings
        auto.mode = .auto
        do {
            let device = try Device(broker: broker, directory: directory, settings: auto)
            #expect(try device.outbox.receiverAnnouncesReceipts == false)
            device.receipts.receiver(.online(announcesReceipts: true))
            try await waitUntil(timeout: .seconds(10), "mode receipts") { device.receipts.status.mode == .receipts }
            try await device.stop()
        }
        let device = try Device(broker: broker, directory: directory, settings: auto)
        #expect(try device.outbox.receiverAnnouncesReceipts)
        try await device.client.waitUntilConnected(timeout: .seconds(20))
        try device.record(5)
        try await waitUntil(timeout: .seconds(10), "5 acknowledged") { device.receipts.status.unreceipted == 5 }
        #expect(device.outbox.depth == 5)
        #expect(device.receipts.status.mode == .receipts)
        try await device.stop()
    }
}
