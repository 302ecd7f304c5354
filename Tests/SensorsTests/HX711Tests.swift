import GPIO
import Sensors
import Simulation
import Testing

/// The HX711 driver against the line-level model on a simulated chip.
@Suite struct HX711Tests {
    struct Rig {
        let chip = SimulatedChip(lineNames: ["PD_SCK", "DOUT"])
        let model: HX711Model
        let driver: HX711

        init(
            model configuration: HX711Model.Configuration = .init(offsetCounts: 84_000, countsPerKilogram: 21_000),
            driver driverConfiguration: HX711.Configuration = .init()
        ) throws {
            model = try HX711Model(chip: chip, clockLine: 0, dataLine: 1, configuration: configuration)
            driver = try HX711(chip: chip, clockLine: 0, dataLine: 1, configuration: driverConfiguration)
        }
    }

    @Test func returnsTheSimulatedCountsExactlyAtEveryGain() throws {
        let rig = try Rig()
        rig.model.massKilograms = 12.5
        for gain in [HX711.Gain.channelA128, .channelB32, .channelA64, .channelA128, .channelA64, .channelB32] {
            rig.driver.gain = gain
            let modelGain = try #require(HX711Model.Gain(rawValue: gain.rawValue))
            let expected = rig.model.idealCode(massKilograms: 12.5, gain: modelGain)
            #expect(try rig.driver.read() == expected)
            #expect(try rig.driver.read() == expected)
        }
        // The first read after the reset in init, and each read that switched the gain, were discarded.
        #expect(rig.driver.statistics.discarded == 6)
        #expect(rig.driver.statistics.reads == 12)
        #expect(rig.driver.statistics.timingViolations == 0)
    }

    @Test func negativeAndChangingMassesReadExactly() throws {
        let rig = try Rig(model: .init(offsetCounts: -50_000, countsPerKilogram: 21_000))
        for mass in [0.0, 1.25, 40, -2] {
            rig.model.massKilograms = mass
            _ = try rig.driver.read()  // the conversion in flight may predate the change
            #expect(try rig.driver.read() == rig.model.idealCode(massKilograms: mass, gain: .channelA128))
        }
    }

    @Test func aBurstReturnsTheMedianOfItsSamples() throws {
        let rig = try Rig(
            model: .init(
                dataRate: .eightyPerSecond, offsetCounts: 84_000, countsPerKilogram: 21_000, noiseCounts: 30, seed: 4),
            driver: .init(dataRate: .eightyPerSecond))
        rig.model.massKilograms = 3
        let burst = try rig.driver.read(samples: 9)
        #expect(burst.codes.count == 9)
        #expect(burst.median == RobustStatistics.median(burst.codes))
        #expect(abs(burst.median - 147_000) < 60)  // within 2σ of the truth, for 9 samples
        #expect(burst.spread > 0)
        #expect(burst.endedAtNanoseconds > burst.startedAtNanoseconds)
    }

    @Test func aReadStretchedPast60MicrosecondsIsDetectedDiscardedAndRecoveredFrom() throws {
        let rig = try Rig()
        rig.model.massKilograms = 7
        let expected = rig.model.idealCode(massKilograms: 7, gain: .channelA128)
        #expect(try rig.driver.read() == expected)
        // The next PD_SCK rising edge is followed by an 80 µs preemption: the part powers down
        // mid-read and would return garbage.
        rig.chip.injectOutputStretch(nanoseconds: 80_000)
        #expect(try rig.driver.read() == expected)
        let statistics = rig.driver.statistics
        #expect(statistics.timingViolations == 1)
        #expect(statistics.retries == 1)
        #expect(statistics.discarded == 2)  // after init, and the first read after the recovery reset
        #expect(!rig.model.isPoweredDown)
    }

    @Test func aHighPhaseOverTheLimitButUnder60MicrosecondsIsAlsoDiscarded() throws {
        let rig = try Rig()
        _ = try rig.driver.read()
        rig.chip.injectOutputStretch(nanoseconds: 40_000)
        #expect(try rig.driver.read() == rig.model.idealCode(massKilograms: 0, gain: .channelA128))
        #expect(rig.driver.statistics.timingViolations == 1)
    }

