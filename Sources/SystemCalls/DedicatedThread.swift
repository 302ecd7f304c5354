import CBinsSystem

#if canImport(Glibc)
import Glibc
#endif

/// The one way the project starts a thread for blocking work that must stay off Swift's cooperative pool
/// (the MQTT network loop, GPIO sampling, the simulator's relay): a detached POSIX thread with a name
/// `top -H` and core dumps show.
public enum DedicatedThread {
    /// Starts `body` on a new detached thread named `name` (Linux keeps the first 15 bytes).
    public static func start(name: String, _ body: @escaping @Sendable () -> Void) throws(Errno) {
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
                _ = bins_set_thread_name(context.name)
                context.body()
                return nil
            }, context.toOpaque())
        if rc != 0 {
            context.release()
            throw Errno(rawValue: rc)  // pthread_create returns its error rather than setting errno
        }
    }
}
