import BinProtocol
import BinsTestSupport
import Foundation
import Synchronization
import Testing

@testable import BinDaemon

#if canImport(Glibc)
import Glibc
#endif

/// A datagram socket standing in for systemd's notification socket.
final class NotifySocket: Sendable {
    let path: String
    private let fd: Int32
    private let received = Mutex<[String]>([])

    var messages: [String] { received.withLock { $0 } }

    init(path: String) throws {
        self.path = path
        fd = socket(
            AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TestSupportError("socket failed: errno \(errno)") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let abstract = bytes.first == UInt8(ascii: "@")
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = (index == 0 && abstract) ? 0 : byte }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0 else { throw TestSupportError("bind \(path) failed: errno \(errno)") }
    }

    deinit { close(fd) }

    /// Reads every datagram waiting; returns all received so far.
    func drain() -> [String] {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { break }
            let message = String(decoding: buffer[0..<n], as: UTF8.self)
            received.withLock { $0.append(message) }
        }
        return messages
    }

    func wait(timeout: Duration = .seconds(60), for text: String) async throws {
        try await waitUntil(timeout: timeout, "\(text) on the notify socket") { drain().contains { $0.contains(text) } }
    }
}

@Suite(.serialized)
struct DaemonRunTests {
    static func config(
        broker: MosquittoBroker, directory: TemporaryDirectory, heartbeat: Int = 300, dryScaleClock: String = "GPIO9"
    )
        -> String
    {
        """
        device: pt-commands
        board: sim
        state_dir: \(directory.file("state"))
        broker: {url: "mqtt://\(broker.host):\(broker.port)"}
        simulation: {scenario: \(scenarioFile("daemon-commands.yaml")), speed: 50}
        sampling: {state_heartbeat_s: \(heartbeat)}
        outbox: {sync: normal}
        bins:
          - id: wet
            stream: wet
            shape: {kind: box, width_mm: 480, length_mm: 550, depth_mm: 900}
            sensors:
              hx711: {dout: GPIO5, sck: GPIO4}
              ranger: {trigger: GPIO6, echo: GPIO7, mount_mm: 40}
              lid: {pin: GPIO8}
          - id: dry
            stream: dry
            shape: {kind: box, width_mm: 480, length_mm: 550, depth_mm: 900}
            sensors:
              hx711: {dout: GPIO10, sck: \(dryScaleClock)}
              ranger: {trigger: GPIO11, echo: GPIO12, mount_mm: 40}
              lid: {pin: GPIO13}

        """
    }

    @Test("binsd run on the sim board: READY and watchdog through NOTIFY_SOCKET, SIGHUP reload, SIGTERM stop")
    func runOnSimBoard() async throws {
        let directory = try TemporaryDirectory(prefix: "binsd-run")
        let broker = try await MosquittoBroker.start(in: directory)
        let subscriber = try await Subscriber(broker, device: "pt-commands")
        let recorder = subscriber.recorder
        let notify = try NotifySocket(path: directory.file("notify.sock"))
        let configPath = try directory.write("binsd.yaml", Self.config(broker: broker, directory: directory))
        let firstHash = try ConfigLoader.load(path: configPath, options: ConfigLoader.Options(boardSearchPaths: []))
            .configHash
        let run = try Binsd.start(
            ["run", "--config", configPath], in: directory,
            environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "1000000"])

        try await notify.wait(for: "READY=1")
        try await recorder.wait("online status and birth") { $0.statuses.last?.online == true && !$0.births.isEmpty }
        #expect(recorder.births.last?.configHash == firstHash)
        try await recorder.wait("the scenario's deposit") { $0.uniqueEvents.contains { $0.type == .deposit } }
        // WATCHDOG_USEC=1 s: the sampling loop pings every half second.
        try await waitUntil(timeout: .seconds(30), "three watchdog pings") {
            notify.drain().filter { $0.contains("WATCHDOG=1") }.count >= 3
        }