    @Test func aPartThatCanNeverBeReadInTimeGivesATimingFault() throws {
        // A 0.5 µs limit with 1 µs clock phases: every read violates it.
        let rig = try Rig(driver: .init(name: "hx711 wet", maximumHighPhaseNanoseconds: 500, maximumAttempts: 3))
        #expect {
            try rig.driver.read()
        } throws: { error in
            let error = error as? SensorError
            return error?.code == .timingViolation
                && error?.description
                    == "hx711 wet (sim0 lines 0, 1): bit-bang timing violated: PD_SCK stayed high 1 µs (limit 0.5 µs) on 3 attempts"
        }
        #expect(rig.driver.statistics.timingViolations == 3)
        #expect(rig.driver.statistics.retries == 2)
    }

    @Test func aDisconnectedPartIsNotReadyWithinABoundedWait() throws {
        let rig = try Rig(driver: .init(name: "hx711 wet"))
        rig.model.setFault(.disconnected)
        let start = rig.chip.nowNanoseconds
        #expect {
            try rig.driver.read()
        } throws: { error in
            "\(error)" == "hx711 wet (sim0 lines 0, 1): not ready: DOUT stayed high for 700 ms"
        }
        #expect(rig.chip.nowNanoseconds - start <= 701_000_000)
        #expect(rig.driver.statistics.notReady == 1)
        // Reconnected, it reads again.
        rig.model.setFault(nil)
        #expect(try rig.driver.read() == 84_000)
    }

    @Test func saturatedCodesAreFaultsNotWeights() throws {
        let rig = try Rig()
        rig.model.massKilograms = 1_000  // 21 million counts: beyond full scale
        #expect {
            try rig.driver.read()
        } throws: { error in
            (error as? SensorError)?.code == .saturated && "\(error)".hasSuffix("code 0x7FFFFF (positive full scale)")
        }
        rig.model.massKilograms = -1_000
        _ = try? rig.driver.read()
        #expect(throws: SensorError.self) { try rig.driver.read() }
        rig.model.setFault(.saturated)
        #expect(throws: SensorError.self) { try rig.driver.read() }
        #expect(rig.driver.statistics.saturated >= 3)
    }

    /// A DOUT wire shorted to ground: reads as ready, never releases.
    final class ShortedDataLine: SimulatedLineDevice {
        func hostDidDrive(_ offset: LineOffset, high: Bool, bus: inout SimulationBus) {}
    }

    @Test func aDataLineThatStaysLowAfterTheReadIsAFault() throws {
        let chip = SimulatedChip(lineCount: 2)
        chip.perform { bus in bus.drive(1, high: false) }
        try chip.attach(ShortedDataLine(), listeningTo: [0])
        let driver = try HX711(chip: chip, clockLine: 0, dataLine: 1, configuration: .init(maximumAttempts: 2))
        #expect {
            try driver.read()
        } throws: { error in
            (error as? SensorError)?.code == .dataLineStuck
                && "\(error)".hasSuffix("DOUT stayed low after the 25th PD_SCK pulse")
        }
        #expect(driver.statistics.dataLineStuck == 2)
    }

    @Test func powerDownBetweenReadingsAndWakeForTheNext() throws {
        let rig = try Rig(driver: .init(powerDownAfterBurst: true))
        rig.model.massKilograms = 2
        _ = try rig.driver.read(samples: 3)
        #expect(rig.driver.isPoweredDown)
        rig.chip.advance(byNanoseconds: 1_000_000)
        #expect(rig.model.isPoweredDown)
        rig.chip.advance(byNanoseconds: 3_600_000_000)
        let burst = try rig.driver.read(samples: 3)
        #expect(burst.codes == Array(repeating: rig.model.idealCode(massKilograms: 2, gain: .channelA128), count: 3))
        #expect(rig.driver.statistics.discarded == 2)
    }

    @Test func linesAlreadyTakenGiveAGPIOErrorNamingThem() throws {
        let chip = SimulatedChip(lineCount: 2)
        let taken = try chip.requestOutput(0, consumer: "someone-else", initialValue: false)
        defer { taken.release() }
        #expect {
            try HX711(chip: chip, clockLine: 0, dataLine: 1, configuration: .init(name: "hx711 dry"))
        } throws: { error in
            "\(error)"
                == "hx711 dry (sim0 lines 0, 1): GPIO error: sim0 line 0: gpiod_line_request_output failed: Device or resource busy (EBUSY)"
        }
    }
}
