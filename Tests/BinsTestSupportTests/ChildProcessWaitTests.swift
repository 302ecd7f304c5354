import BinsTestSupport
import Foundation
import Testing

/// The bound the system and scenario tests wait for `binsd simulate` with: CPU time used, not wall time.
@Suite("Waiting for a child process by the work it does")
struct ChildProcessWaitTests {
    @Test("a process that ends within its CPU budget is waited for, its exit status returned")
    func endsWithinBudget() async throws {
        let directory = try TemporaryDirectory(prefix: "wait-ends")
        let child = try ChildProcess("sh", ["-c", "exit 3"], outputPath: directory.file("sh.log"))
        #expect(try await child.waitForExit(cpuBudget: .seconds(30)) == .exited(3))
    }

    @Test("a process that keeps working past its CPU budget fails the wait, naming the time it used")
    func loopingProcessExceedsBudget() async throws {
        let directory = try TemporaryDirectory(prefix: "wait-loops")
        let child = try ChildProcess("sh", ["-c", "while :; do :; done"], outputPath: directory.file("sh.log"))
        let error = try await #require(throws: TestSupportError.self) {
            try await child.waitForExit(cpuBudget: .milliseconds(300), stallLimit: .seconds(600))
        }
        #expect("\(error)".contains("more than 0.3 seconds"), "\(error)")
        #expect(child.isRunning)
        #expect((child.cpuTime ?? .zero) > .milliseconds(300))
        try await child.killAndWait()
        #expect(child.cpuTime == nil, "no CPU time once the process is reaped")
    }

    @Test("a process that uses no CPU for the stall limit fails the wait as hung")
    func restingProcessStalls() async throws {
        let directory = try TemporaryDirectory(prefix: "wait-rests")
        let child = try ChildProcess("sleep", ["600"], outputPath: directory.file("sleep.log"))
        let error = try await #require(throws: TestSupportError.self) {
            try await child.waitForExit(cpuBudget: .seconds(600), stallLimit: .seconds(1))
        }
        #expect("\(error)".contains("used no CPU time for 1.0 seconds"), "\(error)")
        #expect(child.isRunning)
        try await child.killAndWait()
    }

    @Test("the wall limit ends the wait for a process that neither works nor hangs long enough to count")
    func wallLimitIsABackstop() async throws {
        let directory = try TemporaryDirectory(prefix: "wait-wall")
        let child = try ChildProcess("sleep", ["600"], outputPath: directory.file("sleep.log"))
        let error = try await #require(throws: TestSupportError.self) {
            try await child.waitForExit(cpuBudget: .seconds(600), stallLimit: .seconds(600), wallLimit: .seconds(1))
        }
        #expect("\(error)".contains("still runs after 1.0 seconds"), "\(error)")
        try await child.killAndWait()
    }
}
