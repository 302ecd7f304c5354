import BinsTestSupport
import Foundation

/// `binsd simulate` as a child process: one simulated sorting point running a scenario against the
/// district's broker over TLS, logged in with its own device account, writing the world's truth.
struct SimulatedPoint: Sendable {
    let device: String
    let process: ChildProcess
    let truthPath: String

    /// The JSON line `binsd simulate` prints on stdout when it ends (docs/binsd.md section 11).
    struct Summary: Decodable, Sendable {
        var completed: Bool
        var device: String
        var eventsRecorded: Int
        var lastSeq: Int
        var networkOutages: Int
        var outboxDepth: Int
    }

    /// Starts a point. `speed` is virtual seconds per real second (`--speed`); without it the scenario
    /// runs flat out.
    static func start(
        scenario: String, device: String, district: DistrictBroker, in directory: TemporaryDirectory,
        speed: Double? = nil,
        extraArguments: [String] = []
    ) throws -> SimulatedPoint {
        let home = try directory.directory("points/\(device)-\(UUID().uuidString.prefix(6))")
        let truthPath = "\(home)/truth.json"
        var arguments = [
            "simulate", "--scenario", scenario, "--broker", district.pointEndpoint, "--ca-file",
            district.certificates.caFile,
            "--username", device, "--password-file", district.passwordFile(device), "--state-dir", "\(home)/state",
            "--truth-out", truthPath, "--log-level", "notice",
        ]
        if let speed { arguments += ["--speed", "\(speed)"] }
        arguments += extraArguments
        let process = try ChildProcess(try TestExecutables.path("binsd"), arguments, outputPath: "\(home)/binsd.log")
        return SimulatedPoint(device: device, process: process, truthPath: truthPath)
    }

    /// The highest seq the point has logged as recorded (`event.recorded`, logged at `info`: start the point
    /// with `--log-level info`), 0 before the first.
    var recordedHighestSeq: Int64 {
        process.output.split(separator: "\n").reduce(0) { highest, line in
            guard line.contains("event.recorded"), let range = line.range(of: "event.seq=") else { return highest }
            return max(highest, Int64(line[range.upperBound...].prefix { $0.isNumber }) ?? 0)
        }
    }

    /// Waits for the scenario's end and the outbox to drain: exit status 0 and `completed: true`, or an
    /// error quoting the point's log. Bounded by the CPU time the point uses, not the wall clock
    /// (`ChildProcess.waitForExit(cpuBudget:)`), so a suite that shares the machine's cores stretches the wait
    /// instead of failing it.
    func finish(cpuBudget: Duration = .seconds(180)) async throws -> Summary {
        let termination = try await process.waitForExit(cpuBudget: cpuBudget)
        let output = process.output
        guard termination == .exited(0) else {
            throw SystemTestError("binsd simulate for \(device) ended with \(termination):\n\(output.suffix(3000))")
        }
        guard let line = output.split(separator: "\n").last(where: { $0.hasPrefix("{\"") }) else {
            throw SystemTestError("binsd simulate for \(device) printed no summary line:\n\(output.suffix(3000))")
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let summary = try decoder.decode(Summary.self, from: Data(line.utf8))
        guard summary.completed, summary.outboxDepth == 0, summary.device == device else {
            throw SystemTestError("binsd simulate for \(device) did not complete cleanly: \(line)")
        }
        return summary
    }

    func truth() throws -> Truth {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(Truth.self, from: Data(contentsOf: URL(fileURLWithPath: truthPath)))
    }

    /// The tail of the point's log, for failure messages.
    var logTail: String { String(process.output.suffix(3000)) }
}

/// The world's truth as `binsd simulate --truth-out` writes it (docs/binsd.md section 11).
struct Truth: Decodable, Sendable {
    struct Record: Decodable, Sendable {
        var bin: String
        var type: String
        var atS: Double
        var massKg: Double
        var volumeL: Double?
        var material: String?
    }

    struct FaultWindow: Decodable, Sendable {
        var bin: String
        var sensor: String
        var kind: String
        var atS: Double
        var untilS: Double?
    }

    var device: String
    var start: String
    var endS: Double
    var records: [Record]
    var faults: [FaultWindow]

    /// What the ledger should book for one bin, from the truth.
    struct BinTotals: Sendable, CustomStringConvertible {
        var deposits = 0
        var depositedKg = 0.0
        var collections = 0
        var collectedKg = 0.0
        /// Waste of another stream than the bin's (wet in a dry bin, dry in a wet bin), kg, and how many deposits.
        var misSortedKg = 0.0
        var misSorted = 0

        var description: String {
            String(
                format: "%d deposits %.3f kg (mis-sorted: %d, %.3f kg), %d collections %.3f kg", deposits, depositedKg,
                misSorted,
                misSortedKg, collections, collectedKg)
        }
    }

    /// Truth per bin. `streams` gives each bin's declared stream; mis-sorting is only judged in wet and
    /// dry bins, the two streams density can tell apart (docs/binsd.md section 5).
    func totals(streams: [String: String]) -> [String: BinTotals] {
        var totals: [String: BinTotals] = [:]
        for record in records {
            var bin = totals[record.bin, default: BinTotals()]
            switch record.type {
            case "deposit":
                bin.deposits += 1
                bin.depositedKg += record.massKg
                let stream = streams[record.bin]
                if let stream, ["wet", "dry"].contains(stream), let material = record.material, material != stream {
                    bin.misSorted += 1
                    bin.misSortedKg += record.massKg
                }
            case "collection":
                bin.collections += 1
                bin.collectedKg += record.massKg
            default:
                break
            }
            totals[record.bin] = bin
        }
        return totals
    }
}
