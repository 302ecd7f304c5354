import BinProtocol
import Foundation
import Sensors
import Testing

@testable import BinDaemon

/// One bin's pipeline driven the way the sampling loop drives it (ticks, the scale conversions and ranger
/// readings it asks for, lid edges), against a bin whose true mass and volume the test sets, with sensor
/// faults switched on and off. No I/O: readings are made up from the truth with seeded noise.
struct PipelineRig {
    static let config = try! parseConfig(validConfigYAML)
    static let offsetCounts = 84_000.0
    static let countsPerKg = 21_000.0

    var pipeline: BinPipeline
    var events: [TimedEvent] = []
    var time = 0.0
    var massKg: Double
    var volumeL: Double
    var lidOpen = false
    /// σ of one scale reading (the installer measured 30 counts ≈ 1.4 g) and extra noise switched on by a test.
    var scaleSigmaKg = 30 / countsPerKg
    var extraScaleSigmaKg = 0.0
    /// σ of one ranger reading (the median of 5 pings with 8 µs of jitter) and the surface's roughness.
    var rangerSigmaMm = 0.8
    var roughnessMm = 4.0
    var surfaceOffsetMm = 0.0
    /// A frozen ranger: every reading is this distance.
    var stuckDistanceMm: Double?
    /// Something under the ranger: readings jitter around this distance whatever the surface does.
    var obstacleDistanceMm: Double?
    private var seed: UInt64

    init(massKg: Double = 5, volumeL: Double = 20, seed: UInt64 = 0x2545_F491_4F6C_DD1D) {
        self.seed = seed
        let config = Self.config
        pipeline = BinPipeline(
            bin: config.bins[0], config: config,
            calibration: StoredCalibration(
                offsetCounts: Self.offsetCounts, countsPerKg: Self.countsPerKg, noiseCounts: 30))
        self.massKg = massKg
        self.volumeL = volumeL
    }

    var bin: BinConfig { pipeline.bin }

    mutating func gaussian(_ sigma: Double) -> Double {
        func unit() -> Double {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return (Double(seed >> 11) + 0.5) / Double(1 << 53)
        }
        return sigma * (-2 * log(unit())).squareRoot() * cos(2 * Double.pi * unit())
    }

    /// The distance a live ranger would read now.
    mutating func trueDistanceMm() -> Double {
        let height = bin.geometry.heightMm(forVolumeL: volumeL)
        return bin.geometry.distanceMm(surfaceHeightMm: height, mountMm: bin.ranger!.mountMm) + surfaceOffsetMm
    }

    /// Does what the sampling loop would until `end` (seconds after `t0`).
    mutating func run(until end: Double) {
        while time < end {
            collect(pipeline.tick(at: at(time)))
            if pipeline.pendingScaleReadings > 0 {
                let sigma = (scaleSigmaKg * scaleSigmaKg + extraScaleSigmaKg * extraScaleSigmaKg).squareRoot()
                let counts = Self.offsetCounts + (massKg + gaussian(sigma)) * Self.countsPerKg
                collect(pipeline.scaleRead(.success(Int32(counts.rounded())), at: at(time)))
                time += 0.1
            } else if pipeline.pendingRangerPings != nil {
                let distance: Double
                if let stuckDistanceMm {
                    distance = stuckDistanceMm
                } else if let obstacleDistanceMm {
                    distance = obstacleDistanceMm + gaussian(rangerSigmaMm)
                } else if lidOpen {
                    distance = 2_000 + gaussian(300)
                } else {
                    distance = trueDistanceMm() + gaussian(rangerSigmaMm)
                }
                collect(pipeline.rangerRead(.success(.distance(millimetres: distance)), at: at(time)))
                time += 0.3
            } else {
                let next = pipeline.nextDeadline().map { t0.seconds(to: $0) } ?? end
                time = min(max(next, time + 0.01), end)
            }
        }
    }

    /// A lid cycle at `at` that puts `kg` and `litres` into the bin; runs until 60 s after it.
    mutating func deposit(kg: Double, litres: Double, at start: Double) {
        run(until: start)
        lidOpen = true
        collect(pipeline.lidChanged(open: true, at: at(time)))
        run(until: start + 2)
        massKg += kg
        volumeL += litres
        surfaceOffsetMm = gaussian(roughnessMm)
        run(until: start + 5)
        lidOpen = false
        collect(pipeline.lidChanged(open: false, at: at(time)))
        run(until: start + 60)
    }

