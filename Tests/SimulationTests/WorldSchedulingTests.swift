import GPIO
import Simulation
import Testing

/// The way docs/hardware.md tells a scenario runner to drive the world: changes scheduled on the
/// chip at virtual times, nested where one change follows another.
@Suite struct WorldSchedulingTests {
    @Test func aScheduledDepositHappensAtItsVirtualTimes() throws {
        let chip = SimulatedChip(label: "bins-sim", lineNames: (0..<64).map { "GPIO\($0)" })
        var seeds = SeededRandomGenerator(seed: 42, stream: "wet")
        let scale = try HX711Model(
            chip: chip, clockLine: 5, dataLine: 6,
            configuration: .init(offsetCounts: 84_000, countsPerKilogram: 21_000, noiseCounts: 30, seed: seeds.next()))
        let lid = try LidSwitchModel(chip: chip, line: 17, configuration: .init(seed: seeds.next()))
        chip.schedule(atNanoseconds: 120_000_000_000) { bus in
            lid.setOpen(true, on: &bus)
            bus.schedule(afterNanoseconds: 4_000_000_000) { bus in
                scale.massKilograms += 1.2
                lid.setOpen(false, on: &bus)
            }
        }
        let lidLine = try chip.requestEvents(17, consumer: "test", edges: .both, bias: .pullUp)
        #expect(try chip.lineOffset(named: "GPIO17") == 17)

        chip.advance(toNanoseconds: 119_999_999_999)
        #expect(try lidLine.get() == false && scale.massKilograms == 0)
        let opened = try chip.waitForEvents(on: [lidLine], timeoutNanoseconds: 3_600_000_000_000, wakeup: nil)
        #expect(opened.first?.timestampNanoseconds == 120_000_000_000)
        chip.advance(toNanoseconds: 124_100_000_000)
        #expect(scale.massKilograms == 1.2)
        #expect(!lid.isOpen && lid.transitionCount == 2)
        #expect(try lidLine.get() == false)
    }
}
