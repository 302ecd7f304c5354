import BinDaemon
import BinProtocol
import Foundation
import Simulation

/// The world's truth as JSON (`binsd simulate --truth-out FILE`): what really went into and out of each
/// bin and when, plus the scenario's fault windows, outages and temperature changes, so a test or the
/// accuracy table can compare the daemon's events with it.
///
/// ```json
/// {"device": "pt-0001", "start": "2026-06-01T06:00:00.000+08:00", "end_s": 86400,
///  "calibration_reference_kg": 10,
///  "records": [{"bin": "wet", "type": "deposit", "at_s": 120, "ts": "...", "mass_kg": 1.2, "volume_l": 2,
///               "material": "wet"},
///              {"bin": "wet", "type": "collection", "at_s": 3600, "ts": "...", "mass_kg": 14.2}],
///  "faults": [{"bin": "wet", "sensor": "ranger", "kind": "no_echo", "at_s": 5000, "until_s": 5600}],
///  "network": [{"at_s": 7200, "down_for_s": 900}],
///  "temperatures": [{"at_s": 7000, "celsius": 5}]}
/// ```
public enum TruthExport {
    public struct File: Codable, Sendable {
        public var device: String
        public var start: WireTimestamp
        public var endS: Double
        public var calibrationReferenceKg: Double
        public var records: [Record]
        public var faults: [FaultWindow]
        public var network: [Outage]
        public var temperatures: [TemperatureChange]

        enum CodingKeys: String, CodingKey {
            case device, start, records, faults, network, temperatures
            case endS = "end_s"
            case calibrationReferenceKg = "calibration_reference_kg"
        }
    }

    public struct Record: Codable, Sendable {
        public var bin: String
        public var type: String
        public var atS: Double
        public var ts: WireTimestamp
        public var massKg: Double
        public var volumeL: Double?
        public var material: WasteStream?

        enum CodingKeys: String, CodingKey {
            case bin, type, ts, material
            case atS = "at_s"
            case massKg = "mass_kg"
            case volumeL = "volume_l"
        }
    }

    public struct FaultWindow: Codable, Sendable {
        public var bin: String
        public var sensor: String
        public var kind: String
        public var atS: Double
        public var untilS: Double?

        enum CodingKeys: String, CodingKey {
            case bin, sensor, kind
            case atS = "at_s"
            case untilS = "until_s"
        }
    }

    public struct Outage: Codable, Sendable {
        public var atS: Double
        public var downForS: Double

        enum CodingKeys: String, CodingKey {
            case atS = "at_s"
            case downForS = "down_for_s"
        }
    }

    public struct TemperatureChange: Codable, Sendable {
        public var atS: Double
        public var celsius: Double

        enum CodingKeys: String, CodingKey {
            case celsius
            case atS = "at_s"
        }
    }

    public static func json(world: BinWorld) throws -> [UInt8] {
        let scenario = world.scenario
        let records = world.truth.map { record -> Record in
            let ts = scenario.start.adding(milliseconds: Int64((record.at * 1000).rounded()))
            switch record.kind {
            case .deposit(let massKg, let volumeL, let material):
                return Record(
                    bin: record.bin, type: "deposit", atS: record.at, ts: ts, massKg: massKg, volumeL: volumeL,
                    material: material)
            case .collection(let massKg):
                return Record(bin: record.bin, type: "collection", atS: record.at, ts: ts, massKg: massKg)
            }
        }
        var faults: [FaultWindow] = []
        var outages: [Outage] = []
        var temperatures: [TemperatureChange] = []
        for event in scenario.events {
            switch event.action {
            case .fault(let fault):
                faults.append(
                    FaultWindow(
                        bin: fault.bin, sensor: fault.sensor.rawValue, kind: fault.kind.rawValue, atS: event.at,
                        untilS: fault.forS.map { event.at + $0 }))
            case .network(let network):
                outages.append(Outage(atS: event.at, downForS: network.downForS))
            case .temperature(let celsius):
                temperatures.append(TemperatureChange(atS: event.at, celsius: celsius))
            case .deposit, .collect:
                break
            }
        }
        let file = File(
            device: scenario.device, start: scenario.start, endS: scenario.end,
            calibrationReferenceKg: scenario.calibrationReferenceKg, records: records, faults: faults, network: outages,
            temperatures: temperatures)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return Array(try encoder.encode(file)) + [0x0A]
    }

    /// Reads a file `write` produced.
    public static func read(_ path: String) throws(BinDaemonError) -> File {
        let text = try FileText.read(path)
        do {
            return try JSONDecoder().decode(File.self, from: Data(text.utf8))
        } catch {
            throw BinDaemonError(.simulation, "\(path): not a truth file: \(error)", cause: error)
        }
    }

    public static func write(world: BinWorld, to path: String) throws(BinDaemonError) {
        let bytes: [UInt8]
        do {
            bytes = try json(world: world)
        } catch {
            throw BinDaemonError(.fileUnwritable, "\(path): cannot encode the truth records: \(error)", cause: error)
        }
        try AtomicFile.write(bytes, to: path, mode: 0o644)
    }
}
