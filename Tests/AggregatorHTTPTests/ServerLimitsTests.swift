import Aggregator
import AggregatorHTTP
import BinsTestSupport
import Foundation
import Logging
import Prometheus
import ServiceLifecycle
import Synchronization
import Testing

/// The HTTP server on a real socket against clients that do not play along: an oversized request, one
/// that never finishes, idle connections, more connections than allowed. Part of the standing security
/// suite (docs/testing.md).
@Suite("HTTP server limits on a real socket", .serialized)
struct ServerLimitsTests {
    /// Runs the server from `bins-aggregator serve` (its broker connection never started) until `body` returns.
    static func withServer(http: String, _ body: (Int) async throws -> Void) async throws {
        let directory = try TemporaryDirectory(prefix: "http-limits")
        let yaml = APITests.yaml(directory: directory.path).replacingOccurrences(
            of: "  listen: 127.0.0.1:0\n", with: "  listen: 127.0.0.1:0\n\(http)")
        let configuration = try AggregatorConfiguration.parse(yaml: yaml, source: "aggregator.yaml")
        let store = try await AggregatorRuntime.openStore(configuration.storage, logger: APITests.logger)
        let prometheus = PrometheusCollectorRegistry()
        let runtime = try AggregatorRuntime(
            configuration: configuration, store: store, metricsFactory: PrometheusMetricsFactory(registry: prometheus),
            logger: APITests.logger)
        let (ports, portSink) = AsyncStream.makeStream(of: Int.self)
        let application = AggregatorServer.httpApplication(
            runtime: runtime, prometheus: prometheus, logger: APITests.logger
        ) { port in
            portSink.yield(port)
        }
        let group = ServiceGroup(services: [application], gracefulShutdownSignals: [], logger: APITests.logger)
        let running = Task { try await group.run() }
        do {
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next())
            try await body(port)
        } catch {
            await group.triggerGracefulShutdown()
            _ = try? await running.value
            await store.close()
            throw error
        }
        await group.triggerGracefulShutdown()
        try await running.value
        await store.close()
    }

    @Test("an 8 MB request line gets 400 and the connection is closed, not left half-open")
    func oversizedRequestClosed() async throws {
        try await Self.withServer(http: "") { port in
            let connection = try RawConnection(port: port)
            try await connection.send(
                "GET /" + String(repeating: "a", count: 8 * 1024 * 1024) + " HTTP/1.1\r\nHost: x\r\n\r\n")
            let answer = try await connection.readUntilClosed(timeout: .seconds(30))
            #expect(answer.hasPrefix("HTTP/1.1 400"), "\(answer.prefix(100))")
            // The end of the stream only says the server closed its sending side (Hummingbird's half-close,
            // which alone would leave the socket open as long as the client pleases). A server that has
            // closed the socket answers anything more with a reset.
            try await waitUntil(timeout: .seconds(10), "the server to reset a connection it has closed") {
                connection.probeReset()
            }
        }
    }

    @Test("idle and trickling connections are closed after request_timeout_s, a healthy request on another is served")
    func slowClientsClosed() async throws {
        try await Self.withServer(http: "  request_timeout_s: 1\n") { port in
            let idle = try RawConnection(port: port)
            let trickle = try RawConnection(port: port)
            let head = Array("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ".utf8)
            // One byte every 100 ms (the slow client's pace) keeps an idle timer alive forever; the request
            // deadline still ends it. The bound is loose (the suite runs beside CPU-heavy tests on two
            // cores): a server without the deadline keeps the connection for all 60 s of trickling.
            var sent = 0
            let started = ContinuousClock.now
            while !trickle.isClosed() && sent < 600 {
                try await trickle.send(String(UnicodeScalar(head[min(sent, head.count - 1)])))
                sent += 1
                try await Task.sleep(for: .milliseconds(100))
            }
            let took = started.duration(to: .now)
            #expect(trickle.closedByServer, "the trickling client was disconnected (after \(sent) bytes)")
            #expect(took < .seconds(30), "it took \(sent) bytes and \(took)")
            _ = try await idle.readUntilClosed(timeout: .seconds(10))
            #expect(idle.closedByServer, "the idle connection was closed")
            let healthy = try RawConnection(port: port)
            try await healthy.send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            #expect(try await healthy.readUntilClosed(timeout: .seconds(10)).hasPrefix("HTTP/1.1 200"))
        }
    }

    @Test("beyond max_connections a client waits until a slot is free, then is served")
    func connectionLimit() async throws {
        try await Self.withServer(http: "  max_connections: 2\n  request_timeout_s: 60\n") { port in
            let first = try RawConnection(port: port)
            let second = try RawConnection(port: port)
            // Both slots taken: make sure the server has accepted them by having each answer a request.
            for connection in [first, second] {
                try await connection.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                #expect(try await connection.readResponseHead(timeout: .seconds(10)).hasPrefix("HTTP/1.1 200"))
            }
            let third = try RawConnection(port: port)
            try await third.send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            // A negative can only be watched for a while: half a second of silence while both slots are held.
            try await Task.sleep(for: .milliseconds(500))
            #expect(!third.hasData(), "served although both slots were taken")
            first.close()
            #expect(
                try await third.readUntilClosed(timeout: .seconds(10)).hasPrefix("HTTP/1.1 200"),
                "served once a slot was free")
            second.close()
        }
    }
}

