import Simulation
import Testing

@testable import MQTT

@Suite("Reconnect backoff and connection state machine (no I/O)")
struct ReconnectBackoffTests {
    @Test("delays double from the minimum up to the maximum, each jittered within its upper half")
    func exponentialWithJitter() {
        var backoff = ReconnectBackoff(minimum: .milliseconds(100), maximum: .seconds(3))
        var random = SplitMix64(seed: 1)
        let expectedCeilings: [Duration] = [
            .milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .milliseconds(1600),
            .seconds(3), .seconds(3), .seconds(3),
        ]
        for ceiling in expectedCeilings {
            #expect(backoff.ceiling == ceiling)
            let delay = backoff.nextDelay(using: &random)
            #expect(delay >= ceiling / 2 && delay <= ceiling, "delay \(delay) outside [\(ceiling / 2), \(ceiling)]")
        }
        #expect(backoff.failures == expectedCeilings.count)
        backoff.reset()
        #expect(backoff.ceiling == .milliseconds(100))
    }

    @Test("jitter spreads a fleet: the same failure count gives different delays")
    func jitterSpreads() {
        var random = SplitMix64(seed: 42)
        var delays = Set<Duration>()
        for _ in 0..<50 {
            var backoff = ReconnectBackoff(minimum: .seconds(1), maximum: .seconds(60))
            for _ in 0..<4 { _ = backoff.nextDelay(using: &random) }
            delays.insert(backoff.nextDelay(using: &random))
        }
        #expect(delays.count > 40)
        #expect(delays.allSatisfy { $0 >= .seconds(8) && $0 <= .seconds(16) })
    }

    @Test("a huge number of failures neither overflows nor exceeds the maximum")
    func manyFailures() {
        var backoff = ReconnectBackoff(minimum: .milliseconds(1), maximum: .seconds(30))
        var random = SplitMix64(seed: 7)
        for _ in 0..<10_000 { _ = backoff.nextDelay(using: &random) }
        #expect(backoff.nextDelay(using: &random) <= .seconds(30))
    }

    @Test("start connects; failures back off with growing delays; acceptance means connected")
    func failThenConnect() {
        var machine = ConnectionStateMachine(
            backoff: ReconnectBackoff(minimum: .milliseconds(100), maximum: .seconds(10)),
            stableConnection: .seconds(30))
        var random = SplitMix64(seed: 3)
        #expect(machine.state == .disconnected)
        #expect(machine.start() == .connect)
        #expect(machine.state == .connecting)
        guard case .wait(let first) = machine.attemptFailed(using: &random) else {
            Issue.record("a failed attempt must wait")
            return
        }
        #expect(machine.state == .disconnected)
        #expect(machine.waitEnded() == .connect)
        guard case .wait(let second) = machine.attemptFailed(using: &random) else {
            Issue.record("a failed attempt must wait")
            return
        }
        #expect(first <= .milliseconds(100))
        #expect(second > .milliseconds(100) - .nanoseconds(1) && second <= .milliseconds(200))
        #expect(machine.waitEnded() == .connect)
        machine.accepted()
        #expect(machine.state == .connected)
    }

    @Test("a connection that lasted resets the backoff; a flapping one keeps escalating")
    func stableResetsFlappingEscalates() {
        var machine = ConnectionStateMachine(
            backoff: ReconnectBackoff(minimum: .milliseconds(100), maximum: .seconds(10)),
            stableConnection: .seconds(30))
        var random = SplitMix64(seed: 9)
        _ = machine.start()
        for _ in 0..<3 {
            _ = machine.attemptFailed(using: &random)
            _ = machine.waitEnded()
        }
        #expect(machine.backoff.failures == 3)
        machine.accepted()
        // Dropped after 2 s: the broker accepts then drops us; do not hammer it.
        guard case .wait(let flapDelay) = machine.ended(connectedFor: .seconds(2), using: &random) else {
            Issue.record("a lost connection must wait before reconnecting")
            return
        }
        #expect(machine.backoff.failures == 4)
        #expect(flapDelay >= .milliseconds(400))
        _ = machine.waitEnded()
        machine.accepted()
        // Up for an hour: the next reconnect starts from the minimum again.
        guard case .wait(let delay) = machine.ended(connectedFor: .seconds(3600), using: &random) else {
            Issue.record("a lost connection must wait before reconnecting")
            return
        }
        #expect(delay <= .milliseconds(100))
        #expect(machine.state == .disconnected)
    }

    @Test("a stop during a wait, an attempt or a connection ends the loop")
    func stop() {
        var random = SplitMix64(seed: 11)
        var waiting = ConnectionStateMachine(
            backoff: ReconnectBackoff(minimum: .seconds(1), maximum: .seconds(10)), stableConnection: .seconds(30))
        _ = waiting.start()
        _ = waiting.attemptFailed(using: &random)
        waiting.requestStop()
        #expect(waiting.waitEnded() == .stop)
        #expect(waiting.state == .disconnected)

        var connecting = ConnectionStateMachine(
            backoff: ReconnectBackoff(minimum: .seconds(1), maximum: .seconds(10)), stableConnection: .seconds(30))
        _ = connecting.start()
        connecting.requestStop()
        #expect(connecting.attemptFailed(using: &random) == .stop)

        var connected = ConnectionStateMachine(
            backoff: ReconnectBackoff(minimum: .seconds(1), maximum: .seconds(10)), stableConnection: .seconds(30))
        _ = connected.start()
        connected.accepted()
        connected.requestStop()
        #expect(connected.ended(connectedFor: .seconds(5), using: &random) == .stop)

        var early = ConnectionStateMachine(
            backoff: ReconnectBackoff(minimum: .seconds(1), maximum: .seconds(10)), stableConnection: .seconds(30))
        early.requestStop()
        #expect(early.start() == .stop)
    }
}
