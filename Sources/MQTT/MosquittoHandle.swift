internal import CBinsMosquitto
import SystemCalls

#if canImport(Glibc)
import Glibc
#endif

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
        let (created, newErrno) = withErrno { mosquitto_new(clientID.isEmpty ? nil : clientID, cleanSession, nil) }
        guard let pointer = created else {
            let savedErrno = newErrno?.rawValue ?? 0
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
