import GPIO
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A POSIX thread for a blocking GPIO wait: such waits must stay off Swift's cooperative pool, and the
/// cancellation check needs a thread it can watch sleep in the kernel and then wake.
final class BlockingThread: Sendable {
    /// What the new thread runs, passed through the `void *` argument of `pthread_create`.
    private final class Start: Sendable {
        let body: @Sendable () -> Void
        let state: BlockingThread

        init(body: @escaping @Sendable () -> Void, state: BlockingThread) {
            self.body = body
            self.state = state
        }
    }

    /// The kernel thread id once the thread runs, for `/proc/self/task/<tid>/stat`.
    private let kernelThreadID = Atomic<Int32>(0)
    /// A pipe the thread writes one byte to when its body has returned; `waitUntilFinished` polls the
    /// read end with a bound.
    private let finishedRead: Int32
    private let finishedWrite: Int32
    private let thread = Mutex<pthread_t?>(nil)
    private static let clock = MonotonicClock()

    init(_ body: @escaping @Sendable () -> Void) throws(GuestCheckError) {
        var pipeEnds: [Int32] = [-1, -1]
        guard pipe(&pipeEnds) == 0 else {
            throw .system(.harness, path: "pipe", function: "pipe", errno: errno)
        }
        finishedRead = pipeEnds[0]
        finishedWrite = pipeEnds[1]
        let start = Unmanaged.passRetained(Start(body: body, state: self)).toOpaque()
        var handle = pthread_t()
        let result = pthread_create(
            &handle, nil,
            { argument in
                guard let argument else { return nil }
                let start = Unmanaged<Start>.fromOpaque(argument).takeRetainedValue()
                start.state.kernelThreadID.store(BlockingThread.currentKernelThreadID(), ordering: .releasing)
                start.body()
                var done: UInt8 = 1
                _ = write(start.state.finishedWrite, &done, 1)
                return nil
            }, start)
        guard result == 0 else {
            // The object is fully initialised, so deinit runs and closes the pipe.
            Unmanaged<Start>.fromOpaque(start).release()
            throw .system(.harness, path: "thread", function: "pthread_create", errno: result)
        }
        thread.withLock { $0 = handle }
    }

    deinit {
        join()
        close(finishedRead)
        close(finishedWrite)
    }

    /// Waits (bounded) until the thread is asleep in the kernel, i.e. blocked in its wait: state `S` in
    /// `/proc/self/task/<tid>/stat`. Returns false if that did not happen within the bound.
    func waitUntilSleeping(timeoutNanoseconds: UInt64) -> Bool {
        let deadline = Self.clock.nanoseconds() + timeoutNanoseconds
        while Self.clock.nanoseconds() < deadline {
            let tid = kernelThreadID.load(ordering: .acquiring)
            if tid != 0, Self.schedulerState(tid) == "S" { return true }
            Self.clock.sleep(nanoseconds: 1_000_000)
        }
        return false
    }

    /// Waits until the body has returned or the bound passed; returns whether it returned.
    func waitUntilFinished(timeoutNanoseconds: UInt64) -> Bool {
        var descriptor = pollfd(fd: finishedRead, events: Int16(POLLIN), revents: 0)
        let deadline = Self.clock.nanoseconds() + timeoutNanoseconds
        while true {
            let now = Self.clock.nanoseconds()
            guard now < deadline else { return false }
            let milliseconds = Int32(clamping: (deadline - now + 999_999) / 1_000_000)
            let ready = poll(&descriptor, 1, milliseconds)
            if ready > 0 { return true }
            if ready < 0, errno != EINTR { return false }
        }
    }

    /// Joins the thread (once); blocks until its body has returned.
    func join() {
        let handle = thread.withLock { handle -> pthread_t? in
            defer { handle = nil }
            return handle
        }
        if let handle { pthread_join(handle, nil) }
    }

    /// The calling thread's kernel id, from `/proc/thread-self` (a link to `<pid>/task/<tid>`); Swift's
    /// Glibc module does not expose `gettid`.
    private static func currentKernelThreadID() -> Int32 {
        var buffer = [CChar](repeating: 0, count: 64)
        let count = readlink("/proc/thread-self", &buffer, buffer.count - 1)
        guard count > 0 else { return 0 }
        let link = String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return link.split(separator: "/").last.flatMap { Int32($0) } ?? 0
    }

    /// The state letter of a thread of this process (`R`, `S`, `D`, ...), or nil if unreadable. The
    /// thread's name in parentheses may contain spaces, so the state is read after the last `)`.
    private static func schedulerState(_ tid: Int32) -> Character? {
        let descriptor = open("/proc/self/task/\(tid)/stat", O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var buffer = [UInt8](repeating: 0, count: 512)
        let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        guard count > 0 else { return nil }
        let text = String(decoding: buffer.prefix(count), as: UTF8.self)
        guard let close = text.lastIndex(of: ")") else { return nil }
        return text[text.index(after: close)...].first { $0 != " " }
    }
}
