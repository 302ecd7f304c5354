import ArgumentParser
import BinDaemon
import BinsTestSupport
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// Resident memory and CPU of `binsd run` on the `sim` board, following the wall clock (speed 1): first
/// idle (scale heartbeats, state heartbeats, health), then with a deposit every few seconds into one of
/// three bins (lid cycle, scale burst, ranger, classification, outbox write, MQTT publish). Figures come
/// from /proc/PID/status (VmRSS, VmHWM) and /proc/PID/stat (utime + stime) of the daemon's process.
struct FootprintBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "footprint",
        abstract: "Resident memory and CPU of binsd run on the sim board, idle and under deposits.")

    @Option(name: .customLong("idle-seconds"), help: "Length of the idle window.") var idleSeconds: Int = 60
    @Option(name: .customLong("load-seconds"), help: "Length of the window with deposits.") var loadSeconds: Int = 60
    @Option(name: .customLong("deposit-every"), help: "Seconds between deposits in the load window.") var depositEvery:
        Double = 3
    @Option(help: "The binsd executable (default: next to bins-bench).") var binsd: String?
    @Option(help: "A broker as HOST:PORT; without it a mosquitto is started on a free loopback port.") var broker:
        String?

    func validate() throws {
        guard idleSeconds >= 10, loadSeconds >= 10 else { throw ValidationError("windows must be at least 10 s") }
        guard depositEvery >= 1 else {
            throw ValidationError("--deposit-every must be at least 1 s (lid cycles must not overlap)")
        }
    }

    func run() async throws {
        let executable = binsd ?? (Self.ownDirectory() + "/binsd")
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw ValidationError("\(executable) is not an executable; build binsd or pass --binsd")
        }
        let endpoint = try await BrokerEndpoint.resolve(broker)
        let (host, port) = (endpoint.host, endpoint.port)
        let directory = NSTemporaryDirectory() + "bins-footprint-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }

        // The scenario: quiet for the idle window (plus a margin to settle), then deposits round-robin.
        let settle = 10
        let loadStart = settle + idleSeconds + settle
        var timeline: [String] = []
        var at = Double(loadStart)
        var index = 0
        let bins = ["wet", "dry", "recycling"]
        while at < Double(loadStart + loadSeconds + settle) {
            let bin = bins[index % bins.count]
            let (mass, volume) = bin == "wet" ? (1.5, 3.0) : (0.6, 6.0)
            timeline.append(
                "  - {at: \(at), deposit: {bin: \(bin), mass_kg: \(mass), volume_l: \(volume), lid_open_s: 1.5}}")
            at += depositEvery
            index += 1
        }
        let scenario = """
            device: pt-footprint
            start: 2026-06-01T06:00:00+08:00
            seed: 9
            temperature_c: 20
            bins:
              - {id: wet, stream: wet, shape: {kind: box, width_mm: 600, length_mm: 800, depth_mm: 1200}}
              - {id: dry, stream: dry, shape: {kind: box, width_mm: 600, length_mm: 800, depth_mm: 1200}}
              - {id: recycling, stream: recyclable, shape: {kind: box, width_mm: 600, length_mm: 800, depth_mm: 1200}}
            events:
            \(timeline.joined(separator: "\n"))
            end: 86400

            """
        let scenarioPath = directory + "/footprint.yaml"
        try scenario.write(toFile: scenarioPath, atomically: true, encoding: .utf8)
        var binLines: [String] = []
        for (position, bin) in bins.enumerated() {
            let base = 4 + position * 5  // BinWorld's wiring on the sim board
            binLines.append(
                """
                  - id: \(bin)
                    stream: \(bin == "recycling" ? "recyclable" : bin)
                    shape: {kind: box, width_mm: 600, length_mm: 800, depth_mm: 1200}
                    sensors:
                      hx711: {dout: GPIO\(base + 1), sck: GPIO\(base)}
                      ranger: {trigger: GPIO\(base + 2), echo: GPIO\(base + 3), mount_mm: 40}
                      lid: {pin: GPIO\(base + 4)}
                """)
        }
        let config = """
            device: pt-footprint
            board: sim
            state_dir: \(directory)/state
            broker: {url: "mqtt://\(host):\(port)"}
            simulation: {scenario: \(scenarioPath), speed: 1}
            logging: {level: warning}
            bins:
            \(binLines.joined(separator: "\n"))

            """
        let configPath = directory + "/binsd.yaml"
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)

        let quiet = Logger(label: "bins-bench", factory: { _ in SwiftLogNoOpLogHandler() })
        let finish = try await EventCollector.start(host: host, port: port, device: "pt-footprint", logger: quiet)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["run", "--config", configPath]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        let pid = process.processIdentifier
        print("bins-bench footprint: binsd run on the sim board (pid \(pid)), 3 bins, virtual time = wall clock")

        // The scenario starts once the simulated installer has calibrated (a second or so after launch).
        try await Task.sleep(for: .seconds(settle))
        let idle = try await Self.measure(pid: pid, seconds: idleSeconds)
        try await Task.sleep(for: .seconds(2 * settle))
        let load = try await Self.measure(pid: pid, seconds: loadSeconds)
        process.terminate()
        process.waitUntilExit()
        let events = try await finish(0)
        let deposits = events.filter { $0.type == .deposit }.count
        print(idle.line(name: "idle"))
        print(load.line(name: "deposit every \(depositEvery) s") + ", \(deposits) deposit events received over MQTT")
        print("exit status after SIGTERM: \(process.terminationStatus)")
        await endpoint.stop()
    }

    struct Window {
        var seconds: Double
        var cpuTicks: Int
        var rssKiB: Int
        var highWaterKiB: Int

        func line(name: String) -> String {
            let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
            let cpu = Double(cpuTicks) / ticks / seconds * 100
            return String(
                format: "%@: CPU %.2f %% of one core (%d ticks in %.0f s), RSS %.1f MiB, peak RSS %.1f MiB",
                name, cpu, cpuTicks, seconds, Double(rssKiB) / 1024, Double(highWaterKiB) / 1024)
        }
    }

    static func measure(pid: Int32, seconds: Int) async throws -> Window {
        let before = try cpuTicks(pid)
        let start = ContinuousClock.now
        try await Task.sleep(for: .seconds(seconds))
        let after = try cpuTicks(pid)
        let elapsed = ContinuousClock.now - start
        let (rss, hwm) = try memory(pid)
        return Window(
            seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18,
            cpuTicks: after - before, rssKiB: rss, highWaterKiB: hwm)
    }

    static func cpuTicks(_ pid: Int32) throws -> Int {
        guard let ticks = ProcessStatistics.cpuTicks(pid) else {
            throw ValidationError("/proc/\(pid)/stat: unreadable")
        }
        return ticks
    }

    /// VmRSS and VmHWM, KiB.
    static func memory(_ pid: Int32) throws -> (Int, Int) {
        guard let memory = ProcessStatistics.memoryKiB(pid) else {
            throw ValidationError("/proc/\(pid)/status: unreadable")
        }
        return memory
    }

    static func ownDirectory() -> String {
        let path =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return (path as NSString).deletingLastPathComponent
    }
}
