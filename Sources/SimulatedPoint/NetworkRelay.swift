import BinDaemon
import Foundation
import Lifecycle
import Logging
import MQTT
import Synchronization
import SystemCalls

#if canImport(Glibc)
import Glibc
#endif

/// A TCP relay on a loopback port in front of the real broker: the simulated point's MQTT client connects
/// here, so `binsd simulate` can take the point's network away without touching the MQTT client.
///
/// `cut()` shuts every relayed connection down in both directions at once (the broker sees the TCP
/// connection end without an MQTT DISCONNECT and publishes the will; the client sees its link drop) and
/// makes new connections be closed as soon as they are accepted, until `restore()`. One thread moves the
/// bytes with `poll()`; the descriptors belong to it and are closed by it.
public final class NetworkRelay: Sendable {
    public let port: Int
    public let upstream: String
    private let listener: Int32
    private let wake: EventFD
    private let state = Mutex(RelayState())
    private let finished = OneShot<Void>()
    private let logger: Logger

    private struct RelayState: Sendable {
        var down = false
        var closing = false
        /// Client descriptor -> broker descriptor, and back.
        var peers: [Int32: Int32] = [:]
        var connections = 0
        var refused = 0
    }

    /// Listens on 127.0.0.1 (an ephemeral port) and relays to `host:port`.
    public init(upstreamHost host: String, upstreamPort: Int, logger: Logger) throws(BinDaemonError) {
        upstream = BrokerURL.endpoint(host: host, port: upstreamPort)
        self.logger = logger
        do {
            wake = try EventFD()
        } catch {
            throw Self.failure("eventfd", "127.0.0.1", error)
        }
        let fd: Int32
        do {
            fd = try systemCall { socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        } catch {
            throw Self.failure("socket", "127.0.0.1", error)
        }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        do {
            _ = try systemCall {
                withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                    }
                }
            }
            _ = try systemCall { listen(fd, 16) }
        } catch {
            Glibc.close(fd)
            throw Self.failure("bind/listen", "127.0.0.1", error)
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        port = Int(UInt16(bigEndian: actual.sin_port))
        listener = fd
        let (host, upstreamPort) = (host, upstreamPort)
        do {
            try DedicatedThread.start(name: "binsd-relay") { [self] in
                pump(upstreamHost: host, upstreamPort: upstreamPort)
                finished.fulfil(())
            }
        } catch {
            throw Self.failure("pthread_create", "127.0.0.1", error)
        }
    }

    deinit {
        Glibc.close(listener)
    }

    /// Connections relayed so far, and connection attempts refused during outages.
    public var statistics: (connections: Int, refused: Int) { state.withLock { ($0.connections, $0.refused) } }

    public var isDown: Bool { state.withLock { $0.down } }

    /// Drops every live connection at once and refuses new ones.
    public func cut() {
        state.withLock { state in
            state.down = true
            for fd in state.peers.keys { shutdown(fd, Int32(SHUT_RDWR)) }
        }
        signal()
    }

    public func restore() {
        state.withLock { $0.down = false }
        signal()
    }

    /// Stops relaying, closes everything, and returns when the relay thread has ended.
    public func stop() async {
        state.withLock { $0.closing = true }
        signal()
        await finished.wait()
    }

    private func signal() { wake.signal() }

    // MARK: The relay thread

