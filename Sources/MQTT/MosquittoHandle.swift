#if canImport(Glibc)
import Glibc
#endif
internal import CBinsMosquitto

/// libmosquitto's process-wide initialisation, done once (a Swift `static let` runs its initialiser
/// exactly once, thread-safely) before the first handle is created. Never cleaned up: the library stays
/// usable for the life of the process.
enum MosquittoLibrary {
    private static let initResult: Int32 = mosquitto_lib_init()

    static func ensureInitialised() -> Int32 { initResult }
}

/// Owns one `struct mosquitto *`. libmosquitto is used in its "threaded" mode
/// (`mosquitto_threaded_set(true)`): one network thread runs `mosquitto_loop` and is the only writer to
/// the socket, while publish/subscribe/disconnect may be called from any thread because libmosquitto
/// guards its queues with its own mutexes. That is what makes sharing the pointer across threads sound.
final class MosquittoHandle: @unchecked Sendable {
    let pointer: OpaquePointer

    init(clientID: String, cleanSession: Bool, broker: String) throws(MQTTError) {
        let initRC = MosquittoLibrary.ensureInitialised()
        guard initRC == MOSQ_ERR_SUCCESS.rawValue else {
            throw MQTTError.library(.resources, broker: broker, function: "mosquitto_lib_init", rc: initRC)
        }
        Glibc.errno = 0
        guard let pointer = mosquitto_new(clientID.isEmpty ? nil : clientID, cleanSession, nil) else {
            let savedErrno = Glibc.errno
            throw MQTTError(
                savedErrno == EINVAL ? .invalidConfiguration : .resources, broker: broker, function: "mosquitto_new",
                errno: savedErrno,
                detail: savedErrno == EINVAL ? "a persistent session (clean session off) needs a client id" : nil)
        }
        self.pointer = pointer
    }

    deinit {
        mosquitto_destroy(pointer)
    }
}

/// An eventfd the network thread sleeps on between connection attempts, so a shutdown does not wait out
/// the backoff delay.
final class WakeupEvent: Sendable {
    private let fileDescriptor: Int32

    init() throws(MQTTError) {
        let fd = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        guard fd >= 0 else {
            throw MQTTError(.resources, broker: "-", function: "eventfd", errno: Glibc.errno)
        }
        fileDescriptor = fd
    }

    deinit {
        close(fileDescriptor)
    }

    /// For `poll` alongside the broker's socket.
    var descriptor: Int32 { fileDescriptor }

    /// Clears a pending signal without waiting.
    func consume() {
        var value: UInt64 = 0
        _ = withUnsafeMutableBytes(of: &value) { read(fileDescriptor, $0.baseAddress, 8) }
    }

    func signal() {
        var one: UInt64 = 1
        _ = withUnsafeBytes(of: &one) { write(fileDescriptor, $0.baseAddress, 8) }
    }

    /// Sleeps until `signal()` or the timeout, then consumes any pending signal.
    func wait(timeout: Duration) {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while true {
            let remaining = ContinuousClock.now.duration(to: deadline)
            if remaining <= .zero { break }
            var descriptor = pollfd(fd: fileDescriptor, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, max(1, remaining.clampedMilliseconds))
            if ready > 0 { break }
            if ready < 0 && Glibc.errno != EINTR { break }
        }
        var value: UInt64 = 0
        _ = withUnsafeMutableBytes(of: &value) { read(fileDescriptor, $0.baseAddress, 8) }
    }
}

/// Starts a detached POSIX thread for blocking work that must stay off Swift's cooperative pool.
/// Returns 0 or the error number from `pthread_create`.
package func startDedicatedThread(name: String, _ body: @escaping @Sendable () -> Void) -> Int32 {
    final class Context {
        let name: String
        let body: @Sendable () -> Void
        init(name: String, body: @escaping @Sendable () -> Void) {
            self.name = name
            self.body = body
        }
    }
    let context = Unmanaged.passRetained(Context(name: name, body: body))
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    defer { pthread_attr_destroy(&attributes) }
    pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
    var thread = pthread_t()
    let rc = pthread_create(
        &thread, &attributes,
        { raw in
            guard let raw else { return nil }
            let context = Unmanaged<Context>.fromOpaque(raw).takeRetainedValue()
            // Linux limits thread names to 15 bytes.
            _ = bins_mqtt_set_thread_name(context.name)
            context.body()
            return nil
        }, context.toOpaque())
    if rc != 0 { context.release() }
    return rc
}
