import ArgumentParser
import Foundation
import GPIO
import Sensors
import Simulation

/// How fast the sensor drivers run against the line-level simulator: HX711 reads and ranger pings
/// completed per second of wall-clock time, and what an idle day of lid waiting costs. The drivers
/// and models run unchanged, so a slower driver or a costlier chip operation shows up here.
struct DriversBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drivers", abstract: "HX711 reads and ranger pings per second against the simulator.")

    @Option(help: "Wall-clock seconds to run each driver.")
    var seconds: Double = 2

    @Option(help: "HX711 data rate, 10 or 80 samples per second.")
    var rate: Int = 80

    @Option(help: "Distance from the ranger to the surface, mm.")
    var distance: Double = 1_200

    func validate() throws {
        guard seconds > 0, seconds <= 600 else { throw ValidationError("--seconds must be in (0, 600]") }
        guard HX711.DataRate(rawValue: rate) != nil else { throw ValidationError("--rate must be 10 or 80") }
        guard distance >= 30, distance <= 4_000 else { throw ValidationError("--distance must be 30...4000 mm") }
    }

    func run() async throws {
        let seconds = self.seconds
        let rate = self.rate
        let distance = self.distance
        print("bins-bench drivers: simulated chip, virtual pacing, \(seconds) s of wall time per driver")
        let hx711 = try await onDedicatedThread { try Self.benchmarkHX711(seconds: seconds, rate: rate) }
        print(hx711)
        let ranger = try await onDedicatedThread { try Self.benchmarkRanger(seconds: seconds, distance: distance) }
        print(ranger)
        let idle = try await onDedicatedThread { try Self.benchmarkIdleDay() }
        print(idle)
    }

    /// Blocking driver loops stay off Swift's cooperative pool.
    private func onDedicatedThread<Result: Sendable>(_ work: @escaping @Sendable () throws -> Result) async throws
        -> Result
    {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Swift.Result { try work() }) }.start()
        }
    }

    private static func benchmarkHX711(seconds: Double, rate: Int) throws -> String {
        let chip = SimulatedChip(lineNames: ["PD_SCK", "DOUT"])
        let model = try HX711Model(
            chip: chip, clockLine: 0, dataLine: 1,
            configuration: .init(
                dataRate: HX711Model.DataRate(samplesPerSecond: rate) ?? .eightyPerSecond, offsetCounts: 84_000,
                countsPerKilogram: 21_000, noiseCounts: 30, seed: 1))
        model.massKilograms = 12.5
        let driver = try HX711(
            chip: chip, clockLine: 0, dataLine: 1,
            configuration: .init(dataRate: HX711.DataRate(rawValue: rate) ?? .eightyPerSecond))
        let virtualStart = chip.nowNanoseconds
        let (count, elapsed) = try repeatFor(seconds: seconds) { _ in _ = try driver.read() }
        let virtual = Double(chip.nowNanoseconds - virtualStart) / 1e9
        let statistics = driver.statistics
        return String(
            format:
                "hx711   %d SPS, gain 128: %d reads in %.2f s = %.0f reads/s (%.1f µs each; %.0f s virtual, %.0fx real time; %d retries)",
            rate, count, elapsed, Double(count) / elapsed, elapsed / Double(count) * 1e6, virtual, virtual / elapsed,
            statistics.retries)
    }

    private static func benchmarkRanger(seconds: Double, distance: Double) throws -> String {
        let chip = SimulatedChip(lineNames: ["TRIG", "ECHO"])
        var configuration = UltrasonicRangerModel.Configuration.hcSR04
        configuration.jitterNanoseconds = 8_000
        let model = try UltrasonicRangerModel(chip: chip, triggerLine: 0, echoLine: 1, configuration: configuration)
        model.distanceMillimetres = distance
        let driver = try UltrasonicRanger(chip: chip, triggerLine: 0, echoLine: 1, configuration: .hcSR04())
        var errorSum = 0.0
        var distances = 0
        let virtualStart = chip.nowNanoseconds
        let (count, elapsed) = try repeatFor(seconds: seconds) { _ in
            if case .distance(let millimetres) = try driver.ping(temperatureCelsius: 20) {
                errorSum += abs(millimetres - distance)
                distances += 1
            }
        }
        let virtual = Double(chip.nowNanoseconds - virtualStart) / 1e9
        return String(
            format:
                "ranger  HC-SR04 at %.0f mm: %d pings in %.2f s = %.0f pings/s (%.1f µs each; %.0f s virtual; mean |error| %.2f mm over %d echoes)",
            distance, count, elapsed, Double(count) / elapsed, elapsed / Double(count) * 1e6, virtual,
            distances > 0 ? errorSum / Double(distances) : .nan, distances)
    }

    /// A day with nobody at the bin: the sampling thread's lid wait, woken by a 60 s heartbeat.
    private static func benchmarkIdleDay() throws -> String {
        let chip = SimulatedChip(lineNames: ["LID_WET", "LID_DRY"])
        _ = try LidSwitchModel(chip: chip, line: 0)
        _ = try LidSwitchModel(chip: chip, line: 1)
        let lids = [try LidSwitch(chip: chip, line: 0), try LidSwitch(chip: chip, line: 1)]
        let heartbeats = 24 * 60
        let started = ContinuousClock.now
        for _ in 0..<heartbeats {
            _ = try LidSwitch.waitForEdges(on: lids, timeoutNanoseconds: 60_000_000_000, wakeup: nil)
        }
        let elapsed = started.duration(to: .now)
        let wall = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return String(
            format: "idle    2 lids, 24 h of 60 s heartbeats: %d waits in %.3f s (%.1f µs per wait)", heartbeats, wall,
            wall / Double(heartbeats) * 1e6)
    }

    /// Runs `body` until `seconds` of wall time have passed; returns the count and the exact time.
    private static func repeatFor(seconds: Double, _ body: (Int) throws -> Void) throws -> (Int, Double) {
        let clock = ContinuousClock()
        let start = clock.now
        let limit = Duration.nanoseconds(Int64(seconds * 1e9))
        var count = 0
        while start.duration(to: clock.now) < limit {
            try body(count)
            count += 1
        }
        let elapsed = start.duration(to: clock.now)
        return (count, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }
}
