import CBinsSystem
import Foundation
import Synchronization

/// A child process whose standard output and error go to a file, for tests that start real programs
/// (mosquitto, openssl, the project's executables) and kill them.
///
/// Spawned with `posix_spawn` and an empty signal mask with default handlers: a child started from a
/// Swift concurrency thread would otherwise inherit that thread's blocked signals, and mosquitto would
/// never see its SIGTERM. The child gets standard input, output and error and no other descriptor: the
/// test process holds sockets without close-on-exec (its own, and some of SwiftNIO's), and a child that
/// inherited one would keep the connection open after the test's server or client closed it, for as long
/// as the child runs (a server's close would then send neither a FIN nor a reset).
public final class ChildProcess: Sendable {
    public let executable: String
    public let arguments: [String]
    /// Where stdout and stderr are written (appended, so restarts of the same program can share it).
    public let outputPath: String
    public let pid: Int32
    private let exitStatus = Mutex<Termination?>(nil)

    /// Starts `executable` (a path, or a name looked up on PATH).
    public init(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil, outputPath: String
    ) throws {
        let resolved = try Self.locate(executable)
        self.executable = resolved
        self.arguments = arguments
        self.outputPath = outputPath
        let outputFD = open(outputPath, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard outputFD >= 0 else {
            throw TestSupportError("cannot open \(outputPath) for the output of \(executable): errno \(errno)")
        }
        defer { close(outputFD) }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, outputFD, 1)
        posix_spawn_file_actions_adddup2(&actions, outputFD, 2)
        guard bins_spawn_file_actions_close_from(&actions, 3) == 0 else {
            throw TestSupportError("cannot start \(resolved): posix_spawn_file_actions_addclosefrom_np failed")
        }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let environment = ProcessInfo.processInfo.environment.merging(environment ?? [:]) { $1 }
        let argv = ([resolved] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, resolved, &actions, &attributes, argv, envp)
        guard rc == 0 else {
            throw TestSupportError("cannot start \(resolved) \(arguments.joined(separator: " ")): errno \(rc)")
        }
        self.pid = pid
    }

