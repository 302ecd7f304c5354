import BinProtocol
import Foundation
import Simulation
import Testing
import YAMLConfig

@Suite("Scenario files")
struct ScenarioTests {
    static let designExample = """
        device: pt-0001
        start: 2026-06-01T06:00:00+08:00   # virtual start time; payload ts follow virtual time
        seed: 42                            # sensor noise is reproducible
        temperature_c: 24
        bins:
          - id: wet
            stream: wet                     # wet | dry | recyclable | hazardous
            shape: {kind: box, width_mm: 480, length_mm: 550, depth_mm: 900}
            scale: {counts_per_kg: 21000, offset_counts: 84000, noise_counts: 30}
            ranger: {mount_mm: 40, jitter_us: 8}
            lid: true
          - id: dry
            stream: dry
            shape: {kind: cylinder, diameter_mm: 600, depth_mm: 1000}
        events:                             # `at`: seconds after start
          - {at: 3600, collect: {bin: wet}}
          - {at: 120, deposit: {bin: wet, mass_kg: 1.2, volume_l: 2.0}}
          - {at: 5000, fault: {bin: wet, sensor: ranger, kind: no_echo, for_s: 600}}
          - {at: 7000, temperature_c: 5}
          - {at: 8000, network: {down_for_s: 1800}}
        end: 86400
        """

    @Test("the example of DESIGN section 8 parses, with events in time order")
    func designExampleParses() throws {
        let scenario = try Scenario.parse(Self.designExample, file: "example.yaml")
        #expect(scenario.device == "pt-0001")
        #expect(scenario.start.rfc3339 == "2026-06-01T06:00:00.000+08:00")
        #expect(scenario.seed == 42)
        #expect(scenario.bins.map(\.id) == ["wet", "dry"])
        #expect(abs(scenario.bins[0].shape.capacityL - 237.6) < 1e-9)
        #expect(scenario.bins[1].lid == true)
        #expect(scenario.events.map(\.at) == [120, 3600, 5000, 7000, 8000])
        guard case .deposit(let deposit) = scenario.events[0].action else {
            Issue.record("first event is not the deposit")
            return
        }
        #expect(deposit.massKg == 1.2)
        #expect(deposit.material == nil)
        #expect(scenario.events[3].action == .temperature(5))
        guard case .fault(let fault) = scenario.events[2].action else {
            Issue.record("third event is not the fault")
            return
        }
        #expect(fault.kind == .noEcho)
        #expect(fault.forS == 600)
    }

    @Test(
        "mistakes are reported with file, line, column, field and the value",
        arguments: [
            (
                "  - {at: 120, deposit: {bin: compost, mass_kg: 1.2, volume_l: 2.0}}",
                "bad.yaml:6:30: events[0].deposit.bin: no bin \"compost\""
            ),
            (
                "  - {at: 120, deposit: {bin: wet, mass_kg: -1, volume_l: 2.0}}",
                "bad.yaml:6:44: events[0].deposit.mass_kg: must be 0 < mass <= 5000 kg, got -1"
            ),
            (
                "  - {at: 120, deposit: {bin: wet, mass: 1, volume_l: 2.0}}",
                "bad.yaml:6:35: events[0].deposit.mass: unknown key (expected one of: bin, lid_open_s, mass_kg, material, volume_l)"
            ),
            (
                "  - {at: 99999, collect: {bin: wet}}",
                "bad.yaml:6:10: events[0].at: at 99999 s is outside the scenario (0...86400)"
            ),
            ("  - {at: 10, collect: {bin: wet}, temperature_c: 3}", "bad.yaml:6:5: events[0]: needs exactly one of"),
            (
                "  - {at: 10, fault: {bin: wet, sensor: lid, kind: saturated}}",
                "bad.yaml:6:51: events[0].fault.kind: a lid cannot have fault saturated"
            ),
        ])
    func mistakes(eventLine: String, expected: String) {
        let yaml = """
            device: pt-1
            start: 2026-06-01T06:00:00+08:00
            bins:
              - {id: wet, stream: wet, shape: {kind: box, width_mm: 480, length_mm: 550, depth_mm: 900}}
            events:
            \(eventLine)
            end: 86400
            """
        do {
            _ = try Scenario.parse(yaml, file: "bad.yaml")
            Issue.record("accepted: \(eventLine)")
        } catch {
            #expect(error.code == .invalid)
            #expect(error.message == "bad.yaml: \(error.issues.count) error(s) in the scenario")
            #expect(error.issues.contains { $0.description.hasPrefix(expected) }, "\(error)")
        }
    }

    @Test("every mistake in a file is reported at once")
    func everyMistakeAtOnce() {
        let yaml = """
            device: pt/1
            start: yesterday
            bins:
              - {id: wet, stream: compost, shape: {kind: box, width_mm: 480, length_mm: 550, depth_mm: 900}}
              - {id: wet, stream: dry, shape: {kind: cone, depth_mm: 900}}
            events:
              - {at: 10, collect: {bin: dry}}
            end: 86400
            """
        do {
            _ = try Scenario.parse(yaml, file: "bad.yaml")
            Issue.record("accepted a scenario with five mistakes")
        } catch {
            #expect(
                error.issues.map(\.description) == [
                    "bad.yaml:1:9: device: \"pt/1\" is not a valid device id (1 to 64 letters, digits, '-', '_' or '.')",
                    "bad.yaml:2:8: start: \"yesterday\" is not an RFC 3339 time with offset (e.g. 2026-06-01T06:00:00+08:00)",
                    "bad.yaml:4:23: bins[0].stream: \"compost\" is not one of wet | dry | recyclable | hazardous",
                    "bad.yaml:5:42: bins[1].shape.kind: \"cone\" is not one of box | cylinder",
                    "bad.yaml:7:29: events[0].collect.bin: no bin \"dry\" in bins",
                ])
        }
    }

    @Test("every scenario shipped in scenarios/ parses")
    func shippedScenariosParse() throws {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("scenarios")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".yaml") }
        #expect(files.count >= 7)
        for file in files {
            let scenario = try Scenario.load(path: directory.appendingPathComponent(file).path)
            #expect(!scenario.events.isEmpty, "\(file) has no events")
        }
    }

    @Test("an installer cannot mount the ranger below the bin's bottom")
    func mountBeyondDepth() {
        let yaml = """
            device: pt-1
            start: 2026-06-01T06:00:00Z
            bins:
              - {id: wet, stream: wet, shape: {kind: cylinder, diameter_mm: 600, depth_mm: 500}, ranger: {mount_mm: 600}}
            end: 60
            """
        do {
            _ = try Scenario.parse(yaml, file: "s.yaml")
            Issue.record("accepted a ranger below the bottom")
        } catch {
            #expect(
                error.issues.map(\.description) == [
                    "s.yaml:4:94: bins[0].ranger.mount_mm: 600 mm must be less than the bin depth 500 mm"
                ])
        }
    }
}