/// A plain TCP client, byte by byte, for what an HTTP library would not send.
final class RawConnection: @unchecked Sendable {
    let descriptor: Int32
    private(set) var closedByServer = false

    init(port: Int) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw TestSupportError("socket failed: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { throw TestSupportError("connect to 127.0.0.1:\(port) failed: errno \(errno)") }
    }

    deinit { _ = Glibc.close(descriptor) }

    /// Ends the connection from this side (the descriptor is released when the object goes).
    func close() {
        _ = Glibc.shutdown(descriptor, Int32(SHUT_RDWR))
    }

    /// Sends all of `text` without blocking a thread: while the server's buffers are full it waits its turn.
    func send(_ text: String) async throws {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes {
                Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
            }
            if written < 0 {
                switch errno {
                case EINTR: continue
                case EAGAIN: try await Task.sleep(for: .milliseconds(1))
                case EPIPE, ECONNRESET:
                    closedByServer = true
                    return
                default: throw TestSupportError("send failed: errno \(errno)")
                }
                continue
            }
            bytes = bytes.dropFirst(written)
        }
    }

    /// Sends a byte and reports whether the server answered with a reset (its socket is closed, not just
    /// half-closed).
    func probeReset() -> Bool {
        var byte = UInt8(ascii: "x")
        if Glibc.send(descriptor, &byte, 1, Int32(MSG_NOSIGNAL)) < 0 { return errno == EPIPE || errno == ECONNRESET }
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = recv(descriptor, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if count > 0 { continue }
            return count < 0 && errno == ECONNRESET
        }
    }

    /// Whether bytes (or the end of the stream) can be read now. Never blocks: the tests run on Swift's
    /// cooperative threads, which the server under test needs too.
    func hasData() -> Bool {
        var descriptorSet = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        return poll(&descriptorSet, 1, 0) > 0
    }

    /// Whether the server has closed the connection (checked now, without waiting).
    func isClosed() -> Bool {
        guard hasData() else { return false }
        var byte: UInt8 = 0
        let count = recv(descriptor, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
        if count <= 0 { closedByServer = true }
        return count <= 0
    }

    /// Reads what is there now; nil at the end of the stream.
    private func readAvailable(into received: inout [UInt8]) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while hasData() {
            let count = recv(descriptor, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if count <= 0 {
                if count < 0 && (errno == EAGAIN || errno == EINTR) { return true }
                closedByServer = true
                return false
            }
            received += buffer[0..<count]
        }
        return true
    }

    /// Everything the server sends until it closes the connection; fails after `timeout`.
    func readUntilClosed(timeout: Duration) async throws -> String {
        var received: [UInt8] = []
        try await waitUntil(timeout: timeout, "the server to close the connection") { !readAvailable(into: &received) }
        return String(decoding: received, as: UTF8.self)
    }

    /// The response's status line and headers.
    func readResponseHead(timeout: Duration) async throws -> String {
        var received: [UInt8] = []
        try await waitUntil(timeout: timeout, "a response head") {
            _ = readAvailable(into: &received)
            return String(decoding: received, as: UTF8.self).contains("\r\n\r\n")
        }
        return String(decoding: received, as: UTF8.self)
    }
}
