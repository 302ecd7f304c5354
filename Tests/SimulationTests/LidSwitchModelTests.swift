import GPIO
import Simulation
import Testing

@Suite struct LidSwitchModelTests {
    @Test func movingTheLidBouncesForAFewMillisecondsThenSettles() throws {
        let chip = SimulatedChip(lineNames: ["LID"])
        let lid = try LidSwitchModel(chip: chip, line: 0, configuration: .init(seed: 3))
        let line = try chip.requestEvents(0, consumer: "test", edges: .both, bias: .pullUp)
        #expect(try line.get() == false)  // closed: the switch pulls the line low
        chip.advance(toNanoseconds: 1_000_000_000)
        lid.setOpen(true)
        chip.advance(byNanoseconds: 10_000_000)
        let edges = try line.readPendingEvents()
        #expect(edges.count >= 3 && edges.count % 2 == 1)
        #expect(edges.first?.type == .rising && edges.last?.type == .rising)
        #expect(edges.first?.timestampNanoseconds == 1_000_000_000)
        #expect(edges.allSatisfy { $0.timestampNanoseconds <= 1_005_000_000 })
        #expect(try line.get() == true)
        #expect(lid.isOpen && lid.transitionCount == 1)
    }

    @Test func theSameSeedBouncesTheSameWay() throws {
        func edges(seed: UInt64) throws -> [EdgeEvent] {
            let chip = SimulatedChip(lineCount: 1)
            let lid = try LidSwitchModel(chip: chip, line: 0, configuration: .init(seed: seed))
            let line = try chip.requestEvents(0, consumer: "test", edges: .both, bias: .pullUp)
            lid.setOpen(true)
            chip.advance(byNanoseconds: 10_000_000)
            lid.setOpen(false)
            chip.advance(byNanoseconds: 10_000_000)
            return try line.readPendingEvents()
        }
        #expect(try edges(seed: 5) == edges(seed: 5))
        #expect(try edges(seed: 5) != edges(seed: 6))
    }

    @Test func aScenarioCanMoveTheLidAtAVirtualTime() throws {
        let chip = SimulatedChip(lineCount: 1)
        let lid = try LidSwitchModel(chip: chip, line: 0)
        let line = try chip.requestEvents(0, consumer: "test", edges: .both, bias: .pullUp)
        chip.schedule(atNanoseconds: 120_000_000_000) { bus in lid.setOpen(true, on: &bus) }
        let events = try chip.waitForEvents(on: [line], timeoutNanoseconds: 200_000_000_000, wakeup: nil)
        #expect(events.first?.timestampNanoseconds == 120_000_000_000)
    }

    @Test func faultsStuckAndDisconnected() throws {
        let chip = SimulatedChip(lineCount: 1)
        let lid = try LidSwitchModel(chip: chip, line: 0)
        let line = try chip.requestEvents(0, consumer: "test", edges: .both, bias: .pullDown)
        lid.setFault(.stuck(open: false))
        lid.setOpen(true)
        chip.advance(byNanoseconds: 10_000_000)
        #expect(try line.get() == false)
        #expect(lid.isOpen)
        lid.setFault(.disconnected)
        #expect(try line.get() == false)  // floats to the pull-down
        lid.setFault(nil)
        #expect(try line.get() == true)  // the lid is open
    }
}
