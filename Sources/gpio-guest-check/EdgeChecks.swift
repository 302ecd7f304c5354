import GPIO
import Synchronization

/// Edge events with kernel timestamps, waits that time out, and waits cancelled through `GPIOWakeup`.
extension BackendChecks {
    func runEdgeChecks() {
        runner.run("rising edges only") {
            try simulator.setPull(3, .pullDown)
            let line = try chip.requestEvents(3, consumer: consumer, edges: .rising, bias: .asIs)
            let first = try expectEdge(.rising, on: line, after: .pullUp)
            // The falling edge in between must not be reported: the next event is the next rise.
            try simulator.setPull(3, .pullDown)
            let second = try expectEdge(.rising, on: line, after: .pullUp)
            try expect(second.timestampNanoseconds > first.timestampNanoseconds, "timestamps not increasing")
        }

        runner.run("falling edges only") {
            try simulator.setPull(3, .pullUp)
            let line = try chip.requestEvents(3, consumer: consumer, edges: .falling, bias: .asIs)
            let first = try expectEdge(.falling, on: line, after: .pullDown)
            try simulator.setPull(3, .pullUp)
            let second = try expectEdge(.falling, on: line, after: .pullDown)
            try expect(second.timestampNanoseconds > first.timestampNanoseconds, "timestamps not increasing")
        }

        runner.run("both edges alternate with increasing kernel timestamps") {
            try simulator.setPull(3, .pullDown)
            let line = try chip.requestEvents(3, consumer: consumer, edges: .both, bias: .asIs)
            var last: UInt64 = 0
            for step in 0..<200 {
                let rising = step % 2 == 0
                let event = try expectEdge(rising ? .rising : .falling, on: line, after: rising ? .pullUp : .pullDown)
                try expect(
                    event.timestampNanoseconds > last,
                    "edge \(step) at \(event.timestampNanoseconds) ns is not after the previous at \(last) ns")
                last = event.timestampNanoseconds
            }
            try expectEqual(try line.get(), false, "level read from the event line after the last (falling) edge")
        }

        runner.run("edges of two lines: one wait covers both, each batch in timestamp order") {
            try simulator.setPull(3, .pullDown)
            try simulator.setPull(4, .pullDown)
            let three = try chip.requestEvents(3, consumer: consumer, edges: .both, bias: .asIs)
            let four = try chip.requestEvents(4, consumer: consumer, edges: .both, bias: .asIs)
            // The kernel stamps each edge in its interrupt handler but queues it from a per-line thread,
            // so which line becomes readable first is not fixed; what is fixed is that each batch a wait
            // returns is in timestamp order and that no edge is lost or duplicated.
            var events: [EdgeEvent] = []
            var batches: [Int] = []
            // Two lines, one edge each: gpio-sim folds back-to-back edges of one line into one interrupt.
            try simulator.setPull(4, .pullUp)
            try simulator.setPull(3, .pullUp)
            let deadline = chip.clock.nanoseconds() + 5_000_000_000
            while events.count < 2 {
                let now = chip.clock.nanoseconds()
                guard now < deadline else { break }
                let batch = try chip.waitForEvents(on: [three, four], timeoutNanoseconds: deadline - now, wakeup: nil)
                let stamps = batch.map(\.timestampNanoseconds)
                try expectEqual(stamps, stamps.sorted(), "timestamps within one batch (\(describe(batch)))")
                batches.append(batch.count)
                events += batch
            }
            let seen = events.map { "\($0.type.rawValue)@\($0.offset)" }.sorted()
            try expectEqual(seen, ["rising@3", "rising@4"], "edges seen (\(describe(events)))")
            runner.info("two edges on two lines arrived in batches of \(batches)")
        }

        runner.run("readPendingEvents() returns at once, with or without queued edges") {
            try simulator.setPull(3, .pullDown)
            let line = try chip.requestEvents(3, consumer: consumer, edges: .both, bias: .asIs)
            try expectEqual(try line.readPendingEvents(), [], "events pending before any edge")
            try simulator.setPull(3, .pullUp)
            // The simulator raises the interrupt asynchronously: poll (bounded) until it is queued.
            var events: [EdgeEvent] = []
            let deadline = chip.clock.nanoseconds() + 5_000_000_000
            while events.isEmpty && chip.clock.nanoseconds() < deadline { events = try line.readPendingEvents() }
            try expectEqual(events.map(\.type), [.rising], "events read without blocking")
        }

        runner.run("an edge wait with nothing happening times out") {
            let line = try chip.requestEvents(5, consumer: consumer, edges: .both, bias: .asIs)
            let timeout: UInt64 = 200_000_000
            let start = chip.clock.nanoseconds()
            let events = try chip.waitForEvents(on: [line], timeoutNanoseconds: timeout, wakeup: nil)
            let elapsed = chip.clock.nanoseconds() - start
            try expectEqual(events, [], "events from a quiet line")
            try expect(elapsed >= timeout, "the wait returned after \(elapsed) ns, before its \(timeout) ns timeout")
            runner.info("a 200 ms edge wait returned after \(elapsed / 1_000) µs")
        }

        runner.run("a wakeup signalled before the wait ends it at once and is consumed") {
            let line = try chip.requestEvents(5, consumer: consumer, edges: .both, bias: .asIs)
            let wakeup = GPIOWakeup()
            wakeup.signal()
            let long: UInt64 = 30_000_000_000
            let start = chip.clock.nanoseconds()
            let events = try chip.waitForEvents(on: [line], timeoutNanoseconds: long, wakeup: wakeup)
            try expectEqual(events, [], "events from a woken wait")
            try expect(chip.clock.nanoseconds() - start < long, "the wait ran into its timeout despite the wakeup")
            try expect(!wakeup.isSignalled, "the wakeup is still signalled after ending a wait")
            // Consumed: the next wait runs to its own timeout.
            let short: UInt64 = 100_000_000
            let next = chip.clock.nanoseconds()
            _ = try chip.waitForEvents(on: [line], timeoutNanoseconds: short, wakeup: wakeup)
            try expect(chip.clock.nanoseconds() - next >= short, "a consumed wakeup ended the next wait early")
        }

        runner.run("cancelling a blocked edge wait returns promptly, and edges still arrive afterwards") {
            try simulator.setPull(5, .pullDown)
            let line = try chip.requestEvents(5, consumer: consumer, edges: .both, bias: .asIs)
            let wakeup = GPIOWakeup()
            let outcome = WaitOutcome()
            let chip = self.chip
            let waiter = try BlockingThread {
                outcome.store(
                    Result { () throws(GPIOError) -> [EdgeEvent] in
                        try chip.waitForEvents(on: [line], timeoutNanoseconds: 60_000_000_000, wakeup: wakeup)
                    })
            }
            try expect(
                waiter.waitUntilSleeping(timeoutNanoseconds: 10_000_000_000),
                "the waiting thread never blocked in the kernel")
            let signalled = chip.clock.nanoseconds()
            wakeup.signal()
            try expect(
                waiter.waitUntilFinished(timeoutNanoseconds: 5_000_000_000),
                "the blocked wait did not return within 5 s of the wakeup (its own timeout is 60 s)")
            let latency = chip.clock.nanoseconds() - signalled
            waiter.join()
            try expectEqual(try outcome.take().get(), [], "events returned by the cancelled wait")
            runner.info("a blocked edge wait returned \(latency / 1_000) µs after its wakeup")
            _ = try expectEdge(.rising, on: line, after: .pullUp)
        }

        runner.run("a released event line refuses reads and waits, naming the line") {
            let line = try chip.requestEvents(5, consumer: consumer, edges: .both, bias: .asIs)
            line.release()
            try expect(!(try chip.lineInfo(5).isUsed), "line 5 still in use after release()")
            let read = try expectGPIOError(.released, "readPendingEvents() after release()") {
                try line.readPendingEvents()
            }
            try expect(read.description.contains("line 5"), "error does not name the line: \(read)")
            try expectGPIOError(.released, "waitForEvents on a released line") {
                try chip.waitForEvents(on: [line], timeoutNanoseconds: 1_000_000, wakeup: nil)
            }
        }
    }
}

/// What a wait on another thread returned, handed back to the checking thread.
final class WaitOutcome: Sendable {
    private let result = Mutex<Result<[EdgeEvent], GPIOError>?>(nil)

    func store(_ value: Result<[EdgeEvent], GPIOError>) {
        result.withLock { $0 = value }
    }

    func take() throws(GuestCheckError) -> Result<[EdgeEvent], GPIOError> {
        guard let value = result.withLock({ $0.take() }) else {
            throw GuestCheckError(.harness, "the waiting thread finished without a result")
        }
        return value
    }
}
