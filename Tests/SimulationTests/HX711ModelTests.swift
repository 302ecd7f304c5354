import GPIO
import Simulation
import Testing

/// The HX711 model driven by hand at line level: every datasheet rule the driver relies on.
@Suite struct HX711ModelTests {
    struct Rig {
        let chip = SimulatedChip(lineNames: ["PD_SCK", "DOUT"])
        let model: HX711Model
        let clock: any GPIOOutputLine
        let data: any GPIOEventLine

        init(_ configuration: HX711Model.Configuration = .init()) throws {
            model = try HX711Model(chip: chip, clockLine: 0, dataLine: 1, configuration: configuration)
            clock = try chip.requestOutput(0, consumer: "test", initialValue: false)
            data = try chip.requestEvents(1, consumer: "test", edges: .both, bias: .asIs)
        }
    }

    @Test func theFirstConversionIsReadyOnlyAfterSettling() throws {
        let rig = try Rig()
        #expect(try rig.data.get() == true)
        rig.chip.advance(toNanoseconds: 399_999_999)
        #expect(try rig.data.get() == true)
        #expect(try waitForHX711Ready(rig.data, timeoutNanoseconds: 1_000_000_000) == 400_000_000)
    }

    @Test func bitsShiftOutMSBFirstOnRisingEdgesAndThe25thPulseReleasesDOUT() throws {
        let rig = try Rig(.init(offsetCounts: 0x12_3456, countsPerKilogram: 1_000))
        _ = try waitForHX711Ready(rig.data, timeoutNanoseconds: 1_000_000_000)
        // Bit by bit: DOUT shows bit 23 after the first rising edge, bit 0 after the 24th.
        for bit in (0..<24).reversed() {
            try rig.clock.set(true)
            #expect(try rig.data.get() == ((0x12_3456 >> bit) & 1 == 1))
            try rig.clock.set(false)
        }
        #expect(try rig.data.get() == false)  // LSB of 0x123456 is 0; DOUT still shows it
        try rig.clock.pulse()
        #expect(try rig.data.get() == true)
        #expect(rig.model.completedReads == 1)
    }

    @Test func negativeValuesAreTwosComplement() throws {
        let rig = try Rig(.init(offsetCounts: -1_000))
        _ = try waitForHX711Ready(rig.data, timeoutNanoseconds: 1_000_000_000)
        let read = try shiftOutHX711(clock: rig.clock, data: rig.data, pulses: 25)
        #expect(read.code == -1_000)
        #expect(read.doutAfter == true)
    }

    @Test func theValueFollowsTheTrueMassAtEachGain() throws {
        let rig = try Rig(.init(offsetCounts: 84_000, countsPerKilogram: 21_000))
        rig.model.massKilograms = 12.5
        _ = try waitForHX711Ready(rig.data, timeoutNanoseconds: 1_000_000_000)
        let atA128 = try shiftOutHX711(clock: rig.clock, data: rig.data, pulses: 25).code
        #expect(atA128 == 84_000 + 262_500)
        #expect(atA128 == rig.model.idealCode(massKilograms: 12.5, gain: .channelA128))
        #expect(rig.model.idealCode(massKilograms: 12.5, gain: .channelB32) == 346_500 / 4)
        #expect(rig.model.idealCode(massKilograms: 12.5, gain: .channelA64) == 346_500 / 2)
    }

    @Test func extraPulsesSelectTheGainOfTheNextConversionWhichSettlesFirst() throws {
        let rig = try Rig(.init(offsetCounts: 400_000))
        _ = try waitForHX711Ready(rig.data, timeoutNanoseconds: 1_000_000_000)
        // 26 pulses: this read is still at gain 128, the next conversion at gain 32 (channel B).
        let changing = try shiftOutHX711(clock: rig.clock, data: rig.data, pulses: 26)
        #expect(changing.code == 400_000)
        #expect(rig.model.gain == .channelB32)
        let changedAt = rig.chip.nowNanoseconds - 2_000  // the 26th rising edge
        // Conversions keep their 100 ms cadence; the first one output is the first after settling.
        let ready = try #require(try waitForHX711Ready(rig.data, timeoutNanoseconds: 1_000_000_000))
        #expect(ready >= changedAt + 400_000_000 && ready <= changedAt + 500_000_000)
        #expect(try shiftOutHX711(clock: rig.clock, data: rig.data, pulses: 27).code == 100_000)
        #expect(rig.model.gain == .channelA64)
        _ = try waitForHX711Ready(rig.data, timeoutNanoseconds: 1_000_000_000)
        #expect(try shiftOutHX711(clock: rig.clock, data: rig.data, pulses: 27).code == 200_000)
        // Same gain again: no settling, the next conversion comes one period later.
        let readAt = rig.chip.nowNanoseconds
        let next = try #require(try waitForHX711Ready(rig.data, timeoutNanoseconds: 1_000_000_000))
        #expect(next - readAt <= 100_000_000)
    }

    @Test func clockHighForMoreThan60MicrosecondsPowersDownAndWakingResetsToGain128() throws {
        let rig = try Rig(.init(offsetCounts: 400_000))
        _ = try waitForHX711Ready(rig.data, timeoutNanoseconds: 1_000_000_000)
        _ = try shiftOutHX711(clock: rig.clock, data: rig.data, pulses: 27)  // select gain 64
        #expect(rig.model.gain == .channelA64)

        try rig.clock.set(true)
        rig.chip.advance(byNanoseconds: 59_000)
        #expect(!rig.model.isPoweredDown)
        rig.chip.advance(byNanoseconds: 2_000)
        #expect(rig.model.isPoweredDown)
        #expect(try rig.data.get() == true)
        rig.chip.advance(byNanoseconds: 2_000_000_000)  // no conversions while down
        #expect(try rig.data.get() == true)

        try rig.clock.set(false)
        let wokeAt = rig.chip.nowNanoseconds
        #expect(!rig.model.isPoweredDown)
        #expect(rig.model.gain == .channelA128)
        #expect(try waitForHX711Ready(rig.data, timeoutNanoseconds: 1_000_000_000) == wokeAt + 400_000_000)
        #expect(try shiftOutHX711(clock: rig.clock, data: rig.data, pulses: 25).code == 400_000)
    }

