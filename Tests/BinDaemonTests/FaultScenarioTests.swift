import BinProtocol
import BinsTestSupport
import Foundation
import MQTT
import SimulatedPoint
import Simulation
import Testing

@testable import BinDaemon

/// A six-hour point with a sensor fault of each kind the simulator injects, written by the test so the
/// fault windows and the deposits around them are known exactly.
enum FaultScenario {
    static let device = "pt-faults"
    static let endS = 21_600.0
    static let lidOpenS = 5.0

    /// An injected fault, the code binsd must raise for it, and the delays docs/binsd.md (section 6,
    /// "Detection delays") promises for raising it after it starts and clearing it after it ends.
    struct Window {
        var bin: String
        var sensor: String
        var kind: String
        var code: FaultCode
        var startS: Double
        var endS: Double
        var raiseWithinS: Double
        var clearWithinS: Double
    }

    static let windows: [Window] = [
        // The first missing echo comes at the next ranger reading (a deposit's, or the 900 s heartbeat),
        // then retries every 30 s: three misses over a minute.
        Window(
            bin: "wet", sensor: "ranger", kind: "no_echo", code: .rangerNoEcho, startS: 1_700, endS: 3_500,
            raiseWithinS: 900 + 3 * 30, clearWithinS: 3 * 30),
        // Idle readings every 30 s: three failures over 5 s raise, three answers over 10 s clear.
        Window(
            bin: "dry", sensor: "scale", kind: "disconnected", code: .scaleNotReady, startS: 5_300, endS: 6_500,
            raiseWithinS: 4 * 30, clearWithinS: 4 * 30),
        // The next idle reading is off by far more than the stable tolerance and starts a burst; three noisy
        // bursts over a minute raise; once quiet, a burst every 30 s, three quiet ones over a minute clear.
        Window(
            bin: "wet", sensor: "scale", kind: "noise", code: .scaleNoisy, startS: 8_900, endS: 12_500,
            raiseWithinS: 120, clearWithinS: 120),
        // Needs a deposit to move the mass while the frozen reading repeats: the first frozen reading comes
        // with the next deposit (one every 10 minutes here), the deposit after it moves the mass, one more
        // look 30 s later makes three readings.
        Window(
            bin: "recyclable", sensor: "ranger", kind: "stuck", code: .rangerStuck, startS: 14_300, endS: 17_900,
            raiseWithinS: 2 * 600 + 120, clearWithinS: 3 * 30),
        // Waste keeps going in past a lid switch stuck closed: each step is seen at the next idle reading
        // (≤ 30 s), the third one (the third deposit, ≤ 3 × 10 min) raises; the next lid edge clears.
        Window(
            bin: "dry", sensor: "lid", kind: "stuck", code: .lidStuck, startS: 18_000, endS: 20_400,
            raiseWithinS: 3 * 600, clearWithinS: 600),
    ]

    /// Every bin gets a deposit every 10 minutes (staggered); the dry bin is emptied after 3 h, the wet one
    /// after 5.5 h.
    static var yaml: String {
        var random = SplitMix64(seed: 7)
        var events: [(at: Double, line: String)] = []
        for k in 0..<36 {
            let base = Double(k) * 600
            let wetKg = random.nextDouble(in: 1.0...2.5)
            let dryKg = random.nextDouble(in: 0.5...1.2)
            let recyclableKg = random.nextDouble(in: 0.2...0.5)
            events.append(deposit("wet", at: base + 60, kg: wetKg, litres: wetKg / random.nextDouble(in: 0.4...0.7)))
            events.append(deposit("dry", at: base + 260, kg: dryKg, litres: dryKg / random.nextDouble(in: 0.09...0.12)))
            events.append(
                deposit(
                    "recyclable", at: base + 460, kg: recyclableKg,
                    litres: recyclableKg / random.nextDouble(in: 0.04...0.08))
            )
        }
        events.append((10_700, "{at: 10700, collect: {bin: dry}}"))
        events.append((19_700, "{at: 19700, collect: {bin: wet}}"))
        for window in windows {
            events.append(
                (
                    window.startS,
                    "{at: \(Int(window.startS)), fault: {bin: \(window.bin), sensor: \(window.sensor), kind: \(window.kind), for_s: \(Int(window.endS - window.startS))}}"
                ))
        }
        let lines = events.sorted { $0.at < $1.at }.map { "  - \($0.line)" }.joined(separator: "\n")
        return """
            device: \(device)
            start: 2026-06-01T08:00:00+08:00
            seed: 11
            temperature_c: 22
            bins:
              - id: wet
                stream: wet
                shape: {kind: box, width_mm: 480, length_mm: 550, depth_mm: 900}
                scale: {counts_per_kg: 22453, offset_counts: 103894, noise_counts: 30}
                ranger: {mount_mm: 40, jitter_us: 8, surface_roughness_mm: 4}
                lid: true
              - id: dry
                stream: dry
                shape: {kind: box, width_mm: 480, length_mm: 550, depth_mm: 900}
                scale: {counts_per_kg: 22495, offset_counts: 81920, noise_counts: 30}
                ranger: {mount_mm: 40, jitter_us: 8, surface_roughness_mm: 4}
                lid: true
              - id: recyclable
                stream: recyclable
                shape: {kind: cylinder, diameter_mm: 700, depth_mm: 950}
                scale: {counts_per_kg: 22760, offset_counts: 95047, noise_counts: 30}
                ranger: {mount_mm: 40, jitter_us: 8, surface_roughness_mm: 4}
                lid: true
            events:
            \(lines)
            end: \(Int(endS))

            """
    }

