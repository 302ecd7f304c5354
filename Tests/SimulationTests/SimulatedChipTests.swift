import Foundation
import GPIO
import Simulation
import Synchronization
import Testing

/// A wire with a delay: what the host drives on `from` shows on `to` after `delay` nanoseconds.
final class DelayedWire: SimulatedLineDevice {
    let to: LineOffset
    let delay: UInt64

    init(to: LineOffset, delay: UInt64) {
        self.to = to
        self.delay = delay
    }

    func hostDidDrive(_ offset: LineOffset, high: Bool, bus: inout SimulationBus) {
        let to = self.to
        bus.schedule(afterNanoseconds: delay) { bus in bus.drive(to, high: high) }
    }
}

@Suite struct SimulatedChipTests {
    @Test func aLineRequestedTwiceIsBusyLikeLibgpiod() throws {
        let chip = SimulatedChip(lineCount: 4)
        let first = try chip.requestOutput(2, consumer: "first", initialValue: false)
        #expect {
            try chip.requestOutput(2, consumer: "second", initialValue: false)
        } throws: { error in
            "\(error)" == "sim0 line 2: gpiod_line_request_output failed: Device or resource busy (EBUSY)"
        }
        #expect(throws: GPIOError.self) { try chip.requestEvents(2, consumer: "x", edges: .both, bias: .asIs) }
        let info = try chip.lineInfo(2)
        #expect(info.isUsed && info.consumer == "first" && info.direction == .output)
        first.release()
        #expect(throws: GPIOError(.released, chip: "sim0", line: 2)) { try first.set(true) }
        _ = try chip.requestInput(2, consumer: "again", bias: .pullUp)
    }

    @Test func droppingTheLastReferenceReleasesTheLine() throws {
        let chip = SimulatedChip(lineCount: 1)
        do { _ = try chip.requestOutput(0, consumer: "short-lived", initialValue: true) }
        #expect(try chip.lineInfo(0).isUsed == false)
        _ = try chip.requestOutput(0, consumer: "next", initialValue: false)
    }

    @Test func unknownLinesAreNamed() throws {
        let chip = SimulatedChip(lineNames: ["PD_SCK", "DOUT"])
        #expect {
            try chip.requestInput(7, consumer: "x", bias: .asIs)
        } throws: { error in
            (error as? GPIOError)?.code == .noSuchLine && "\(error)".hasPrefix("sim0 line 7: ")
        }
        #expect(throws: GPIOError.self) { try chip.lineOffset(named: "TRIG") }
        #expect(try chip.lineOffset(named: "DOUT") == 1)
        #expect(try chip.lineInfo(0).name == "PD_SCK")
    }

    @Test func inputsReadTheirPullWhenNothingDrivesThem() throws {
        let chip = SimulatedChip(lineCount: 2)
        let up = try chip.requestInput(0, consumer: "t", bias: .pullUp)
        let down = try chip.requestInput(1, consumer: "t", bias: .pullDown)
        #expect(try up.get() == true)
        #expect(try down.get() == false)
        chip.perform { bus in bus.drive(0, high: false) }
        #expect(try up.get() == false)
        chip.perform { bus in bus.stopDriving(0) }
        #expect(try up.get() == true)
    }

    @Test func aDeviceSeesHostOutputsAndItsEdgesCarryVirtualTimestamps() throws {
        let chip = SimulatedChip(lineCount: 2, startNanoseconds: 1_000)
        try chip.attach(DelayedWire(to: 1, delay: 250_000), listeningTo: [0])
        let out = try chip.requestOutput(0, consumer: "t", initialValue: false)
        let input = try chip.requestEvents(1, consumer: "t", edges: .both, bias: .asIs)
        try out.set(true)
        try out.set(true)  // no change on the wire: the device is not called again
        chip.advance(byNanoseconds: 100_000)
        try out.set(false)
        let events = try chip.waitForEvents(on: [input], timeoutNanoseconds: 1_000_000_000, wakeup: nil)
        #expect(events == [EdgeEvent(offset: 1, type: .rising, timestampNanoseconds: 251_000)])
        // The wait jumped straight to the edge rather than to its timeout.
        #expect(chip.nowNanoseconds == 251_000)
        let next = try chip.waitForEvents(on: [input], timeoutNanoseconds: 1_000_000_000, wakeup: nil)
        #expect(next == [EdgeEvent(offset: 1, type: .falling, timestampNanoseconds: 351_000)])
    }

    @Test func edgeRequestsReportOnlyTheRequestedEdges() throws {
        let chip = SimulatedChip(lineCount: 1)
        let rising = try chip.requestEvents(0, consumer: "t", edges: .rising, bias: .asIs)
        for level in [true, false, true, false] {
            chip.perform { bus in bus.drive(0, high: level) }
            chip.advance(byNanoseconds: 10)
        }
        let events = try rising.readPendingEvents()
        #expect(events.map(\.type) == [.rising, .rising])
        #expect(events.map(\.timestampNanoseconds) == [0, 20])
    }

    @Test func eventQueuesHoldSixteenEventsAndDropNewerOnesLikeTheKernel() throws {
        let chip = SimulatedChip(lineCount: 1)
        let line = try chip.requestEvents(0, consumer: "t", edges: .both, bias: .asIs)
        for index in 0..<20 {
            chip.perform { bus in bus.drive(0, high: index % 2 == 0) }
            chip.advance(byNanoseconds: 1_000)
        }
        let events = try line.readPendingEvents()
        #expect(events.count == SimulationBus.eventQueueCapacity)
        #expect(events.last?.timestampNanoseconds == 15_000)
        #expect(chip.droppedEventCount(of: 0) == 4)
        #expect(try line.readPendingEvents().isEmpty)
    }

    @Test func waitsTimeOutInVirtualTimeWithoutBlocking() throws {
        let chip = SimulatedChip(lineCount: 1)
        let line = try chip.requestEvents(0, consumer: "t", edges: .both, bias: .asIs)
        let day: UInt64 = 86_400 * 1_000_000_000
        #expect(try chip.waitForEvents(on: [line], timeoutNanoseconds: day, wakeup: nil).isEmpty)
        #expect(chip.nowNanoseconds == day)
        // With no lines it is an interruptible sleep.
        #expect(try chip.waitForEvents(on: [], timeoutNanoseconds: 5, wakeup: nil).isEmpty)
        #expect(chip.nowNanoseconds == day + 5)
    }

    @Test func actionsRunInTimeOrderAndFirstComeFirstServedAtTheSameInstant() {
        let chip = SimulatedChip(lineCount: 1)
        let log = Mutex<[String]>([])
        chip.schedule(atNanoseconds: 300) { bus in log.withLock { $0.append("c@\(bus.nowNanoseconds)") } }
        chip.schedule(atNanoseconds: 100) { bus in log.withLock { $0.append("a@\(bus.nowNanoseconds)") } }
        chip.schedule(atNanoseconds: 100) { bus in
            log.withLock { $0.append("b@\(bus.nowNanoseconds)") }
            bus.schedule(afterNanoseconds: 50) { bus in log.withLock { $0.append("nested@\(bus.nowNanoseconds)") } }
        }
        let cancelled = chip.schedule(atNanoseconds: 200) { _ in log.withLock { $0.append("cancelled") } }
        chip.cancel(cancelled)
        #expect(chip.pendingActionCount == 3)
        chip.advance(toNanoseconds: 1_000)
        #expect(log.withLock { $0 } == ["a@100", "b@100", "nested@150", "c@300"])
        // An action scheduled in the past runs at the next opportunity, at the current time.
        chip.schedule(atNanoseconds: 10) { bus in log.withLock { $0.append("late@\(bus.nowNanoseconds)") } }
        chip.advance(byNanoseconds: 0)
        #expect(log.withLock { $0.last } == "late@1000")
    }

    @Test func anOutputStretchDelaysTheHostAndLetsScheduledWorkRunMeanwhile() throws {
        let chip = SimulatedChip(lineCount: 1)
        let out = try chip.requestOutput(0, consumer: "t", initialValue: false)
        let ranAt = Mutex<UInt64?>(nil)
        chip.schedule(atNanoseconds: 60_000) { bus in ranAt.withLock { $0 = bus.nowNanoseconds } }
        chip.injectOutputStretch(nanoseconds: 80_000)
        try out.set(true)
        #expect(chip.nowNanoseconds == 80_000)
        #expect(ranAt.withLock { $0 } == 60_000)
        try out.set(false)
        #expect(chip.nowNanoseconds == 80_000)  // only the next operation was stretched
    }

    @Test func aSignalledWakeupEndsAVirtualWaitAndIsConsumed() throws {
        let chip = SimulatedChip(lineCount: 1)
        let line = try chip.requestEvents(0, consumer: "t", edges: .both, bias: .asIs)
        let wakeup = GPIOWakeup()
        chip.schedule(atNanoseconds: 5_000_000) { _ in wakeup.signal() }
        let events = try chip.waitForEvents(on: [line], timeoutNanoseconds: 60_000_000_000, wakeup: wakeup)
        #expect(events.isEmpty)
        #expect(chip.nowNanoseconds == 5_000_000)
        #expect(!wakeup.isSignalled)
    }

    @Test func linesOfAnotherChipAreRejected() throws {
        let chip = SimulatedChip(lineCount: 1)
        let other = SimulatedChip(name: "sim1", lineCount: 1)
        let foreign = try other.requestEvents(0, consumer: "t", edges: .both, bias: .asIs)
        #expect {
            try chip.waitForEvents(on: [foreign], timeoutNanoseconds: 1, wakeup: nil)
        } throws: { error in
            (error as? GPIOError)?.code == .invalidArgument
        }
    }

    @Test func realTimeWaitsSleepUntilTheNextDueActionAndStampItsTime() throws {
        let chip = SimulatedChip(lineCount: 1, pacing: .realTime)
        let line = try chip.requestEvents(0, consumer: "t", edges: .both, bias: .asIs)
        let due = chip.nowNanoseconds + 20_000_000
        chip.schedule(atNanoseconds: due) { bus in bus.drive(0, high: true) }
        let events = try chip.waitForEvents(on: [line], timeoutNanoseconds: 30_000_000_000, wakeup: nil)
        #expect(events == [EdgeEvent(offset: 0, type: .rising, timestampNanoseconds: due)])
        // Virtual time follows the wall clock, so the edge cannot arrive before its time.
        #expect(chip.nowNanoseconds >= due)
    }

    @Test func realTimeWaitsSeeWorkScheduledByAnotherThread() throws {
        let chip = SimulatedChip(lineCount: 1, pacing: .realTime)
        let line = try chip.requestEvents(0, consumer: "t", edges: .both, bias: .asIs)
        let scheduler = Thread { chip.schedule(afterNanoseconds: 0) { bus in bus.drive(0, high: true) } }
        scheduler.start()
        let events = try chip.waitForEvents(on: [line], timeoutNanoseconds: 30_000_000_000, wakeup: nil)
        #expect(events.map(\.type) == [.rising])
    }

    @Test func aWakeupFromAnotherThreadEndsARealTimeWait() throws {
        let chip = SimulatedChip(lineCount: 1, pacing: .realTime)
        let line = try chip.requestEvents(0, consumer: "t", edges: .both, bias: .asIs)
        let wakeup = GPIOWakeup()
        let start = chip.nowNanoseconds
        Thread { wakeup.signal() }.start()
        let events = try chip.waitForEvents(on: [line], timeoutNanoseconds: 30_000_000_000, wakeup: wakeup)
        #expect(events.isEmpty)
        #expect(chip.nowNanoseconds - start < 30_000_000_000)
        #expect(!wakeup.isSignalled)
    }
}
