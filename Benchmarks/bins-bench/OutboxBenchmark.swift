import ArgumentParser
import BinsTestSupport
import CBinsMosquitto
import Foundation
import Logging
import MQTT

/// QoS 1 publish throughput through the durable outbox (record in SQLite, publish, delete after PUBACK)
/// next to a raw libmosquitto baseline publishing the same messages to the same broker the way
/// `mosquitto_pub` does (one client, libmosquitto's own queue and in-flight window, no disk). The ratio is
/// what durability costs.
struct OutboxBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "outbox", abstract: "QoS 1 publish throughput through the outbox against a raw baseline.")

    @Option(help: "Messages per run.") var count = 5000
    @Option(help: "Payload size in bytes.") var payloadBytes = 200
    @Option(help: "QoS 1 messages in flight at once (outbox publisher window and libmosquitto's).")
    var inFlight = 32
    @Option(help: "Broker as host:port; by default a mosquitto is started on a free loopback port.")
    var broker: String?

    func run() async throws {
        guard count > 0, payloadBytes > 0, inFlight > 0 else {
            throw ValidationError("--count, --payload-bytes and --in-flight must be positive")
        }
        let scratch = try TemporaryDirectory(prefix: "bins-bench-outbox")
        // Without persistence, so the broker's own disk writes stay out of the comparison.
        let endpoint = try await BrokerEndpoint.resolve(
            broker, orStart: MosquittoBroker.Configuration(persistence: false))
        let (host, port) = (endpoint.host, endpoint.port)

        let payload = [UInt8](repeating: UInt8(ascii: "x"), count: payloadBytes)
        // The outbox runs go first: their MQTTClient performs libmosquitto's one-time initialisation,
        // which the raw baseline then relies on.
        var outboxRuns: [(String, Duration)] = []
        for (name, policy) in [
            ("outbox, sync every write (fsync/event)", OutboxSyncPolicy.everyWrite),
            ("outbox, sync batched (200 ms)", OutboxSyncPolicy.batched(interval: .milliseconds(200))),
        ] {
            let elapsed = try await measureOutbox(
                host: host, port: port, payload: payload, policy: policy,
                path: "\(scratch.path)/outbox-\(UUID()).sqlite")
            outboxRuns.append((name, elapsed))
        }
        // After an outage: the records are already in the outbox (recorded with fsync each, not timed) and
        // the publisher drains them at once.
        let recordStart = ContinuousClock.now
        let backlogPath = "\(scratch.path)/outbox-backlog.sqlite"
        try record(payload: payload, path: backlogPath)
        let recorded = recordStart.duration(to: .now)
        let drained = try await measureOutbox(
            host: host, port: port, payload: payload, policy: .everyWrite, path: backlogPath, backlog: true)
        outboxRuns.append(("record alone (fsync/event, no broker)", recorded))
        outboxRuns.append(("drain of a recorded backlog", drained))
        let raw = try RawLibmosquittoPublisher.measure(
            host: host, port: port, count: count, payload: payload, inFlight: inFlight)
        print(
            "QoS 1 publish throughput: \(count) messages of \(payloadBytes) bytes, \(inFlight) in flight, broker \(host):\(port)"
        )
        print("  (ratio = raw time / this time; 1.00 = as fast as publishing without a disk)")
        report("raw libmosquitto (like mosquitto_pub)", raw, baseline: raw)
        for (name, elapsed) in outboxRuns { report(name, elapsed, baseline: raw) }
        await endpoint.stop()
    }

    private func report(_ name: String, _ elapsed: Duration, baseline: Duration) {
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let baselineSeconds = Double(baseline.components.seconds) + Double(baseline.components.attoseconds) / 1e18
        let rate = Double(count) / seconds
        let ratio = baselineSeconds / seconds
        let padded = name.padding(toLength: 42, withPad: " ", startingAt: 0)
        print(
            "  \(padded) \(String(format: "%9.0f", rate)) msg/s   \(String(format: "%7.3f", seconds)) s   ratio \(String(format: "%.2f", ratio))"
        )
    }

    /// Records `count` events into a fresh outbox at `path`, with an fsync each, and closes it.
    private func record(payload: [UInt8], path: String) throws {
        let logger = Logger(label: "bins-bench.outbox", factory: { _ in SwiftLogNoOpLogHandler() })
        let outbox = try Outbox(path: path, capacity: count + 1, syncPolicy: .everyWrite, logger: logger)
        for _ in 0..<count {
            try outbox.append(topic: "bins/v1/bench/events", qos: .atLeastOnce) { _ in payload }
        }
    }

    /// Records `count` events (or, with `backlog`, finds them recorded already) and waits until the
    /// publisher has every PUBACK and the outbox is empty.
    private func measureOutbox(
        host: String, port: Int, payload: [UInt8], policy: OutboxSyncPolicy, path: String, backlog: Bool = false
    ) async throws -> Duration {
        let logger = Logger(label: "bins-bench.outbox", factory: { _ in SwiftLogNoOpLogHandler() })
        let outbox = try Outbox(path: path, capacity: count + 1, syncPolicy: policy, logger: logger)
        if backlog && outbox.depth != count {
            throw ValidationError("the backlog outbox holds \(outbox.depth) records, not \(count)")
        }
        let client = try MQTTClient(
            configuration: MQTTConfiguration(
                host: host, port: port, clientID: "bins-bench-outbox-\(UUID().uuidString.prefix(8))",
                maxInflightMessages: inFlight),
            logger: logger)
        let publisher = OutboxPublisher(
            outbox: outbox, client: client, logger: logger, markHistorical: { $0 })
        let clientTask = Task { try await client.run() }
        defer { clientTask.cancel() }
        try await client.waitUntilConnected(timeout: .seconds(20))
        let start = ContinuousClock.now
        let publisherTask = Task { try await publisher.run() }
        defer { publisherTask.cancel() }
        if !backlog {
            for _ in 0..<count {
                try outbox.append(topic: "bins/v1/bench/events", qos: .atLeastOnce) { _ in payload }
            }
        }
        guard await publisher.waitUntilDrained(timeout: .seconds(600)) else {
            throw ValidationError("outbox not drained within 600 s (depth \(outbox.depth))")
        }
        let elapsed = start.duration(to: .now)
        publisherTask.cancel()
        _ = try? await publisherTask.value
        await client.disconnect()
        _ = try? await clientTask.value
        return elapsed
    }
}

