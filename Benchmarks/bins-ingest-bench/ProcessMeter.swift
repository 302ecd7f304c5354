import BinsTestSupport
import Foundation

/// CPU time and memory of the processes taking part in a run, from /proc: CPU as the share of one core
/// used between `init` and `finish`, memory as resident now and at the peak (VmHWM).
struct ProcessMeter {
    struct Sample {
        var name: String
        var pid: Int32
        var cpuTicks: Int
    }

    private let start: [Sample]
    private let startedAt = ContinuousClock.now
    private let includePostgres: Bool
    private let postgresStartTicks: Int
    private let machineStart: (busy: Int, total: Int)

    init(processes: [(String, Int32?)], includePostgres: Bool) {
        start = processes.compactMap { name, pid in
            pid.flatMap { pid in Self.cpuTicks(pid).map { Sample(name: name, pid: pid, cpuTicks: $0) } }
        }
        self.includePostgres = includePostgres
        postgresStartTicks = includePostgres ? Self.postgresTicks() : 0
        machineStart = Self.machineTicks()
    }

    /// One line per process: CPU share, resident memory now and at its peak.
    func finish() -> [String] {
        let elapsed =
            Double(startedAt.duration(to: .now).components.seconds) + Double(
                startedAt.duration(to: .now).components.attoseconds) / 1e18
        let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))
        var lines = start.map { sample -> String in
            let ticks = (Self.cpuTicks(sample.pid) ?? sample.cpuTicks) - sample.cpuTicks
            let memory = Self.memoryKiB(sample.pid)
            return String(
                format: "%@: CPU %.0f%% of a core, RSS %.1f MiB (peak %.1f MiB)", sample.name,
                Double(ticks) / ticksPerSecond / elapsed * 100, Double(memory.resident) / 1024,
                Double(memory.peak) / 1024)
        }
        if includePostgres {
            let ticks = Self.postgresTicks() - postgresStartTicks
            lines.append(
                String(
                    format: "postgres (every server process): CPU %.0f%% of a core",
                    Double(ticks) / ticksPerSecond / elapsed * 100))
        }
        let machine = Self.machineTicks()
        let busy = Double(machine.busy - machineStart.busy) / Double(max(1, machine.total - machineStart.total))
        lines.append(
            String(
                format: "machine: %.0f%% of its %d cores busy (every process, the generator included)", busy * 100,
                ProcessInfo.processInfo.activeProcessorCount))
        return lines
    }

    /// Busy and total ticks of all CPUs (the first line of /proc/stat: idle and iowait are not busy).
    static func machineTicks() -> (busy: Int, total: Int) {
        guard let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
            let line = stat.split(separator: "\n").first(where: { $0.hasPrefix("cpu ") })
        else { return (0, 0) }
        let values = line.split(separator: " ").dropFirst().compactMap { Int($0) }
        guard values.count >= 5 else { return (0, 0) }
        let total = values.prefix(8).reduce(0, +)
        return (total - values[3] - values[4], total)
    }

    static func cpuTicks(_ pid: Int32) -> Int? { ProcessStatistics.cpuTicks(pid) }

    static func memoryKiB(_ pid: Int32) -> (resident: Int, peak: Int) { ProcessStatistics.memoryKiB(pid) ?? (0, 0) }

    /// CPU ticks of every process named `postgres` alive now. A server's backends live as long as their
    /// connections, and the aggregators' pools keep theirs for the whole run.
    static func postgresTicks() -> Int {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { Int32($0) }.reduce(0) { total, pid in
            guard let name = try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8),
                name.trimmingCharacters(in: .whitespacesAndNewlines) == "postgres"
            else { return total }
            return total + (cpuTicks(pid) ?? 0)
        }
    }
}
