import Foundation

/// A mosquitto started for the benchmark on a free loopback port, configured as the project ships it for
/// the aggregator's side (persistent sessions, queues sized for hours, not the 1000-message default),
/// without persistence to disk so the broker's own fsyncs do not enter the figures. Killed on `stop()`.
final class BenchBroker {
    let host = "127.0.0.1"
    let port: Int
    private let process: Process
    private let directory: String

    init() throws {
        directory = NSTemporaryDirectory() + "bins-ingest-bench-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        port = try Self.freePort()
        var lines = [
            "per_listener_settings false",
            "allow_anonymous true",
            "listener \(port) 127.0.0.1",
            "persistence false",
            "max_queued_messages 0",
            "max_queued_bytes 0",
            "max_inflight_messages 100",
            "set_tcp_nodelay true",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
        ]
        if geteuid() == 0 { lines.append("user root") }
        let config = directory + "/mosquitto.conf"
        try lines.joined(separator: "\n").appending("\n").write(toFile: config, atomically: true, encoding: .utf8)
        process = Process()
        process.executableURL = URL(
            fileURLWithPath: ["/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"].first { FileManager.default.isExecutableFile(atPath: $0) }
                ?? "/usr/sbin/mosquitto")
        process.arguments = ["-c", config]
        process.standardOutput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw BenchError("cannot start mosquitto (install the mosquitto package): \(error.localizedDescription)")
        }
        let deadline = Date().addingTimeInterval(15)
        while !Self.accepts(port) {
            guard process.isRunning else { throw BenchError("mosquitto -c \(config) exited with status \(process.terminationStatus)") }
            guard Date() < deadline else { throw BenchError("mosquitto did not listen on 127.0.0.1:\(port) within 15 s") }
            Thread.sleep(forTimeInterval: 0.02)
        }
    }

    func stop() {
        if process.isRunning {
            // SIGKILL: the broker holds nothing worth saving (persistence is off), and Foundation may start
            // children with SIGTERM blocked.
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw BenchError("socket() failed: errno \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard ok else { throw BenchError("bind/getsockname on 127.0.0.1 failed: errno \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    static func accepts(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
