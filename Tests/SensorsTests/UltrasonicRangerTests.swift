import GPIO
import Sensors
import Simulation
import Synchronization
import Testing

@Suite struct UltrasonicRangerTests {
    struct Rig {
        let chip = SimulatedChip(lineNames: ["TRIG", "ECHO"])
        let model: UltrasonicRangerModel
        let driver: UltrasonicRanger

        init(
            model configuration: UltrasonicRangerModel.Configuration = Rig.hcSR04(jitterNanoseconds: 8_000),
            driver driverConfiguration: UltrasonicRanger.Configuration = .hcSR04()
        ) throws {
            model = try UltrasonicRangerModel(chip: chip, triggerLine: 0, echoLine: 1, configuration: configuration)
            driver = try UltrasonicRanger(chip: chip, triggerLine: 0, echoLine: 1, configuration: driverConfiguration)
        }

        static func hcSR04(jitterNanoseconds: Double, seed: UInt64 = 11) -> UltrasonicRangerModel.Configuration {
            var configuration = UltrasonicRangerModel.Configuration.hcSR04
            configuration.jitterNanoseconds = jitterNanoseconds
            configuration.seed = seed
            return configuration
        }

        func measuredMillimetres(trueMillimetres: Double, airCelsius: Double, toldCelsius: Double) throws -> Double {
            model.distanceMillimetres = trueMillimetres
            model.temperatureCelsius = airCelsius
            let measurement = try driver.measure(temperatureCelsius: toldCelsius, pings: 5)
            guard case .distance(let millimetres) = measurement.reading else {
                Issue.record("no distance at \(trueMillimetres) mm: \(measurement)")
                return .nan
            }
            return millimetres
        }
    }

    static let distances: [Double] = [30, 50, 100, 250, 500, 1_000, 1_500, 2_000, 2_500, 3_000]

    @Test(arguments: [20.0, -10, 40])
    func distancesAreWithin3MillimetresOfTheTruth(celsius: Double) throws {
        let rig = try Rig()
        for truth in Self.distances {
            let measured = try rig.measuredMillimetres(
                trueMillimetres: truth, airCelsius: celsius, toldCelsius: celsius)
            #expect(abs(measured - truth) <= 3, "\(truth) mm at \(celsius) °C read \(measured) mm")
        }
    }

    @Test func withoutTemperatureCompensationTheErrorWouldBeLarge() throws {
        // The same ranger told 20 °C while the air is 40 °C: 3.5 % long, about 106 mm at 3 m. This is
        // what the compensation in the test above is worth.
        let rig = try Rig()
        let measured = try rig.measuredMillimetres(trueMillimetres: 3_000, airCelsius: 40, toldCelsius: 20)
        #expect(measured < 3_000 - 90)
    }

    @Test func theTriggerEchoOfCloneModulesIsIgnored() throws {
        var configuration = Rig.hcSR04(jitterNanoseconds: 0)
        configuration.triggerEchoArtefact = true
        let rig = try Rig(model: configuration)
        rig.model.distanceMillimetres = 640
        let reading = try rig.driver.ping(temperatureCelsius: 20)
        guard case .distance(let millimetres) = reading else {
            Issue.record("expected a distance, got \(reading)")
            return
        }
        #expect(abs(millimetres - 640) < 0.01)
        #expect(rig.driver.statistics.ignoredEdges == 2)
    }

    /// Stretches the host's TRIG-falling operation: the process is preempted right after the trigger
    /// and only wakes up after the whole echo has come and gone.
    final class PreemptAfterTrigger: SimulatedLineDevice {
        func hostDidDrive(_ offset: LineOffset, high: Bool, bus: inout SimulationBus) {
            if !high { bus.injectOutputStretch(nanoseconds: 5_000_000) }
        }
    }

