import Testing

@testable import Aggregator

@Suite("Log throttle")
struct LogThrottleTests {
    @Test("one line per key per interval, and the next line says how many went unlogged")
    func throttles() {
        var throttle = LogThrottle<String>(intervalMs: 60_000)
        #expect(throttle.admit("gap", nowMs: 1_000) == 0)
        for ms in stride(from: 2_000, to: 61_000, by: 1_000) {
            #expect(throttle.admit("gap", nowMs: Int64(ms)) == nil)
        }
        #expect(throttle.admit("other", nowMs: 30_000) == 0, "keys are throttled apart")
        #expect(throttle.admit("gap", nowMs: 61_000) == 59, "59 occurrences at 2 s ... 60 s went unlogged")
        #expect(throttle.admit("gap", nowMs: 62_000) == nil)
        #expect(throttle.admit("gap", nowMs: 121_000) == 1)
    }

    @Test("a clock that steps back does not silence the log")
    func clockStepsBack() {
        var throttle = LogThrottle<Int>(intervalMs: 60_000)
        #expect(throttle.admit(1, nowMs: 1_000_000) == 0)
        #expect(throttle.admit(1, nowMs: 5_000) == 0)
        #expect(throttle.admit(1, nowMs: 6_000) == nil)
    }
}
