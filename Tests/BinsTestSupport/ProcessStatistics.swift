import Foundation

/// What the kernel says a process has used, from `/proc/<pid>`: CPU time for waits bounded by the work a
/// child does (`ChildProcess.waitForExit(cpuBudget:)`), CPU and memory for the benchmarks' figures.
public enum ProcessStatistics {
    /// utime + stime of every thread of `pid`, in clock ticks (fields 14 and 15 of `stat`, counted after
    /// the command name, which may itself hold spaces and parentheses); nil when there is no such process.
    public static func cpuTicks(_ pid: Int32) -> Int? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let commandEnd = stat.lastIndex(of: ")")
        else { return nil }
        // fields[0] is the state (field 3).
        let fields = stat[stat.index(after: commandEnd)...].split(separator: " ")
        guard fields.count > 12, let user = Int(fields[11]), let system = Int(fields[12]) else { return nil }
        return user + system
    }

    /// Clock ticks per second (`sysconf(_SC_CLK_TCK)`, 100 on Linux).
    public static let ticksPerSecond = max(1, sysconf(Int32(_SC_CLK_TCK)))

    /// `cpuTicks(pid)` as a duration.
    public static func cpuTime(_ pid: Int32) -> Duration? {
        cpuTicks(pid).map { .milliseconds($0 * 1000 / ticksPerSecond) }
    }

    /// Resident memory now and at its peak (VmRSS and VmHWM of `status`), KiB; nil when there is no such
    /// process.
    public static func memoryKiB(_ pid: Int32) -> (resident: Int, peak: Int)? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        func field(_ name: String) -> Int {
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }) else { return 0 }
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? 0
        }
        return (field("VmRSS"), field("VmHWM"))
    }
}