    @Test func theEchoIsTimedFromEdgeTimestampsNotFromWhenTheProcessWokeUp() throws {
        let rig = try Rig(model: Rig.hcSR04(jitterNanoseconds: 0))
        try rig.chip.attach(PreemptAfterTrigger(), listeningTo: [0])
        rig.model.distanceMillimetres = 300  // echo over 2 ms before the process runs again
        let reading = try rig.driver.ping(temperatureCelsius: 20)
        guard case .distance(let millimetres) = reading else {
            Issue.record("expected a distance, got \(reading)")
            return
        }
        #expect(abs(millimetres - 300) < 0.01)
    }

    @Test func aSurfaceInTheBlindZoneIsReportedAsSuch() throws {
        let rig = try Rig(model: .jsnSR04T, driver: .jsnSR04T())
        rig.model.distanceMillimetres = 100
        #expect(try rig.driver.ping(temperatureCelsius: 20) == .blindZone)
        let measurement = try rig.driver.measure(temperatureCelsius: 20, pings: 3)
        #expect(measurement.reading == .blindZone)
        #expect(measurement.blindZonePings == 3)
        #expect(measurement.spreadMillimetres == nil)
        rig.model.distanceMillimetres = 400
        guard case .distance(let millimetres) = try rig.driver.ping(temperatureCelsius: 20) else {
            Issue.record("expected a distance past the blind zone")
            return
        }
        #expect(abs(millimetres - 400) < 5)
    }

    @Test func nothingInRangeAndAnUnpluggedModuleGiveNoEcho() throws {
        let rig = try Rig()
        rig.model.distanceMillimetres = 6_000
        #expect(try rig.driver.ping(temperatureCelsius: 20) == .noEcho)
        #expect(rig.driver.statistics.echoTimeouts == 1)
        rig.model.fault = .disconnected
        #expect(try rig.driver.measure(temperatureCelsius: 20, pings: 3).reading == .noEcho)
        #expect(rig.driver.statistics.noPulse == 3)
    }

    /// Records when TRIG rises.
    final class TriggerLog: SimulatedLineDevice {
        let rises = Mutex<[UInt64]>([])
        func hostDidDrive(_ offset: LineOffset, high: Bool, bus: inout SimulationBus) {
            if high { rises.withLock { $0.append(bus.nowNanoseconds) } }
        }
    }

    @Test func pingsAreSpacedSoALateEchoIsNotTakenForTheNext() throws {
        let rig = try Rig()
        let log = TriggerLog()
        try rig.chip.attach(log, listeningTo: [0])
        rig.model.distanceMillimetres = 200
        _ = try rig.driver.measure(temperatureCelsius: 20, pings: 4)
        let rises = log.rises.withLock { $0 }
        #expect(rises.count == 4)
        for (earlier, later) in zip(rises, rises.dropFirst()) { #expect(later - earlier >= 60_000_000) }
    }

    @Test func aMajorityOfGoodPingsGivesTheirMedian() throws {
        let rig = try Rig(model: Rig.hcSR04(jitterNanoseconds: 0))
        rig.model.distanceMillimetres = 1_200
        let measurement = try rig.driver.measure(temperatureCelsius: 20, pings: 5)
        #expect(measurement.distancePings == 5)
        #expect(measurement.spreadMillimetres == 0)
        guard case .distance(let millimetres) = measurement.reading else {
            Issue.record("expected a distance")
            return
        }
        #expect(abs(millimetres - 1_200) < 0.01)
    }

    @Test func impossibleConfigurationsAreRejected() {
        let chip = SimulatedChip(lineCount: 2)
        #expect {
            try UltrasonicRanger(
                chip: chip, triggerLine: 0, echoLine: 1,
                configuration: .init(
                    name: "ranger wet", blindZoneMillimetres: 20, maximumRangeMillimetres: 4_000,
                    triggerPulseNanoseconds: 5_000))
        } throws: { error in
            (error as? SensorError)?.code == .invalidConfiguration
                && "\(error)".hasPrefix("ranger wet (sim0 lines 0, 1): invalid configuration")
        }
    }
}
