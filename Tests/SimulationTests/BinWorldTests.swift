import BinProtocol
import GPIO
import Simulation
import Synchronization
import Testing

@Suite("Bin world")
struct BinWorldTests {
    static let yaml = """
        device: pt-9
        start: 2026-06-01T06:00:00+08:00
        seed: 7
        temperature_c: 20
        bins:
          - {id: wet, stream: wet, shape: {kind: box, width_mm: 500, length_mm: 400, depth_mm: 900}, ranger: {mount_mm: 50, surface_roughness_mm: 0}}
          - {id: dry, stream: dry, shape: {kind: cylinder, diameter_mm: 600, depth_mm: 1000}, lid: false}
        events:
          - {at: 60, deposit: {bin: wet, mass_kg: 2.0, volume_l: 4.0, lid_open_s: 6}}
          - {at: 90, deposit: {bin: wet, mass_kg: 0.5, volume_l: 4.0, material: dry}}
          - {at: 120, temperature_c: -5}
          - {at: 600, collect: {bin: wet}}
          - {at: 700, network: {down_for_s: 100}}
        end: 3600
        """

    @Test("wires every bin's parts to distinct sim-board lines")
    func wiring() throws {
        let world = try BinWorld(scenario: try Scenario.parse(Self.yaml, file: "w.yaml"))
        #expect(world.wiring.count == 2)
        #expect(world.wiring[1].lid == nil)
        let lines = world.wiring.flatMap {
            [$0.scaleClock, $0.scaleData, $0.rangerTrigger, $0.rangerEcho] + ($0.lid.map { [$0] } ?? [])
        }
        #expect(Set(lines).count == lines.count)
        #expect(
            try world.chip.lineInfo(world.wiring[0].scaleClock).name
                == BinWorld.Wiring.pinName(world.wiring[0].scaleClock))
        #expect(world.chip.info.label == "bins-sim")
    }

    @Test("the timeline changes mass, volume, lid and air at the scenario's times, and logs the truth")
    func timeline() throws {
        let world = try BinWorld(scenario: try Scenario.parse(Self.yaml, file: "w.yaml"))
        let outage = OutageRecorder()
        world.scheduleTimeline { until in outage.record(until) }
        let lid = try #require(world.wiring[0].lid)
        let openLevel = true  // default wiring: pull-up, switch to ground closed by the lid

        world.chip.advance(toNanoseconds: world.nanoseconds(afterStart: 59))
        #expect(world.chip.level(of: lid) != openLevel)
        #expect(world.trueMassKg(bin: "wet") == 0)

        world.chip.advance(toNanoseconds: world.nanoseconds(afterStart: 62))
        #expect(world.chip.level(of: lid) == openLevel)
        #expect(world.trueMassKg(bin: "wet") == 2.0)

        world.chip.advance(toNanoseconds: world.nanoseconds(afterStart: 70))
        #expect(world.chip.level(of: lid) != openLevel)

        world.chip.advance(toNanoseconds: world.nanoseconds(afterStart: 130))
        #expect(world.trueMassKg(bin: "wet") == 2.5)
        #expect(world.trueVolumeL(bin: "wet") == 8.0)
        #expect(world.temperatureC == -5)

        world.chip.advance(toNanoseconds: world.nanoseconds(afterStart: 800))
        #expect(world.trueMassKg(bin: "wet") == 0)
        #expect(outage.values == [world.nanoseconds(afterStart: 800)])

        let truth = world.truth
        #expect(truth.count == 3)
        #expect(truth[0] == .init(bin: "wet", at: 60, kind: .deposit(massKg: 2, volumeL: 4, material: .wet)))
        #expect(truth[1] == .init(bin: "wet", at: 90, kind: .deposit(massKg: 0.5, volumeL: 4, material: .dry)))
        #expect(truth[2] == .init(bin: "wet", at: 600, kind: .collection(massKg: 2.5)))
    }

    @Test("virtual time maps to the scenario's wall-clock start")
    func timestamps() throws {
        let world = try BinWorld(scenario: try Scenario.parse(Self.yaml, file: "w.yaml"))
        #expect(world.timestamp(atNanoseconds: world.startNanoseconds).rfc3339 == "2026-06-01T06:00:00.000+08:00")
        #expect(
            world.timestamp(atNanoseconds: world.nanoseconds(afterStart: 90.5)).rfc3339
                == "2026-06-01T06:01:30.500+08:00")
        #expect(world.timestamp(atNanoseconds: 0).rfc3339 == "2026-06-01T05:50:00.000+08:00")
    }
}

final class OutageRecorder: Sendable {
    private let storage = Mutex<[UInt64]>([])
    func record(_ value: UInt64) { storage.withLock { $0.append(value) } }
    var values: [UInt64] { storage.withLock { $0 } }
}
