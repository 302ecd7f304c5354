import Foundation
import Sensors
import Testing

@Suite struct ScaleCalibrationTests {
    @Test func twoPointCalibrationMapsCountsToKilograms() throws {
        let calibration = try ScaleCalibration(emptyCounts: 84_000, loadedCounts: 189_000, knownMassKilograms: 5)
        #expect(calibration.offsetCounts == 84_000)
        #expect(calibration.countsPerKilogram == 21_000)
        #expect(calibration.kilograms(fromCounts: 346_500) == 12.5)
        #expect(calibration.counts(forKilograms: 1) == 105_000)
        // A load cell wired the other way round is still a valid scale.
        let reversed = try ScaleCalibration(emptyCounts: 0, loadedCounts: -21_000, knownMassKilograms: 1)
        #expect(reversed.kilograms(fromCounts: -42_000) == 2)
    }

    @Test func tareMovesTheZeroAndKeepsTheSlope() throws {
        let calibration = try ScaleCalibration(offsetCounts: 84_000, countsPerKilogram: 21_000)
        let tared = try calibration.tared(atCounts: 105_000)
        #expect(tared.kilograms(fromCounts: 105_000) == 0)
        #expect(tared.countsPerKilogram == 21_000)
    }

    @Test func degenerateInputGetsAClearError() {
        #expect {
            try ScaleCalibration(emptyCounts: 84_000, loadedCounts: 84_000, knownMassKilograms: 5)
        } throws: { error in
            "\(error)"
                == "scale calibration: degenerate calibration: the loaded and empty readings are equal (84000.0 counts): is the reference mass on the scale?"
        }
        for mass in [0.0, -1, .nan, .infinity] {
            #expect(throws: SensorError.self) {
                try ScaleCalibration(emptyCounts: 0, loadedCounts: 1_000, knownMassKilograms: mass)
            }
        }
        #expect(throws: SensorError.self) { try ScaleCalibration(offsetCounts: 0, countsPerKilogram: 0.5) }
        #expect(throws: SensorError.self) { try ScaleCalibration(offsetCounts: .nan, countsPerKilogram: 100) }
    }

    @Test func itIsStoredAsJSONWithTheScenarioFieldNames() throws {
        let calibration = try ScaleCalibration(offsetCounts: 84_000, countsPerKilogram: 21_000)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let json = String(decoding: try encoder.encode(calibration), as: UTF8.self)
        #expect(json == #"{"counts_per_kg":21000,"offset_counts":84000}"#)
        #expect(try JSONDecoder().decode(ScaleCalibration.self, from: Data(json.utf8)) == calibration)
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(ScaleCalibration.self, from: Data(#"{"counts_per_kg":0,"offset_counts":1}"#.utf8))
        }
    }
}
