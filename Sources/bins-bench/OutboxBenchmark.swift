import ArgumentParser
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
        let scratch = try BenchScratchDirectory()
        let started: LocalBroker?
        let (host, port): (String, Int)
        if let broker {
            let parts = broker.split(separator: ":")
            guard parts.count == 2, let parsedPort = Int(parts[1]) else {
                throw ValidationError("--broker must be host:port, got \(broker)")
            }
            (host, port, started) = (String(parts[0]), parsedPort, nil)
        } else {
            let local = try await LocalBroker.start(in: scratch.path)
            (host, port, started) = ("127.0.0.1", local.port, local)
        }
        defer { started?.stop() }

        let payload = [UInt8](repeating: UInt8(ascii: "x"), count: payloadBytes)
        // The outbox runs go first: their MQTTClient performs libmosquitto's one-time initialisation,
        // which the raw baseline then relies on.
        var outboxRuns: [(String, Duration)] = []
        for (name, policy) in [
            ("outbox, sync every write (fsync/event)", OutboxSyncPolicy.everyWrite),
            ("outbox, sync batched (200 ms)", OutboxSyncPolicy.batched(interval: .milliseconds(200))),
        ] {
            let elapsed = try await measureOutbox(
                host: host, port: port, payload: payload, policy: policy, path: "\(scratch.path)/outbox-\(UUID()).sqlite")
            outboxRuns.append((name, elapsed))
        }
        let raw = try RawLibmosquittoPublisher.measure(
            host: host, port: port, count: count, payload: payload, inFlight: inFlight)
        print("QoS 1 publish throughput: \(count) messages of \(payloadBytes) bytes, \(inFlight) in flight, broker \(host):\(port)")
        print("  (ratio = raw time / this time; 1.00 = as fast as publishing without a disk)")
        report("raw libmosquitto (like mosquitto_pub)", raw, baseline: raw)
        for (name, elapsed) in outboxRuns { report(name, elapsed, baseline: raw) }
    }

    private func report(_ name: String, _ elapsed: Duration, baseline: Duration) {
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let baselineSeconds = Double(baseline.components.seconds) + Double(baseline.components.attoseconds) / 1e18
        let rate = Double(count) / seconds
        let ratio = baselineSeconds / seconds
        let padded = name.padding(toLength: 42, withPad: " ", startingAt: 0)
        print("  \(padded) \(String(format: "%9.0f", rate)) msg/s   \(String(format: "%7.3f", seconds)) s   ratio \(String(format: "%.2f", ratio))")
    }

    /// Records `count` events and waits until the publisher has every PUBACK and the outbox is empty.
    private func measureOutbox(
        host: String, port: Int, payload: [UInt8], policy: OutboxSyncPolicy, path: String
    ) async throws -> Duration {
        let logger = Logger(label: "bins-bench.outbox", factory: { _ in SwiftLogNoOpLogHandler() })
        let outbox = try Outbox(path: path, capacity: count + 1, syncPolicy: policy, logger: logger)
        let client = try MQTTClient(
            configuration: MQTTConfiguration(
                host: host, port: port, clientID: "bins-bench-outbox-\(UUID().uuidString.prefix(8))",
                maxInflightMessages: inFlight),
            logger: logger)
        let publisher = OutboxPublisher(
            outbox: outbox, client: client, maxInFlight: inFlight, logger: logger, markHistorical: { $0 })
        let clientTask = Task { try await client.run() }
        let publisherTask = Task { try await publisher.run() }
        defer {
            publisherTask.cancel()
            clientTask.cancel()
        }
        try await client.waitUntilConnected(timeout: .seconds(20))
        let start = ContinuousClock.now
        for _ in 0..<count {
            try outbox.append(topic: "bins/v1/bench/events", qos: .atLeastOnce) { _ in payload }
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
            throw ValidationError("mosquitto_connect \(host):\(port) failed: \(String(cString: mosquitto_strerror(rc)))")
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
                mosquitto_publish(mosq, nil, "bins/v1/bench-raw/events", Int32(bytes.count), bytes.baseAddress, 1, false)
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

/// A temporary directory for the benchmark's broker and outbox files, removed afterwards.
final class BenchScratchDirectory {
    let path: String

    init() throws {
        path = "\(NSTemporaryDirectory())/bins-bench-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// A mosquitto on a free loopback port, started for one benchmark run.
final class LocalBroker {
    let port: Int
    let process: Process

    private init(port: Int, process: Process) {
        self.port = port
        self.process = process
    }

    static func start(in directory: String) async throws -> LocalBroker {
        let port = try freeLoopbackPort()
        var lines = [
            "listener \(port) 127.0.0.1", "allow_anonymous true", "persistence false", "max_queued_messages 2000000",
            "max_inflight_messages 100", "log_dest none",
        ]
        if geteuid() == 0 { lines.append("user root") }
        let config = "\(directory)/mosquitto.conf"
        try (lines.joined(separator: "\n") + "\n").write(toFile: config, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/mosquitto")
        process.arguments = ["-c", config]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw ValidationError("cannot start /usr/sbin/mosquitto (apt-get install mosquitto): \(error)")
        }
        let broker = LocalBroker(port: port, process: process)
        let deadline = ContinuousClock.now.advanced(by: .seconds(10))
        while !portAccepts(port) {
            guard process.isRunning, ContinuousClock.now < deadline else {
                broker.stop()
                throw ValidationError("mosquitto did not listen on 127.0.0.1:\(port)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        return broker
    }

    /// SIGKILL: a benchmark broker has nothing to save, and a SIGTERM could be blocked in the mask the
    /// child inherited from a Swift concurrency thread.
    func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    private static func freeLoopbackPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ValidationError("socket() failed: errno \(errno)") }
        defer { close(fd) }
        var address = loopback(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard ok else { throw ValidationError("cannot pick a free loopback port: errno \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    private static func portAccepts(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = loopback(port: port)
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        return address
    }
}
