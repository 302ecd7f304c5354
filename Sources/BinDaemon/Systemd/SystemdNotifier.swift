import Synchronization
import SystemCalls

#if canImport(Glibc)
import Glibc
#endif

/// sd_notify without libsystemd: one datagram per notification to the socket systemd names in
/// `NOTIFY_SOCKET` (a path, or `@name` for the abstract namespace). Without that variable (not started by
/// systemd, or `Type=simple`) every call is a no-op. The socket is owned by this object and closed with it.
public final class SystemdNotifier: Sendable {
    private let fd: Int32
    private let address: [UInt8]
    /// Half of `WATCHDOG_USEC` (systemd's advice: ping at least twice per interval), if the watchdog is on
    /// for this process.
    public let watchdogPingIntervalNanoseconds: UInt64?

    init?(socketPath: String, watchdogUsec: String?, watchdogPID: String?) {
        guard !socketPath.isEmpty, socketPath.utf8.count < 108 else { return nil }
        var path = Array(socketPath.utf8)
        if path.first == UInt8(ascii: "@") { path[0] = 0 }  // abstract namespace
        address = path
        guard
            let socket = try? systemCall({
                socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            })
        else { return nil }
        fd = socket
        if let usecText = watchdogUsec, let usec = UInt64(usecText), usec > 0,
            watchdogPID.map({ Int32($0) == getpid() }) ?? true
        {
            watchdogPingIntervalNanoseconds = usec * 1_000 / 2
        } else {
            watchdogPingIntervalNanoseconds = nil
        }
    }

    deinit {
        close(fd)
    }

    /// The notifier for this process, if systemd asked for notifications.
    public static func fromEnvironment() -> SystemdNotifier? {
        guard let socketPath = environment("NOTIFY_SOCKET") else { return nil }
        return SystemdNotifier(
            socketPath: socketPath, watchdogUsec: environment("WATCHDOG_USEC"), watchdogPID: environment("WATCHDOG_PID")
        )
    }

    /// Sends `READY=1`, `STATUS=...`, `WATCHDOG=1`, `STOPPING=1` (several separated by newlines). Returns
    /// false if the datagram could not be sent; systemd then acts on the missing message (a start timeout,
    /// a watchdog restart), so there is nothing more to do here.
    @discardableResult
    public func notify(_ message: String) -> Bool {
        var storage = sockaddr_un()
        storage.sun_family = sa_family_t(AF_UNIX)
        let length = address.count
        withUnsafeMutableBytes(of: &storage.sun_path) { raw in
            for (index, byte) in address.enumerated() { raw[index] = byte }
        }
        let addressLength = socklen_t(MemoryLayout<sa_family_t>.size + length)
        let bytes = Array(message.utf8)
        let sent = try? systemCall {
            withUnsafePointer(to: &storage) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                    bytes.withUnsafeBytes { buffer in
                        sendto(fd, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL), socketAddress, addressLength)
                    }
                }
            }
        }
        return sent == bytes.count
    }

    private static func environment(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        return String(cString: value)
    }
}

/// Feeds the systemd watchdog from the loop that would stall: the sampling thread calls `feedIfDue()` on
/// every turn, so a thread stuck in a sensor read or a lost wakeup stops the pings and systemd restarts the
/// service after `WatchdogSec=`.
public final class WatchdogFeeder: Sendable {
    public let notifier: SystemdNotifier
    public let intervalNanoseconds: UInt64
    private let lastFed = Atomic<UInt64>(0)

    public init?(notifier: SystemdNotifier?) {
        guard let notifier, let interval = notifier.watchdogPingIntervalNanoseconds else { return nil }
        self.notifier = notifier
        self.intervalNanoseconds = interval
    }

    /// Real (monotonic) nanoseconds until the next ping is due.
    public func nanosecondsUntilDue() -> UInt64 {
        let due = lastFed.load(ordering: .relaxed) &+ intervalNanoseconds
        let now = Self.now()
        return due > now ? due - now : 0
    }

    public func feedIfDue() {
        let now = Self.now()
        guard now >= lastFed.load(ordering: .relaxed) &+ intervalNanoseconds else { return }
        lastFed.store(now, ordering: .relaxed)
        notifier.notify("WATCHDOG=1")
    }

    static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}