    static func deposit(_ bin: String, at: Double, kg: Double, litres: Double) -> (at: Double, line: String) {
        let body =
            "bin: \(bin), mass_kg: \(round(kg * 100) / 100), volume_l: \(round(litres * 10) / 10), lid_open_s: \(Int(lidOpenS))"
        return (at, "{at: \(Int(at)), deposit: {\(body)}}")
    }

    /// Whether `seconds` lies in a window of `code` on `bin`, or within its clearing delay after it.
    static func affected(bin: String, code: FaultCode, at seconds: Double) -> Bool {
        windows.contains {
            $0.bin == bin && $0.code == code && seconds >= $0.startS && seconds <= $0.endS + $0.clearWithinS
        }
    }
}

@Suite(.serialized)
struct FaultScenarioTests {
    @Test(
        "injected faults through binsd simulate: each raised and cleared within its documented delay, none left active, no false consistency fault"
    )
    func faultsRaisedAndCleared() async throws {
        let point = try await SimulationRun.start(
            prefix: "binsd-faults", device: FaultScenario.device, extra: ["--log-level", "notice"]
        ) {
            try $0.write("faults.yaml", FaultScenario.yaml)
        }
        #expect(point.termination == .exited(0), "\(point.binsd.outputTail)")
        #expect(point.summary?["completed"] as? Bool == true)
        let truth = try point.binsd.truth
        let events = try await point.allEvents()
        func seconds(_ ts: WireTimestamp) -> Double {
            Double(ts.millisecondsSinceEpoch - truth.start.millisecondsSinceEpoch) / 1000
        }
        let faults = events.compactMap { event -> (fault: Fault, at: Double)? in
            if case .fault(let fault) = event.body { (fault, seconds(event.ts)) } else { nil }
        }
        let log = faults.map {
            "\(Int($0.at)) \($0.fault.bin ?? "-")/\($0.fault.code) \($0.fault.active) \($0.fault.detail)"
        }

        // Each injected fault: raised once within its delay after it began, cleared once within its delay
        // after it ended.
        for window in FaultScenario.windows {
            let mine = faults.filter { $0.fault.bin == window.bin && $0.fault.code == window.code.rawValue }
            #expect(mine.map(\.fault.active) == [true, false], "\(window.bin)/\(window.code.rawValue): \(log)")
            guard mine.count == 2 else { continue }
            print(
                "fault scenario: \(window.bin)/\(window.code.rawValue) raised \(mine[0].at - window.startS) s after it began (within \(window.raiseWithinS)), cleared \(mine[1].at - window.endS) s after it ended (within \(window.clearWithinS))"
            )
            #expect(
                mine[0].at >= window.startS && mine[0].at <= window.startS + window.raiseWithinS,
                "\(window.bin)/\(window.code.rawValue) raised at \(mine[0].at) s, window \(window.startS)-\(window.endS)"
            )
            #expect(
                mine[1].at >= window.endS && mine[1].at <= window.endS + window.clearWithinS,
                "\(window.bin)/\(window.code.rawValue) cleared at \(mine[1].at) s, window \(window.startS)-\(window.endS)"
            )
        }
        // Nothing else: no consistency fault (every contradiction here is a sensor's own fault), and nothing
        // left active at the end.
        let expected = Set(FaultScenario.windows.map { "\($0.bin)/\($0.code.rawValue)" })
        #expect(faults.allSatisfy { expected.contains("\($0.fault.bin ?? "-")/\($0.fault.code)") }, "\(log)")
        #expect(!faults.contains { $0.fault.code.hasPrefix("consistency.") }, "\(log)")
        var active: [String: Bool] = [:]
        for (fault, _) in faults { active["\(fault.bin ?? "-")/\(fault.code)"] = fault.active }
        #expect(active.values.allSatisfy { !$0 }, "\(active)")
        let health = try #require(point.recorder.health.last)
        #expect(health.activeFaults.isEmpty, "\(health.activeFaults)")

        // Deposits: none invented; only those into the dry bin while its scale was unplugged are missing
        // (their mass joins the baseline when it is back); those past the stuck lid switch are all found. Masses within 20 g, within 0.25 kg on the noisy
        // scale (σ ≈ 90 g per reading, two means of five).
        let evaluation = AccuracyEvaluation(truth: truth, events: events)
        #expect(
            evaluation.spurious.isEmpty, "spurious: \(evaluation.spurious.map { ($0.deposit.bin, seconds($0.at)) })")
        for missed in evaluation.missed {
            #expect(
                missed.bin == "dry" && missed.atS >= 5_300 && missed.atS < 6_500,
                "missed \(missed.bin) at \(missed.atS)")
        }
        #expect(evaluation.matched.count >= 36 * 3 - 2)
        for match in evaluation.matched {
            let at = match.truth.atS
            let noisy = FaultScenario.affected(bin: match.truth.bin, code: .scaleNoisy, at: at)
            let error = abs(match.event.massKg - match.truth.massKg)
            #expect(
                error <= (noisy ? 0.25 : 0.02),
                "\(match.truth.bin) deposit at \(at) s: \(match.event.massKg) kg, truly \(match.truth.massKg)")
            // A deposit weighed on the noisy scale or measured without its ranger is never `good`; one
            // outside every fault window is.
            let window = FaultScenario.windows.first { $0.bin == match.truth.bin && at >= $0.startS && at <= $0.endS }
            switch window?.code {
            case .scaleNoisy?:
                #expect(match.event.quality == .degraded, "wet deposit at \(at) s on the noisy scale")
            case .rangerNoEcho?:
                #expect(
                    match.event.volumeL == nil && match.event.quality == .degraded,
                    "wet deposit at \(at) s without echo")
            case .lidStuck?:
                // Found from the weight alone: the first two late and without volume, all `degraded`.
                #expect(match.event.quality == .degraded, "dry deposit at \(at) s past a stuck lid switch")
            case .rangerStuck?:
                // Before the fault is raised the frozen value still counts as a reading (volume about 0).
                if let raised = faults.first(where: { $0.fault.code == FaultCode.rangerStuck.rawValue }), at > raised.at
                {
                    #expect(
                        match.event.volumeL == nil && match.event.quality == .degraded,
                        "recyclable deposit at \(at) s, ranger stuck")
                }
            default:
                let clearing = FaultScenario.windows.contains {
                    $0.bin == match.truth.bin && at > $0.endS && at <= $0.endS + $0.clearWithinS
                }
                if !clearing {
                    #expect(
                        match.event.quality == .good, "\(match.truth.bin) deposit at \(at) s: \(match.event.quality)")
                }
            }
        }
        #expect(evaluation.collections.count == 2 && evaluation.missedCollections.isEmpty)

        // Lid state goes out as soon as the edge is handled, before the next scale conversion: the lid-open
        // state's time (the point's virtual clock) is the edge's plus the 30 ms debounce, not plus the
        // HX711's 400 ms wake-up for the burst the edge asks for. (At full speed some lid-open states are
        // coalesced with the closing one before the publisher sends them; those are not counted. How many
        // depends on the machine's load: of the 108 deposits, CI's runs kept at least 20, runs beside a
        // parallel build 15-21, so at least 10 are asked for, enough for the figures below to mean something.)
        var lags: [Double] = []
        let deposits = truth.records.filter { $0.type == "deposit" }
        for record in deposits {
            let opened = point.recorder.states(bin: record.bin).first {
                $0.lidOpen && seconds($0.ts) >= record.atS && seconds($0.ts) < record.atS + FaultScenario.lidOpenS
            }
            if let opened { lags.append(seconds(opened.ts) - record.atS) }
        }
        #expect(lags.count >= 10, "\(lags.count) lid-open states seen for \(deposits.count) deposits")
        #expect(
            (AccuracyEvaluation.percentile(lags, 0.9) ?? 1) <= 0.05, "lid-open state after the edge: \(lags.sorted())")
        // An edge that comes while the loop is in a sensor operation waits for that one operation: at worst
        // an unplugged HX711's bounded wait for data ready (700 ms at 10 SPS).
        #expect((lags.max() ?? 1) <= 0.75, "lid-open state after the edge: \(lags.sorted().suffix(5))")
        try await point.subscriber.stop()
    }
}
