import Foundation
import Synchronization

/// A TCP port on 127.0.0.1 that was free a moment ago, below the kernel's ephemeral range: a port the
/// kernel picked for port 0 is one it may hand to the next outgoing connection's source port too (tests
/// make many), and the server started on it then finds it in use. Ports are handed out once per process.
public func freeLoopbackPort() throws -> Int {
    let ephemeralStart =
        readProcFile("/proc/sys/net/ipv4/ip_local_port_range")
        .flatMap { $0.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).first }
        .flatMap { Int($0) } ?? 32768
    let range = 10_000..<max(10_001, min(ephemeralStart, 32768))
    for _ in 0..<200 {
        let port = Int.random(in: range)
        guard handedOutPorts.withLock({ $0.insert(port).inserted }) else { continue }
        if try loopbackPortBindable(port) { return port }
    }
    throw TestSupportError("no free loopback port found in \(range.lowerBound)-\(range.upperBound - 1) after 200 tries")
}

private let handedOutPorts = Mutex<Set<Int>>([])

/// Whether a listening socket could bind 127.0.0.1:`port` now (it is closed again at once).
private func loopbackPortBindable(_ port: Int) throws -> Bool {
    let socketFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard socketFD >= 0 else { throw TestSupportError("socket() failed: errno \(errno)") }
    defer { close(socketFD) }
    var address = loopbackAddress(port: port)
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(socketFD, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    return bound == 0
}

/// Whether something accepts TCP connections on 127.0.0.1:`port` right now.
public func loopbackPortAccepts(_ port: Int) -> Bool {
    let socketFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard socketFD >= 0 else { return false }
    defer { close(socketFD) }
    var address = loopbackAddress(port: port)
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(socketFD, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    return connected == 0
}

private func loopbackAddress(port: Int) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
    return address
}

/// Bytes sent to the server listening on 127.0.0.1:`port` over established connections that it has not
/// read yet: what waits in its receive queues plus what still waits in the clients' send queues (from
/// /proc/net/tcp). Shows that a message reached a suspended (SIGSTOPped) broker, which cannot say so itself.
public func loopbackUnreadBytes(toPort port: Int) -> Int {
    loopbackConnections(port: port).reduce(0) { total, connection in
        total + (connection.serverSide ? connection.receiveQueue : connection.sendQueue)
    }
}

/// The established TCP connections to 127.0.0.1:`port`, both ends, as /proc/net/tcp lists them.
public func loopbackConnections(port: Int) -> [(serverSide: Bool, sendQueue: Int, receiveQueue: Int)] {
    guard let table = readProcFile("/proc/net/tcp") else { return [] }
    var connections: [(serverSide: Bool, sendQueue: Int, receiveQueue: Int)] = []
    // The kernel lists the table a page per read, resuming by position: sockets opened or closed meanwhile
    // can make an entry appear twice. Each end is listed once here, by its address pair.
    var seen = Set<String>()
    // Columns: sl, local_address (HEXIP:HEXPORT), rem_address, st (01 = established), tx_queue:rx_queue, ...
    for line in table.split(separator: "\n").dropFirst() {
        let fields = line.split(separator: " ")
        guard fields.count > 4, fields[3] == "01", seen.insert("\(fields[1])-\(fields[2])").inserted else { continue }
        let localPort = fields[1].split(separator: ":").last.flatMap { Int($0, radix: 16) }
        let remotePort = fields[2].split(separator: ":").last.flatMap { Int($0, radix: 16) }
        guard localPort == port || remotePort == port else { continue }
        let queues = fields[4].split(separator: ":").compactMap { Int($0, radix: 16) }
        guard queues.count == 2 else { continue }
        connections.append((serverSide: localPort == port, sendQueue: queues[0], receiveQueue: queues[1]))
    }
    return connections
}

/// The whole text of a /proc file. They report a size of 0 and hand out one page per `read`, so
/// `String(contentsOfFile:)` stops after the first 4 KiB (27 lines of /proc/net/tcp); this reads to the end.
func readProcFile(_ path: String) -> String? {
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { return nil }
    defer { close(descriptor) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        if count < 0 && errno == EINTR { continue }
        guard count > 0 else { return count == 0 ? String(decoding: bytes, as: UTF8.self) : nil }
        bytes += buffer[0..<count]
    }
}
