import BinProtocol
import Testing

@testable import BinDaemon

@Suite struct FaultTrackerTests {
    @Test func hysteresisOnRaiseAndClear() {
        var tracker = FaultTracker(bin: "wet")
        let noEcho = FaultObservation(.rangerNoEcho, present: true, detail: "no echo")
        let echo = FaultObservation(.rangerNoEcho, present: false)
        // One glitch, then fine: nothing.
        #expect(tracker.observe(noEcho, at: at(0)) == nil)
        #expect(tracker.observe(echo, at: at(10)) == nil)
        // Three misses but within 60 s: not yet; the fourth at 70 s raises.
        #expect(tracker.observe(noEcho, at: at(100)) == nil)
        #expect(tracker.observe(noEcho, at: at(120)) == nil)
        #expect(tracker.observe(noEcho, at: at(140)) == nil)
        let raised = tracker.observe(noEcho, at: at(170))
        #expect(
            raised
                == TimedFault(
                    fault: Fault(bin: "wet", sensor: .ranger, code: "ranger.no_echo", active: true, detail: "no echo"),
                    at: at(170)))
        #expect(tracker.quality == .degraded && tracker.quality(for: .scale) == .good)
        #expect(tracker.observe(noEcho, at: at(200)) == nil)  // already active: no repeat
        #expect(tracker.observe(echo, at: at(300)) == nil)
        let cleared = tracker.observe(echo, at: at(301))
        #expect(cleared?.fault.active == false && cleared?.fault.code == "ranger.no_echo")
        #expect(tracker.quality == .good && tracker.activeCodes.isEmpty)
    }

    @Test func qualityIsTheWorstActiveImpact() {
        var tracker = FaultTracker(bin: "dry")
        for s in 0..<2 {
            _ = tracker.observe(FaultObservation(.fillWithoutMass, present: true), at: at(Double(s) * 60))
        }
        #expect(tracker.isActive(.fillWithoutMass) && tracker.quality == .suspect)
        for s in 0..<3 { _ = tracker.observe(FaultObservation(.rangerBlind, present: true), at: at(Double(s) * 400)) }
        #expect(tracker.isActive(.rangerBlind))
        #expect(tracker.activeCodes == [.rangerBlind, .fillWithoutMass])
        #expect(tracker.quality(for: .ranger) == .suspect)  // consistency faults touch every sensor
        #expect(ReadingQuality.good.worse(.degraded) == .degraded && ReadingQuality.suspect.worse(.good) == .suspect)
    }

    @Test func outboxDroppedRaisesAtOnceAndClearsAfterQuietTime() {
        var tracker = FaultTracker(bin: nil)
        let drop = tracker.observe(FaultObservation(.outboxDropped, present: true, detail: "seq 100-180"), at: at(0))
        #expect(
            drop?.fault == Fault(bin: nil, sensor: .outbox, code: "outbox.dropped", active: true, detail: "seq 100-180")
        )
        #expect(tracker.observe(FaultObservation(.outboxDropped, present: false), at: at(300)) == nil)
        #expect(tracker.observe(FaultObservation(.outboxDropped, present: false), at: at(900))?.fault.active == false)
        #expect(tracker.quality == .good)  // dropped events say nothing about readings
    }

    @Test func stuckScaleNeedsRepeatsAcrossAWorldChange() {
        var monitor = ScaleStuckMonitor(minRepeats: 5)
        var tracker = FaultTracker(bin: "wet")
        var events: [TimedFault] = []
        for i in 0..<10 {
            let observations = monitor.reading(rawCode: 12345)
            events += tracker.observe(observations, at: at(Double(i)))
        }
        #expect(events.isEmpty)  // repeats alone could be a very quiet scale at rest
        monitor.worldChanged()
        let afterChange = monitor.reading(rawCode: 12345)
        events += tracker.observe(afterChange, at: at(11))
        #expect(events.map(\.fault.code) == ["scale.stuck"])
        for (i, code) in [12001, 12005, 11998].enumerated() {
            let observations = monitor.reading(rawCode: Int32(code))
            events += tracker.observe(observations, at: at(20 + Double(i)))
        }
        #expect(events.map(\.fault.active) == [true, false])
    }

    @Test func saturatedCodes() {
        var monitor = ScaleStuckMonitor()
        let high = monitor.reading(rawCode: 0x7F_FFFF)
        let low = monitor.reading(rawCode: -0x80_0000)
        let normal = monitor.reading(rawCode: 1000)
        #expect(
            high.contains(FaultObservation(.scaleSaturated, present: true, detail: "raw code 8388607 is saturated")))
        #expect(low.first { $0.code == .scaleSaturated }?.present == true)
        #expect(normal.first { $0.code == .scaleSaturated }?.present == false)
    }
}

@Suite struct StateReporterTests {
    let base = BinStateSnapshot(fill: 0.4, massKg: 12, lidOpen: false, quality: .good, temperatureC: 21)

    @Test func publishesOnMeaningfulChangesAndHeartbeat() {
        var reporter = StateReporter(policy: .init(heartbeatS: 300))
        var decisions: [Bool] = []
        func offer(_ snapshot: BinStateSnapshot, _ seconds: Double) {
            decisions.append(reporter.shouldPublish(snapshot, at: at(seconds)))
        }
        offer(base, 0)  // first: yes
        offer(base, 10)  // unchanged: no
        var s = base
        s.fill = 0.41
        s.massKg = 12.03
        s.temperatureC = 21.5
        offer(s, 20)  // below every step: no
        s.fill = 0.43
        offer(s, 30)  // fill moved 3 %: yes
        s.lidOpen = true
        offer(s, 31)  // lid changes go out at once: yes
        s.fill = nil
        offer(s, 32)  // value changes wait for the minimum interval: no
        offer(s, 37)  // yes
        offer(s, 300)  // no
        #expect(reporter.nextHeartbeat == at(337))
        offer(s, 337)  // heartbeat: yes
        reporter.reset()
        offer(s, 338)  // after a reset: yes
        #expect(decisions == [true, false, false, true, true, false, true, false, true, true])
    }

    @Test func payloadClampsAndCarriesEveryField() {
        let payload = BinStateSnapshot(fill: 1.02, massKg: -0.01, lidOpen: true, quality: .degraded, temperatureC: nil)
            .payload(device: "pt-1", bin: "wet", stream: .wet, at: at(0))
        #expect(
            payload
                == StatePayload(
                    device: "pt-1", ts: at(0), bin: "wet", stream: .wet, fill: 1, massKg: 0, lidOpen: true,
                    quality: .degraded, temperatureC: nil))
    }
}
