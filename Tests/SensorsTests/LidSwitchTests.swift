import GPIO
import Sensors
import Simulation
import Testing

@Suite struct LidDebouncerTests {
    @Test func aBouncingChangeBecomesOneEdgeOnceTheLineHoldsStill() {
        var debouncer = LidDebouncer(isOpen: false, stableNanoseconds: 20)
        for (time, open) in [(100, true), (102, false), (103, true), (107, false), (110, true)] as [(UInt64, Bool)] {
            debouncer.record(rawOpen: open, atNanoseconds: time)
        }
        #expect(debouncer.deadlineNanoseconds == 130)
        #expect(debouncer.settle(nowNanoseconds: 129) == nil)
        #expect(
            debouncer.settle(nowNanoseconds: 130)
                == LidEdge(isOpen: true, timestampNanoseconds: 100, confirmedAtNanoseconds: 130))
        #expect(debouncer.isOpen)
        #expect(debouncer.deadlineNanoseconds == nil)
    }

    @Test func aGlitchThatComesBackIsNoEdge() {
        var debouncer = LidDebouncer(isOpen: false, stableNanoseconds: 20)
        debouncer.record(rawOpen: true, atNanoseconds: 5)
        debouncer.record(rawOpen: false, atNanoseconds: 6)
        #expect(debouncer.settle(nowNanoseconds: 100) == nil)
        #expect(!debouncer.isOpen)
    }

    @Test func aLevelThatDisagreesWithTheLastEdgeSeenRestartsTheWait() {
        // Edges were dropped (full queue): the line reads closed though the last edge said open.
        var debouncer = LidDebouncer(isOpen: false, stableNanoseconds: 20)
        debouncer.record(rawOpen: true, atNanoseconds: 0)
        #expect(debouncer.settle(nowNanoseconds: 50, currentRawOpen: false) == nil)
        #expect(debouncer.deadlineNanoseconds == 70)
        #expect(debouncer.settle(nowNanoseconds: 70, currentRawOpen: false) == nil)
        #expect(!debouncer.isOpen)
    }
}

@Suite struct LidSwitchTests {
    @Test func lidBounceIsFilteredToOneEdgePerMovement() throws {
        let chip = SimulatedChip(lineNames: ["LID"])
        let model = try LidSwitchModel(chip: chip, line: 0, configuration: .init(bounceToggles: 3...6, seed: 8))
        let lid = try LidSwitch(chip: chip, line: 0)
        #expect(!lid.isOpen)
        chip.schedule(atNanoseconds: 2_000_000_000) { bus in model.setOpen(true, on: &bus) }
        chip.schedule(atNanoseconds: 9_000_000_000) { bus in model.setOpen(false, on: &bus) }

        let opened = try lid.waitForEdges(timeoutNanoseconds: 60_000_000_000, wakeup: nil)
        #expect(opened.count == 1)
        #expect(opened.first?.isOpen == true)
        #expect(opened.first?.timestampNanoseconds == 2_000_000_000)
        let confirmed = try #require(opened.first?.confirmedAtNanoseconds)
        #expect(confirmed > 2_020_000_000 && confirmed <= 2_025_000_000)
        #expect(lid.isOpen)

        let closed = try lid.waitForEdges(timeoutNanoseconds: 60_000_000_000, wakeup: nil)
        #expect(closed.map(\.isOpen) == [false])
        #expect(closed.first?.timestampNanoseconds == 9_000_000_000)
        #expect(!lid.isOpen)
    }

    @Test func severalLidsAreWaitedOnTogether() throws {
        let chip = SimulatedChip(lineNames: ["LID_WET", "LID_DRY"])
        let wet = try LidSwitchModel(chip: chip, line: 0, configuration: .init(seed: 1))
        let dry = try LidSwitchModel(chip: chip, line: 1, configuration: .init(seed: 2))
        let lids = [try LidSwitch(chip: chip, line: 0), try LidSwitch(chip: chip, line: 1)]
        chip.schedule(atNanoseconds: 1_000_000_000) { bus in dry.setOpen(true, on: &bus) }
        chip.schedule(atNanoseconds: 5_000_000_000) { bus in wet.setOpen(true, on: &bus) }
        let first = try LidSwitch.waitForEdges(on: lids, timeoutNanoseconds: 60_000_000_000, wakeup: nil)
        #expect(first.map(\.lidIndex) == [1])
        let second = try LidSwitch.waitForEdges(on: lids, timeoutNanoseconds: 60_000_000_000, wakeup: nil)
        #expect(second.map(\.lidIndex) == [0])
        #expect(second.first?.edge.timestampNanoseconds == 5_000_000_000)
    }

    @Test func anIdleWaitEndsAtItsTimeoutOrAtAWakeup() throws {
        let chip = SimulatedChip(lineCount: 1)
        _ = try LidSwitchModel(chip: chip, line: 0)
        let lid = try LidSwitch(chip: chip, line: 0)
        #expect(try lid.waitForEdges(timeoutNanoseconds: 3_600_000_000_000, wakeup: nil).isEmpty)
        #expect(chip.nowNanoseconds == 3_600_000_000_000)

        let wakeup = GPIOWakeup()
        chip.schedule(afterNanoseconds: 7_000_000_000) { _ in wakeup.signal() }
        #expect(try lid.waitForEdges(timeoutNanoseconds: 3_600_000_000_000, wakeup: wakeup).isEmpty)
        #expect(chip.nowNanoseconds == 3_607_000_000_000)
    }

    @Test func rawEventsCanBeFedByACallerThatWaitsItself() throws {
        let chip = SimulatedChip(lineCount: 1)
        let model = try LidSwitchModel(chip: chip, line: 0, configuration: .init(seed: 3))
        let lid = try LidSwitch(chip: chip, line: 0, configuration: .init(debounceNanoseconds: 30_000_000))
        model.setOpen(true)
        var edges: [LidEdge] = []
        while edges.isEmpty {
            let timeout = (lid.deadlineNanoseconds ?? chip.nowNanoseconds + 1_000_000_000) - chip.nowNanoseconds
            let events = try chip.waitForEvents(on: [lid.eventLine], timeoutNanoseconds: timeout, wakeup: nil)
            edges = try lid.process(events, nowNanoseconds: chip.nowNanoseconds)
        }
        #expect(edges.map(\.isOpen) == [true])
    }
}