    private mutating func collect(_ output: BinPipeline.Output) { events += output.events }

    var deposits: [(deposit: Deposit, at: Double)] {
        events.compactMap { if case .deposit(let d) = $0.body { (d, t0.seconds(to: $0.at)) } else { nil } }
    }

    var faults: [(fault: Fault, at: Double)] {
        events.compactMap { if case .fault(let f) = $0.body { (f, t0.seconds(to: $0.at)) } else { nil } }
    }

    func faultTimes(_ code: FaultCode, active: Bool) -> [Double] {
        faults.filter { $0.fault.code == code.rawValue && $0.fault.active == active }.map(\.at)
    }

    var consistencyFaults: [Fault] {
        faults.map(\.fault).filter { $0.code.hasPrefix("consistency.") }
    }
}

@Suite struct SensorFaultTests {
    @Test("a healthy bin through hours of deposits raises no fault at all", arguments: [1, 2, 3, 4, 5] as [UInt64])
    func healthyBinRaisesNothing(seed: UInt64) {
        var rig = PipelineRig(seed: seed)
        rig.run(until: 100)
        var start = 200.0
        for index in 0..<40 {
            let dense = index % 3 == 0
            rig.deposit(kg: dense ? 1.6 : 0.7, litres: dense ? 3 : 7, at: start)
            start += 240 + Double(index % 5) * 60
        }
        rig.run(until: start + 3_600)
        #expect(rig.deposits.count == 40)
        #expect(
            rig.faults.isEmpty,
            "\(rig.faults.map { "\($0.at) \($0.fault.code) \($0.fault.active) \($0.fault.detail)" })")
        #expect(rig.deposits.allSatisfy { $0.deposit.quality == .good })
    }

    @Test(
        "a frozen ranger: ranger.stuck once deposits went in, deposits without volume meanwhile, cleared after; no consistency fault"
    )
    func stuckRanger() {
        var rig = PipelineRig()
        rig.run(until: 100)
        rig.deposit(kg: 0.6, litres: 9, at: 300)
        rig.run(until: 1_000)
        rig.stuckDistanceMm = rig.trueDistanceMm()  // frozen from 1000 s
        // Light, bulky deposits (recyclables): the mass alone could never tell the fill stood still.
        for start in stride(from: 1_200.0, through: 3_000, by: 300) { rig.deposit(kg: 0.6, litres: 10, at: start) }
        rig.run(until: 4_000)
        rig.stuckDistanceMm = nil  // live again from 4000 s
        rig.run(until: 6_000)

        let raised = rig.faultTimes(.rangerStuck, active: true)
        let cleared = rig.faultTimes(.rangerStuck, active: false)
        #expect(raised.count == 1 && cleared.count == 1)
        // The first frozen reading follows the deposit at 1200 s; the next deposit moves the mass while the
        // reading stays; one look 30 s later makes three identical readings.
        #expect(raised.allSatisfy { $0 >= 1_500 && $0 <= 1_500 + 60 + 2 * BinPipeline.rangerRetryS }, "\(raised)")
        // While it is active the ranger is read every 30 s: two live readings clear it.
        #expect(cleared.allSatisfy { $0 >= 4_000 && $0 <= 4_000 + 2 * BinPipeline.rangerRetryS + 1 }, "\(cleared)")
        // Deposits after it was raised: mass measured, volume unknown, quality degraded, class unknown.
        let during = rig.deposits.filter { $0.at > (raised.first ?? .infinity) && $0.at < 4_000 }
        #expect(during.count >= 4)
        for (deposit, _) in during {
            #expect(deposit.volumeL == nil && deposit.observed == .unknown && deposit.quality == .degraded)
            #expect(abs(deposit.massKg - 0.6) < 0.02)
        }
        // Mass and fill agree again once the ranger is live: no consistency fault, before or after.
        #expect(rig.consistencyFaults.isEmpty, "\(rig.consistencyFaults)")
        #expect(rig.pipeline.faults.activeCodes.isEmpty)
        #expect(rig.faults.allSatisfy { $0.fault.code == FaultCode.rangerStuck.rawValue })
    }

    @Test(
        "a ranger blocked by an obstacle (still jittering) under dense deposits: consistency.mass_without_fill, cleared when it sees the surface again"
    )
    func massWithoutFillOverTheWindow() {
        var rig = PipelineRig()
        rig.run(until: 1_000)
        // Something hangs under the ranger from 1000 s: readings jitter around a fixed distance.
        rig.obstacleDistanceMm = rig.trueDistanceMm()
        for start in stride(from: 1_200.0, through: 3_300, by: 300) {
            rig.deposit(kg: 2, litres: 3, at: start)  // kitchen waste, 0.67 kg/L: 24 L in all
        }
        rig.run(until: 4_000)
        rig.obstacleDistanceMm = nil
        rig.run(until: 6_000)

        // A live ranger's jitter is not a frozen value.
        #expect(rig.faultTimes(.rangerStuck, active: true).isEmpty)
        let raised = rig.faultTimes(.massWithoutFill, active: true)
        let cleared = rig.faultTimes(.massWithoutFill, active: false)
        #expect(
            raised.count == 1 && cleared.count == 1,
            "\(rig.faults.map { "\($0.at) \($0.fault.code) \($0.fault.active)" })")
        // 8 kg since the reference (fill σ ≈ 1.6 L: 3σ + 8 kg / 1.5 kg/L is beyond 0) after the fourth
        // deposit at 2100 s; two observations a minute apart (the ranger is looked at every 30 s meanwhile).
        #expect(raised.allSatisfy { $0 >= 2_100 && $0 <= 2_100 + 60 + 60 + BinPipeline.rangerRetryS }, "\(raised)")
        #expect(cleared.allSatisfy { $0 >= 4_000 && $0 <= 4_000 + 60 + 2 * BinPipeline.rangerRetryS }, "\(cleared)")
        #expect(rig.faultTimes(.fillWithoutMass, active: true).isEmpty)
        #expect(rig.pipeline.faults.activeCodes.isEmpty)
    }

    @Test(
        "a noisy load cell: scale.noisy within two minutes, deposits meanwhile degraded, cleared within two minutes of the end"
    )
    func noisyScale() {
        var rig = PipelineRig()
        rig.deposit(kg: 1.2, litres: 2.5, at: 500)
        rig.run(until: 1_000)
        rig.extraScaleSigmaKg = 0.09  // 2000 counts, as a loose wire in the faults scenario
        rig.run(until: 1_500)
        #expect(rig.pipeline.faults.isActive(.scaleNoisy))
        #expect(rig.pipeline.snapshot.quality == .degraded)
        rig.deposit(kg: 2, litres: 4, at: 2_000)
        rig.deposit(kg: 1, litres: 8, at: 3_000)
        rig.run(until: 4_600)
        rig.extraScaleSigmaKg = 0
        rig.run(until: 6_000)

        let raised = rig.faultTimes(.scaleNoisy, active: true)
        let cleared = rig.faultTimes(.scaleNoisy, active: false)
        #expect(raised.count == 1 && cleared.count == 1)
        #expect(raised.allSatisfy { $0 >= 1_000 && $0 <= 1_000 + 120 }, "\(raised)")
        #expect(cleared.allSatisfy { $0 >= 4_600 && $0 <= 4_600 + 120 }, "\(cleared)")
        let detail = rig.faults.first { $0.fault.code == FaultCode.scaleNoisy.rawValue }?.fault.detail ?? ""
        #expect(detail.contains("reading noise σ"), "\(detail)")
        // Before the noise: good. During: every deposit found, degraded, its mass within a few σ of a mean.
        let deposits = rig.deposits
        #expect(deposits.count == 3, "\(deposits) \(rig.faults)")
        #expect(deposits.first?.deposit.quality == .good)
        for (deposit, time) in deposits.dropFirst() {
            #expect(deposit.quality == .degraded, "deposit at \(time)")
        }
        if deposits.count == 3 {
            #expect(abs(deposits[1].deposit.massKg - 2) < 0.2 && abs(deposits[2].deposit.massKg - 1) < 0.2)
        }
        #expect(rig.consistencyFaults.isEmpty, "\(rig.consistencyFaults)")
        #expect(rig.faults.allSatisfy { $0.fault.code == FaultCode.scaleNoisy.rawValue })
        #expect(rig.pipeline.faults.activeCodes.isEmpty && rig.pipeline.snapshot.quality == .good)
    }
}