/// The baseline: libmosquitto used directly on the calling thread, as mosquitto_pub does: queue every
/// message, then run the network loop until every PUBACK has arrived.
enum RawLibmosquittoPublisher {
    final class Progress {
        var acknowledged = 0
        var connected = false
    }

    static func measure(host: String, port: Int, count: Int, payload: [UInt8], inFlight: Int) throws -> Duration {
        let progress = Progress()
        let userdata = Unmanaged.passUnretained(progress).toOpaque()
        guard let mosq = mosquitto_new("bins-bench-raw-\(UUID().uuidString.prefix(8))", true, userdata) else {
            throw ValidationError("mosquitto_new failed: errno \(errno)")
        }
        defer { mosquitto_destroy(mosq) }
        mosquitto_connect_callback_set(mosq, rawOnConnect)
        mosquitto_publish_callback_set(mosq, rawOnPublish)
        _ = mosquitto_int_option(mosq, MOSQ_OPT_SEND_MAXIMUM, Int32(inFlight))
        _ = mosquitto_int_option(mosq, MOSQ_OPT_TCP_NODELAY, 1)
        let rc = mosquitto_connect(mosq, host, Int32(port), 30)
        guard rc == MOSQ_ERR_SUCCESS.rawValue else {
            throw ValidationError(
                "mosquitto_connect \(host):\(port) failed: \(String(cString: mosquitto_strerror(rc)))")
        }
        while !progress.connected {
            let loopRC = mosquitto_loop(mosq, 1000, 1)
            guard loopRC == MOSQ_ERR_SUCCESS.rawValue else {
                throw ValidationError("mosquitto_loop failed: \(String(cString: mosquitto_strerror(loopRC)))")
            }
        }
        let start = ContinuousClock.now
        for _ in 0..<count {
            let publishRC = payload.withUnsafeBytes { bytes in
                mosquitto_publish(
                    mosq, nil, "bins/v1/bench-raw/events", Int32(bytes.count), bytes.baseAddress, 1, false)
            }
            guard publishRC == MOSQ_ERR_SUCCESS.rawValue else {
                throw ValidationError("mosquitto_publish failed: \(String(cString: mosquitto_strerror(publishRC)))")
            }
        }
        while progress.acknowledged < count {
            let loopRC = mosquitto_loop(mosq, 1000, 1)
            guard loopRC == MOSQ_ERR_SUCCESS.rawValue else {
                throw ValidationError("mosquitto_loop failed: \(String(cString: mosquitto_strerror(loopRC)))")
            }
        }
        let elapsed = start.duration(to: .now)
        mosquitto_disconnect(mosq)
        _ = mosquitto_loop(mosq, 100, 1)
        return elapsed
    }
}

private func rawOnConnect(_ mosq: OpaquePointer?, _ userdata: UnsafeMutableRawPointer?, _ rc: Int32) {
    guard let userdata, rc == 0 else { return }
    Unmanaged<RawLibmosquittoPublisher.Progress>.fromOpaque(userdata).takeUnretainedValue().connected = true
}

private func rawOnPublish(_ mosq: OpaquePointer?, _ userdata: UnsafeMutableRawPointer?, _ mid: Int32) {
    guard let userdata else { return }
    Unmanaged<RawLibmosquittoPublisher.Progress>.fromOpaque(userdata).takeUnretainedValue().acknowledged += 1
}
