import Synchronization
import SystemCalls
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("The system-call funnel, errno, eventfd, poll and dedicated threads")
struct SystemCallsTests {
    @Test("a failed call throws the errno it left, named and described the two ways errors print it")
    func failedCallCarriesErrno() {
        #expect(throws: Errno(rawValue: ENOENT)) {
            try systemCall { open("/nonexistent/bins-systemcalls", O_RDONLY | O_CLOEXEC) }
        }
        let error = Errno(rawValue: ENOENT)
        #expect(error.description == "No such file or directory (errno 2)")
        #expect(error.symbolicDescription == "No such file or directory (ENOENT)")
        #expect(Errno(rawValue: EBUSY).name == "EBUSY")
        #expect(Errno(rawValue: 4095).name == "errno 4095")
    }

    @Test("a NULL-returning call throws its errno; a successful one returns its value")
    func pointerCalls() throws {
        #expect(throws: Errno(rawValue: ENOENT)) { try systemCall { opendir("/nonexistent/bins-systemcalls") } }
        let directory = try systemCall { opendir("/") }
        closedir(directory)
        let fd = try systemCall { open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        #expect(fd >= 0)
        close(fd)
    }

    @Test("withErrno reports only the errno the call itself set, never a stale one")
    func withErrnoClearsFirst() {
        errno = EBUSY
        let clean = withErrno { getpid() }
        #expect(clean.errno == nil)
        let failed = withErrno { close(-1) }
        #expect(failed.result == -1)
        #expect(failed.errno == Errno(rawValue: EBADF))
    }

    @Test("an eventfd wakes a poll at once and is empty again after drain")
    func eventFDWakesPoll() throws {
        let event = try EventFD()
        let far = MonotonicTime.now().saturatingAdd(60_000_000_000)
        event.signal()
        let ready = try DescriptorPoll.wait([event.fileDescriptor], deadline: far)
        #expect(ready[0].isReadable)
        event.drain()
        let soon = MonotonicTime.now().saturatingAdd(5_000_000)
        let after = try DescriptorPoll.wait([event.fileDescriptor], deadline: soon)
        #expect(!after[0].isSet)
        #expect(MonotonicTime.now() >= soon, "a poll that timed out never ends before its deadline")
    }

    @Test("a dedicated thread runs its body under its name, and a signal from it ends a wait on another")
    func dedicatedThreadRunsNamed() throws {
        let event = try EventFD()
        let name = Mutex<String?>(nil)
        try DedicatedThread.start(name: "bins-test-thr") {
            var buffer = [UInt8](repeating: 0, count: 64)
            let fd = open("/proc/thread-self/comm", O_RDONLY | O_CLOEXEC)
            let count = fd >= 0 ? buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) } : 0
            if fd >= 0 { close(fd) }
            name.withLock { $0 = String(decoding: buffer.prefix(max(0, count)), as: UTF8.self) }
            event.signal()
        }
        let ready = try DescriptorPoll.wait(
            [event.fileDescriptor], deadline: MonotonicTime.now().saturatingAdd(30_000_000_000))
        #expect(ready[0].isReadable)
        #expect(name.withLock { $0 } == "bins-test-thr\n")
    }
}
