import Aggregator
import BinProtocol
import Testing

/// The alert state machines are value types: no I/O, no clock, just observations and transitions.
@Suite("Alert state")
struct AlertStateTests {
    let rule = AlertRule(severity: .warning, raise: 0.8, clear: 0.6, minimumDurationSeconds: 300)

    @Test("raises only after the value held at or above the raise threshold for the minimum duration")
    func minimumDuration() {
        var condition = AlertCondition()
        #expect(condition.observe(value: 0.85, atMs: 0, rule: rule) == nil)
        #expect(condition.phase == .pending(sinceMs: 0))
        #expect(condition.observe(value: 0.9, atMs: 299_999, rule: rule) == nil)
        #expect(condition.observe(value: 0.9, atMs: 300_000, rule: rule) == .raise)
        #expect(condition.isActive)
        #expect(condition.observe(value: 0.95, atMs: 400_000, rule: rule) == nil)
    }

    @Test("a dip below the raise threshold restarts the wait")
    func dipRestarts() {
        var condition = AlertCondition()
        _ = condition.observe(value: 0.85, atMs: 0, rule: rule)
        #expect(condition.observe(value: 0.7, atMs: 200_000, rule: rule) == nil)
        #expect(condition.phase == .normal)
        #expect(condition.observe(value: 0.85, atMs: 250_000, rule: rule) == nil)
        #expect(condition.observe(value: 0.85, atMs: 500_000, rule: rule) == nil)
        #expect(condition.observe(value: 0.85, atMs: 550_000, rule: rule) == .raise)
    }

    @Test("hysteresis: clears only at or below the lower clear threshold")
    func hysteresis() {
        var condition = AlertCondition(active: true)
        #expect(condition.observe(value: 0.7, atMs: 0, rule: rule) == nil)
        #expect(condition.observe(value: 0.79, atMs: 1, rule: rule) == nil)
        #expect(condition.observe(value: 0.6, atMs: 2, rule: rule) == .clear)
        #expect(condition.phase == .normal)
        #expect(condition.observe(value: 0.7, atMs: 3, rule: rule) == nil)
    }

    @Test("observations older than the newest are ignored")
    func lateObservations() {
        var condition = AlertCondition()
        let immediate = AlertRule(severity: .critical, raise: 1, clear: 0, minimumDurationSeconds: 0)
        #expect(condition.observe(value: 1, atMs: 1000, rule: immediate) == .raise)
        #expect(condition.observe(value: 0, atMs: 500, rule: immediate) == nil)
        #expect(condition.isActive)
        #expect(condition.observe(value: 0, atMs: 1500, rule: immediate) == .clear)
    }

    @Test("lifecycle: raised -> acknowledged -> cleared, and nothing after cleared")
    func lifecycle() throws {
        var alert = AlertRecord(
            id: "a1", kind: .binFull, severity: .warning, subject: "bin:pt-1/wet", value: 0.9, threshold: 0.8,
            message: "full",
            raisedAtMs: 10)
        try alert.acknowledge(by: "ops", atMs: 20)
        #expect(alert.state == .acknowledged)
        #expect(alert.acknowledgedBy == "ops")
        try alert.acknowledge(by: "ops", atMs: 30)  // the same acknowledger retrying is fine
        #expect(alert.acknowledgedAtMs == 20)
        #expect(throws: AggregatorError.self) { try alert.acknowledge(by: "someone-else", atMs: 40) }
        try alert.clear(atMs: 50, value: 0.2)
        #expect(alert.state == .cleared)
        #expect(alert.clearedAtMs == 50)
        #expect(!alert.isOpen)
        #expect(throws: AggregatorError.self) { try alert.acknowledge(by: "ops", atMs: 60) }
        #expect(throws: AggregatorError.self) { try alert.clear(atMs: 70, value: nil) }
    }

    @Test("an alert may clear without being acknowledged; its payload carries the lifecycle times")
    func clearWithoutAcknowledgement() throws {
        var alert = AlertRecord(
            id: "a2", kind: .deviceOffline, severity: .critical, subject: "device:pt-1", value: 1000, threshold: 900,
            message: "offline", raisedAtMs: 1_780_272_000_000)
        try alert.clear(atMs: 1_780_272_060_000, value: 0)
        let payload = alert.payload(calendar: Fixtures.calendar, nowMs: 1_780_272_060_000)
        #expect(payload.state == .cleared)
        #expect(payload.acknowledgedAt == nil)
        #expect(payload.raisedAt.rfc3339 == "2026-06-01T08:00:00.000+08:00")
        #expect(payload.clearedAt?.rfc3339 == "2026-06-01T08:01:00.000+08:00")
        #expect(throws: Never.self) { try payload.validate(topicDevice: nil) }
    }
}