    @Test func aHighPhaseJustUnder60MicrosecondsKeepsThePartRunning() throws {
        let rig = try Rig(.init(offsetCounts: 5))
        _ = try waitForHX711Ready(rig.data, timeoutNanoseconds: 1_000_000_000)
        try rig.clock.pulse(highNanoseconds: 59_000)
        #expect(!rig.model.isPoweredDown)
    }

    @Test func codesSaturateAtTheLimits() throws {
        let rig = try Rig(.init(offsetCounts: 0, countsPerKilogram: 100_000))
        rig.model.massKilograms = 500
        _ = try waitForHX711Ready(rig.data, timeoutNanoseconds: 1_000_000_000)
        #expect(try shiftOutHX711(clock: rig.clock, data: rig.data, pulses: 25).code == 0x7F_FFFF)
        rig.model.massKilograms = -500
        _ = try waitForHX711Ready(rig.data, timeoutNanoseconds: 1_000_000_000)
        #expect(try shiftOutHX711(clock: rig.clock, data: rig.data, pulses: 25).code == -0x80_0000)
    }

    @Test func conversionsArriveAtTheDataRate() throws {
        let rig = try Rig(.init(dataRate: .eightyPerSecond))
        let first = try #require(try waitForHX711Ready(rig.data, timeoutNanoseconds: 1_000_000_000))
        #expect(first == 50_000_000)
        _ = try shiftOutHX711(clock: rig.clock, data: rig.data, pulses: 25)
        let second = try #require(try waitForHX711Ready(rig.data, timeoutNanoseconds: 1_000_000_000))
        #expect(second == first + 12_500_000)
    }

    @Test func aConversionFinishingDuringASlowReadDoesNotCorruptIt() throws {
        let rig = try Rig(.init(dataRate: .eightyPerSecond, offsetCounts: 1_000, countsPerKilogram: 1_000))
        _ = try waitForHX711Ready(rig.data, timeoutNanoseconds: 1_000_000_000)
        rig.model.massKilograms = 5  // the next conversion would read 6000
        var raw: UInt32 = 0
        for _ in 0..<24 {
            try rig.clock.set(true)
            raw = (raw << 1) | (try rig.data.get() ? 1 : 0)
            try rig.clock.set(false)
            rig.chip.advance(byNanoseconds: 1_000_000)  // long low phases are allowed
        }
        try rig.clock.pulse()
        #expect(raw == 1_000)
        _ = try waitForHX711Ready(rig.data, timeoutNanoseconds: 1_000_000_000)
        #expect(try shiftOutHX711(clock: rig.clock, data: rig.data, pulses: 25).code == 6_000)
    }

    @Test func noiseIsGaussianAroundTheValueAndReproducibleFromTheSeed() throws {
        func codes(seed: UInt64) throws -> [Int32] {
            let rig = try Rig(.init(dataRate: .eightyPerSecond, offsetCounts: 10_000, noiseCounts: 30, seed: seed))
            var result: [Int32] = []
            for _ in 0..<200 {
                _ = try waitForHX711Ready(rig.data, timeoutNanoseconds: 1_000_000_000)
                result.append(try shiftOutHX711(clock: rig.clock, data: rig.data, pulses: 25).code)
            }
            return result
        }
        let first = try codes(seed: 9)
        #expect(try codes(seed: 9) == first)
        #expect(try codes(seed: 10) != first)
        let mean = first.map(Double.init).reduce(0, +) / Double(first.count)
        #expect(abs(mean - 10_000) < 10)
        #expect(Set(first).count > 50)
    }

    @Test func faultsDisconnectedStuckSaturatedAndNoisy() throws {
        let rig = try Rig(.init(offsetCounts: 1_234))
        rig.model.setFault(.disconnected)
        #expect(try waitForHX711Ready(rig.data, timeoutNanoseconds: 2_000_000_000) == nil)
        try rig.clock.pulse()
        #expect(try rig.data.get() == true)

        rig.model.setFault(.stuck(code: 777))
        _ = try waitForHX711Ready(rig.data, timeoutNanoseconds: 1_000_000_000)
        #expect(try shiftOutHX711(clock: rig.clock, data: rig.data, pulses: 25).code == 777)

        rig.model.setFault(.saturated)
        _ = try waitForHX711Ready(rig.data, timeoutNanoseconds: 1_000_000_000)
        #expect(try shiftOutHX711(clock: rig.clock, data: rig.data, pulses: 25).code == 0x7F_FFFF)

        rig.model.setFault(.extraNoise(standardDeviationCounts: 500))
        var seen: Set<Int32> = []
        for _ in 0..<10 {
            _ = try waitForHX711Ready(rig.data, timeoutNanoseconds: 1_000_000_000)
            seen.insert(try shiftOutHX711(clock: rig.clock, data: rig.data, pulses: 25).code)
        }
        #expect(seen.count > 5)

        rig.model.setFault(nil)
        _ = try waitForHX711Ready(rig.data, timeoutNanoseconds: 1_000_000_000)
        #expect(try shiftOutHX711(clock: rig.clock, data: rig.data, pulses: 25).code == 1_234)
    }
}