    deinit {
        if termination == nil {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
    }

    public var isRunning: Bool { termination == nil }

    /// How the process ended: `.exited(status)` or `.signalled(signal)`; `nil` while running. Reaps it.
    public var termination: Termination? {
        exitStatus.withLock { known in
            if let known { return known }
            var status: Int32 = 0
            guard waitpid(pid, &status, WNOHANG) == pid else { return nil }
            known = Termination(waitStatus: status)
            return known
        }
    }

    public enum Termination: Sendable, Equatable {
        case exited(Int32)
        case signalled(Int32)

        /// From a `waitpid` status. The <sys/wait.h> macros are not importable: the low 7 bits are the
        /// terminating signal, else the exit code is in the next byte.
        init(waitStatus status: Int32) {
            let signal = status & 0x7F
            self = signal == 0 ? .exited((status >> 8) & 0xFF) : .signalled(signal)
        }
    }

    /// Sends `signal` (SIGTERM, SIGKILL, SIGSTOP, SIGCONT...) unless the process was already reaped.
    public func send(_ signal: Int32) {
        if isRunning { kill(pid, signal) }
    }

    /// Waits for the process to end; throws if it is still running after `timeout`.
    @discardableResult
    public func waitForExit(timeout: Duration) async throws -> Termination {
        try await waitUntil(timeout: timeout, "exit of \(name)") { !isRunning }
        return termination ?? .exited(0)
    }

    /// Waits for the process to end, bounded by the work it does rather than by the wall clock: on a machine
    /// busy with the rest of the suite a program that needs 15 s alone can take minutes of wall time, and a
    /// wall-clock limit then fails a test whose program was working all along. Throws when the process has
    /// used `cpuBudget` of CPU time and still runs (it loops, or it is far slower than it should be), when it
    /// has used none for `stallLimit` (it hangs on something), or after `wallLimit`, a backstop for a program
    /// that neither works nor rests.
    @discardableResult
    public func waitForExit(
        cpuBudget: Duration, stallLimit: Duration = .seconds(120), wallLimit: Duration = .seconds(1800)
    ) async throws -> Termination {
        let clock = ContinuousClock()
        let started = clock.now
        var lastCPUTime = Duration.zero
        var lastProgress = started
        while true {
            if let termination { return termination }
            let now = clock.now
            if let used = cpuTime, used != lastCPUTime {
                lastCPUTime = used
                lastProgress = now
            }
            if lastCPUTime > cpuBudget {
                throw TestSupportError(
                    "\(name) used \(lastCPUTime) of CPU time, more than \(cpuBudget), and still runs")
            }
            if now - lastProgress > stallLimit {
                throw TestSupportError(
                    "\(name) used no CPU time for \(stallLimit) (\(lastCPUTime) in all) and still runs")
            }
            if now - started > wallLimit {
                throw TestSupportError("\(name) still runs after \(wallLimit), having used \(lastCPUTime) of CPU time")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// The CPU time the process has used so far, user and system, all its threads; nil once it has been
    /// reaped.
    public var cpuTime: Duration? { ProcessStatistics.cpuTime(pid) }

    /// Waits on the calling thread until the process ends: for one-time setup that has nothing else to do.
    public func waitForExitBlocking() throws -> Termination {
        try exitStatus.withLock { known in
            if let known { return known }
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 {
                guard errno == EINTR else { throw TestSupportError("waitpid for \(name) failed: errno \(errno)") }
            }
            let ended = Termination(waitStatus: status)
            known = ended
            return ended
        }
    }

    /// SIGKILL and wait for the end.
    public func killAndWait(timeout: Duration = .seconds(10)) async throws {
        send(SIGKILL)
        try await waitForExit(timeout: timeout)
    }

    /// Everything the process wrote so far.
    public var output: String {
        (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
    }

    /// Waits until the output contains `text`; fails early if the process ends without writing it.
    public func waitForOutput(containing text: String, timeout: Duration) async throws {
        try await waitUntil(timeout: timeout, "'\(text)' in the output of \(name)") {
            if output.contains(text) { return true }
            if !isRunning, !output.contains(text) {
                throw TestSupportError(
                    "\(name) ended (\(termination.map { "\($0)" } ?? "?")) without writing '\(text)'; output:\n\(output.suffix(2000))"
                )
            }
            return false
        }
    }

    private var name: String { (executable as NSString).lastPathComponent }

    /// Runs a program to completion and returns its output; throws with the output if it fails.
    @discardableResult
    public static func run(
        _ executable: String, _ arguments: [String], in directory: TemporaryDirectory, timeout: Duration = .seconds(60)
    ) async throws -> String {
        let outputPath = directory.file("\((executable as NSString).lastPathComponent)-\(UUID().uuidString).log")
        let child = try ChildProcess(executable, arguments, outputPath: outputPath)
        let termination = try await child.waitForExit(timeout: timeout)
        guard termination == .exited(0) else {
            throw TestSupportError(
                "\(executable) \(arguments.joined(separator: " ")) ended with \(termination):\n\(child.output)")
        }
        return child.output
    }

    /// The path `posix_spawn` is given for `executable`: the name itself when it contains a `/`, otherwise
    /// the first executable file of that name in the directories of `searchPath` (the environment's PATH
    /// by default), then in /usr/sbin and /sbin, which a non-root PATH leaves out (mosquitto lives there).
    public static func locate(_ executable: String, searchPath: String? = nil) throws -> String {
        if executable.contains("/") { return executable }
        let path = searchPath ?? ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        // Typed on purpose: untyped, `path.split(separator: ":") + ["/usr/sbin", "/sbin"]` type-checks as
        // arrays of Characters, every PATH entry then reads `["/", "u", ...]/name`, and only the two
        // fallbacks could ever match.
        let directories: [String] = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin"]
        for directory in directories where !directory.isEmpty {
            let candidate = "\(directory)/\(executable)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        throw TestSupportError(
            "\(executable) not found on PATH (\(path)) nor in /usr/sbin, /sbin; is its Debian package installed?")
    }
}