    private func pump(upstreamHost: String, upstreamPort: Int) {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let (closing, peers) = state.withLock { ($0.closing, $0.peers) }
            if closing { break }
            var descriptors = [
                pollfd(fd: listener, events: Int16(POLLIN), revents: 0),
                pollfd(fd: wake.fileDescriptor, events: Int16(POLLIN), revents: 0),
            ]
            descriptors += peers.keys.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            do {
                _ = try systemCall { poll(&descriptors, nfds_t(descriptors.count), 1_000) }
            } catch {
                logger.error("relay.poll_failed", metadata: ["relay.errno": "\(error.rawValue)"])
                break
            }
            if descriptors[1].revents != 0 { wake.drain() }
            for entry in descriptors.dropFirst(2) where entry.revents != 0 {
                // Not from the snapshot: an earlier entry of this round may have dropped the connection.
                guard let peer = state.withLock({ $0.peers[entry.fd] }) else { continue }
                let n =
                    (try? systemCall { buffer.withUnsafeMutableBytes { read(entry.fd, $0.baseAddress, $0.count) } })
                    ?? -1
                if n <= 0 {
                    drop(entry.fd)
                } else if !writeAll(peer, buffer, count: n) {
                    // The peer has gone. What it sent before it went is still queued on this side: forward that
                    // first, as the network would have, so that a client's DISCONNECT reaches the broker before
                    // the connection ends (else the broker publishes the client's will after its clean stop).
                    forwardQueued(from: peer, to: entry.fd, buffer: &buffer)
                    drop(entry.fd)
                }
            }
            if descriptors[0].revents != 0 { accept(upstreamHost: upstreamHost, upstreamPort: upstreamPort) }
        }
        // Stopping right after the client closed must not lose its last bytes (its DISCONNECT): what either
        // side has queued goes through before the connections close.
        let remaining = state.withLock { $0.peers }
        for (fd, peer) in remaining { forwardQueued(from: fd, to: peer, buffer: &buffer) }
        state.withLock { state in
            for fd in state.peers.keys { Glibc.close(fd) }
            state.peers = [:]
        }
    }

    private func accept(upstreamHost: String, upstreamPort: Int) {
        guard let client = try? systemCall({ Glibc.accept(listener, nil, nil) }) else { return }
        _ = fcntl(client, F_SETFD, FD_CLOEXEC)
        let down = state.withLock { state -> Bool in
            if state.down { state.refused += 1 }
            return state.down
        }
        if down {
            Glibc.close(client)
            return
        }
        let broker: Int32
        switch Self.dial(host: upstreamHost, port: upstreamPort) {
        case .success(let connected):
            broker = connected
        case .failure(let problem):
            logger.warning(
                "relay.upstream_unreachable",
                metadata: ["mqtt.broker": "\(upstream)", "relay.problem": "\(problem.text)"])
            Glibc.close(client)
            return
        }
        var one: Int32 = 1
        setsockopt(client, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        setsockopt(broker, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        state.withLock { state in
            state.peers[client] = broker
            state.peers[broker] = client
            state.connections += 1
        }
    }

    /// Closes a connection's two descriptors.
    private func drop(_ fd: Int32) {
        let peer = state.withLock { state -> Int32? in
            guard let peer = state.peers.removeValue(forKey: fd) else { return nil }
            state.peers.removeValue(forKey: peer)
            return peer
        }
        Glibc.close(fd)
        if let peer { Glibc.close(peer) }
    }

    /// Moves what `source` has queued to `destination` without waiting for more.
    private func forwardQueued(from source: Int32, to destination: Int32, buffer: inout [UInt8]) {
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(source, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            guard n > 0, writeAll(destination, buffer, count: n) else { return }
        }
    }

    private func writeAll(_ fd: Int32, _ buffer: [UInt8], count: Int) -> Bool {
        var offset = 0
        while offset < count {
            guard
                let n = try? systemCall({
                    buffer[offset..<count].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                })
            else { return false }
            offset += n
        }
        return true
    }

    /// Whether `host:port` accepts a TCP connection now; the error names it and why not (errno).
    public static func probe(host: String, port: Int) throws(BinDaemonError) {
        let endpoint = BrokerURL.endpoint(host: host, port: port)
        switch dial(host: host, port: port) {
        case .success(let fd): Glibc.close(fd)
        case .failure(let problem): throw BinDaemonError(.broker, "broker \(endpoint): \(problem.text)")
        }
    }

    struct ConnectProblem: Error {
        var text: String
    }

    static func dial(host: String, port: Int) -> Result<Int32, ConnectProblem> {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        let resolved = getaddrinfo(host, "\(port)", &hints, &result)
        guard resolved == 0, let first = result else {
            return .failure(ConnectProblem(text: "getaddrinfo failed: \(String(cString: gai_strerror(resolved)))"))
        }
        defer { freeaddrinfo(result) }
        var problem = ConnectProblem(text: "no address")
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let info = entry {
            if let fd = try? systemCall({
                socket(
                    info.pointee.ai_family, info.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue),
                    info.pointee.ai_protocol)
            }) {
                do {
                    _ = try systemCall { Glibc.connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) }
                    return .success(fd)
                } catch {
                    problem = ConnectProblem(text: "connect failed: \(error)")
                    Glibc.close(fd)
                }
            }
            entry = info.pointee.ai_next
        }
        return .failure(problem)
    }

    private static func failure(_ function: String, _ address: String, _ error: Errno) -> BinDaemonError {
        BinDaemonError(.simulation, "relay \(address): \(function) failed: \(error)", cause: error)
    }
}
