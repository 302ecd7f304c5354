import Foundation
import Synchronization

/// A child process whose standard output and error go to a file, for tests that start real programs
/// (mosquitto, openssl, the project's executables) and kill them.
public final class ChildProcess: Sendable {
    public let executable: String
    public let arguments: [String]
    /// Where stdout and stderr are written (appended, so restarts of the same program can share it).
    public let outputPath: String
    private let process: Mutex<Process>

    /// Starts `executable` (a path, or a name looked up on PATH).
    public init(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil, outputPath: String,
        workingDirectory: String? = nil
    ) throws {
        let resolved = try Self.resolve(executable)
        self.executable = resolved
        self.arguments = arguments
        self.outputPath = outputPath
        if !FileManager.default.fileExists(atPath: outputPath) {
            _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        }
        guard let output = FileHandle(forWritingAtPath: outputPath) else {
            throw TestSupportError("cannot open \(outputPath) for the output of \(executable)")
        }
        output.seekToEndOfFile()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: resolved)
        process.arguments = arguments
        if let environment {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        if let workingDirectory { process.currentDirectoryURL = URL(fileURLWithPath: workingDirectory) }
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw TestSupportError("cannot start \(resolved) \(arguments.joined(separator: " ")): \(error)")
        }
        try? output.close()
        self.process = Mutex(process)
    }

    deinit {
        process.withLock { process in
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
    }

    public var pid: Int32 { process.withLock { $0.processIdentifier } }
    public var isRunning: Bool { process.withLock { $0.isRunning } }

    /// How the process ended: `.exited(status)` or `.signalled(signal)`; `nil` while running.
    public var termination: Termination? {
        process.withLock { process in
            guard !process.isRunning else { return nil }
            return process.terminationReason == .uncaughtSignal
                ? .signalled(process.terminationStatus) : .exited(process.terminationStatus)
        }
    }

    public enum Termination: Sendable, Equatable {
        case exited(Int32)
        case signalled(Int32)
    }

    /// Sends `signal` (SIGTERM, SIGKILL, SIGSTOP, SIGCONT...).
    public func send(_ signal: Int32) {
        let pid = pid
        if pid > 0 { kill(pid, signal) }
    }

    /// Waits for the process to end; throws if it is still running after `timeout`.
    @discardableResult
    public func waitForExit(timeout: Duration) async throws -> Termination {
        try await waitUntil(timeout: timeout, "exit of \(name)") { !isRunning }
        return termination ?? .exited(0)
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
                throw TestSupportError("\(name) ended (\(termination.map { "\($0)" } ?? "?")) without writing '\(text)'; output:\n\(output.suffix(2000))")
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
        let child = try ChildProcess(executable, arguments, outputPath: outputPath, workingDirectory: directory.path)
        let termination = try await child.waitForExit(timeout: timeout)
        guard termination == .exited(0) else {
            throw TestSupportError(
                "\(executable) \(arguments.joined(separator: " ")) ended with \(termination):\n\(child.output)")
        }
        return child.output
    }

    static func resolve(_ executable: String) throws -> String {
        if executable.contains("/") { return executable }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") + ["/usr/sbin", "/sbin"] {
            let candidate = "\(directory)/\(executable)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw TestSupportError("\(executable) not found on PATH (\(path)); is its Debian package installed?")
    }
}