        // SIGHUP with a run-time change: applied, announced in a new birth.
        try directory.write("binsd.yaml", Self.config(broker: broker, directory: directory, heartbeat: 120))
        let secondHash = try ConfigLoader.load(path: configPath, options: ConfigLoader.Options(boardSearchPaths: []))
            .configHash
        #expect(secondHash != firstHash)
        run.process.send(SIGHUP)
        try await recorder.wait("a birth with the reloaded config's hash") { $0.births.last?.configHash == secondHash }

        // SIGHUP with a change that needs new lines: refused with a log line, nothing changes.
        try directory.write(
            "binsd.yaml", Self.config(broker: broker, directory: directory, heartbeat: 120, dryScaleClock: "GPIO20"))
        run.process.send(SIGHUP)
        try await run.process.waitForOutput(containing: "config.reload.needs_restart", timeout: .seconds(30))
        #expect(run.process.output.contains("config.fields=bins[1]"))
        #expect(recorder.births.last?.configHash == secondHash)

        run.process.send(SIGTERM)
        let termination = try await run.process.waitForExit(timeout: .seconds(30))
        #expect(termination == .exited(0), "\(run.outputTail)")
        #expect(notify.drain().contains { $0.contains("STOPPING=1") })
        try await recorder.wait("offline status") { $0.statuses.last?.online == false }
        try await subscriber.stop()
    }

    @Test("binsd run: a second signal during a stop that waits on a frozen broker forces the stop at once")
    func secondSignalForcesTheStop() async throws {
        let directory = try TemporaryDirectory(prefix: "binsd-second-signal")
        let broker = try await MosquittoBroker.start(in: directory)
        let notify = try NotifySocket(path: directory.file("notify.sock"))
        let configPath = try directory.write("binsd.yaml", Self.config(broker: broker, directory: directory))
        let run = try Binsd.start(
            ["run", "--config", configPath], in: directory, environment: ["NOTIFY_SOCKET": notify.path])
        try await notify.wait(for: "READY=1")
        // Frozen, the broker still holds the connection but acknowledges nothing: the graceful stop's last
        // words (outbox drain, offline status) would each wait out their bounds, 3 to 10 s.
        broker.suspend()
        defer { broker.resume() }
        run.process.send(SIGTERM)
        try await run.process.waitForOutput(containing: "daemon.stopping", timeout: .seconds(10))
        run.process.send(SIGINT)
        let termination = try await run.process.waitForExit(timeout: .seconds(10))
        let output = run.process.output
        #expect(termination == .exited(0), "\(run.outputTail)")
        #expect(output.contains("daemon.stop_forced"), "\(run.outputTail)")
        #expect(output.contains("daemon.stopped"), "\(run.outputTail)")
        // The offline status was cut short by the cancellation, not given up after its 3 s bound.
        #expect(!output.contains("no acknowledgement of \(Topics.status("pt-commands"))"), "\(run.outputTail)")
        #expect(notify.drain().contains { $0.contains("STOPPING=1") })
    }

    @Test("binsd run refuses a point whose scales are not calibrated, naming each bin and the fix")
    func runWithoutCalibration() async throws {
        let directory = try TemporaryDirectory(prefix: "binsd-uncalibrated")
        let yaml = replacing("password_file: /etc/binsd/password", with: "username: pt-0001")
            .replacingOccurrences(of: "state_dir: /var/lib/binsd", with: "state_dir: \(directory.file("state"))")
        let configPath = try directory.write("binsd.yaml", yaml)
        // The raspberry-pi board's chips do not exist here, so the run fails before calibration would be
        // checked unless the check comes first: it must, so an installer sees what is missing.
        let run = try Binsd.start(
            ["run", "--config", configPath, "--boards", "\(TestExecutables.repositoryRoot)/boards"], in: directory)
        let termination = try await run.process.waitForExit(timeout: .seconds(30))
        #expect(termination == .exited(1))
        let output = run.process.output
        #expect(output.contains("scale of bin \"wet\" is not calibrated"), "\(output)")
        #expect(output.contains("binsd calibrate --config \(configPath) --bin dry --tare"), "\(output)")
    }
}
