import GPIO
import Simulation
import Testing

@Suite struct UltrasonicRangerModelTests {
    struct Rig {
        let chip = SimulatedChip(lineNames: ["TRIG", "ECHO"])
        let model: UltrasonicRangerModel
        let trigger: any GPIOOutputLine
        let echo: any GPIOEventLine

        init(_ configuration: UltrasonicRangerModel.Configuration) throws {
            model = try UltrasonicRangerModel(chip: chip, triggerLine: 0, echoLine: 1, configuration: configuration)
            trigger = try chip.requestOutput(0, consumer: "test", initialValue: false)
            echo = try chip.requestEvents(1, consumer: "test", edges: .both, bias: .asIs)
        }

        /// Triggers with a pulse of `width` and collects ECHO edges for 100 ms; returns the time the
        /// trigger fell and the edges.
        func ping(triggerNanoseconds width: UInt64 = 10_000) throws -> (triggerFell: UInt64, edges: [EdgeEvent]) {
            try trigger.set(true)
            chip.clock.spin(nanoseconds: width)
            try trigger.set(false)
            let fell = chip.nowNanoseconds
            var edges: [EdgeEvent] = []
            let deadline = fell + 100_000_000
            while chip.nowNanoseconds < deadline {
                edges += try chip.waitForEvents(
                    on: [echo], timeoutNanoseconds: deadline - chip.nowNanoseconds, wakeup: nil)
            }
            return (fell, edges)
        }
    }

    static func exact(_ preset: UltrasonicRangerModel.Configuration) -> UltrasonicRangerModel.Configuration {
        var configuration = preset
        configuration.jitterNanoseconds = 0
        return configuration
    }

    @Test func theEchoIsAsWideAsTheRoundTripAtTheSpeedOfSoundForTheTemperature() throws {
        let rig = try Rig(Self.exact(.hcSR04))
        rig.model.distanceMillimetres = 1_000
        for temperature in [-10.0, 20, 40] {
            rig.model.temperatureCelsius = temperature
            let (fell, edges) = try rig.ping()
            #expect(edges.map(\.type) == [.rising, .falling])
            let expected = 2.0 / (331.3 + 0.606 * temperature) * 1e9
            #expect(edges[0].timestampNanoseconds == fell + 250_000)
            let width = Double(edges[1].timestampNanoseconds - edges[0].timestampNanoseconds)
            #expect(abs(width - expected) <= 1)
        }
        #expect(rig.model.measurementCount == 3)
    }

    @Test func jitterSpreadsTheEchoWidthAroundTheTruth() throws {
        var configuration = UltrasonicRangerModel.Configuration.hcSR04
        configuration.jitterNanoseconds = 8_000
        let rig = try Rig(configuration)
        rig.model.distanceMillimetres = 500
        var widths: [Double] = []
        for _ in 0..<50 {
            let edges = try rig.ping().edges
            widths.append(Double(edges[1].timestampNanoseconds - edges[0].timestampNanoseconds))
        }
        let truth = UltrasonicRangerModel.roundTripNanoseconds(distanceMillimetres: 500, temperatureCelsius: 20)
        let mean = widths.reduce(0, +) / Double(widths.count)
        #expect(abs(mean - truth) < 4_000)
        #expect(Set(widths).count > 40)
    }

    @Test func aTriggerShorterThan10MicrosecondsIsIgnored() throws {
        let rig = try Rig(.hcSR04)
        #expect(try rig.ping(triggerNanoseconds: 9_000).edges.isEmpty)
        #expect(rig.model.measurementCount == 0)
    }

    @Test func aTriggerDuringAMeasurementIsIgnored() throws {
        let rig = try Rig(Self.exact(.hcSR04))
        rig.model.distanceMillimetres = 3_000  // about 17.5 ms round trip
        try rig.trigger.pulse(highNanoseconds: 10_000)
        rig.chip.advance(byNanoseconds: 1_000_000)
        try rig.trigger.pulse(highNanoseconds: 10_000)
        #expect(rig.model.measurementCount == 1)
    }

    @Test func nothingInRangeHoldsEchoHighForTheTimeout() throws {
        let rig = try Rig(.hcSR04)
        rig.model.distanceMillimetres = 5_000
        let edges = try rig.ping().edges
        #expect(edges.count == 2)
        #expect(edges[1].timestampNanoseconds - edges[0].timestampNanoseconds == 38_000_000)
    }

    @Test func aSurfaceInTheBlindZoneGivesAnErraticShortEcho() throws {
        let rig = try Rig(.jsnSR04T)
        rig.model.distanceMillimetres = 120
        for _ in 0..<10 {
            let edges = try rig.ping().edges
            let width = edges[1].timestampNanoseconds - edges[0].timestampNanoseconds
            // Erratic, somewhere in 30...95 % of the 250 mm blind zone, whatever the truth.
            let apparent = Double(width) * UltrasonicRangerModel.speedOfSound(temperatureCelsius: 20) / 2e6
            #expect(apparent >= 75 - 0.01 && apparent <= 237.5 + 0.01)
        }
    }

    @Test func someClonesEchoTheTriggerFirst() throws {
        var configuration = Self.exact(.hcSR04)
        configuration.triggerEchoArtefact = true
        let rig = try Rig(configuration)
        rig.model.distanceMillimetres = 800
        let (fell, edges) = try rig.ping()
        #expect(edges.map(\.type) == [.rising, .falling, .rising, .falling])
        #expect(edges[1].timestampNanoseconds - fell < 100_000)
        #expect(edges[2].timestampNanoseconds - fell >= 100_000)
    }

    @Test func faultsDisconnectedAndStuck() throws {
        let rig = try Rig(Self.exact(.hcSR04))
        rig.model.fault = .disconnected
        #expect(try rig.ping().edges.isEmpty)
        rig.model.fault = .stuck(distanceMillimetres: 321)
        rig.model.distanceMillimetres = 1_500
        let edges = try rig.ping().edges
        let width = Double(edges[1].timestampNanoseconds - edges[0].timestampNanoseconds)
        #expect(
            abs(width - UltrasonicRangerModel.roundTripNanoseconds(distanceMillimetres: 321, temperatureCelsius: 20))
                <= 1)
    }
}
