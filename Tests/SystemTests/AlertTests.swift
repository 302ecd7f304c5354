import BinProtocol
import BinsTestSupport
import Foundation
import Testing

/// Alerts the sanitation center acts on, raised and cleared by the aggregator from what real points
/// publish through the real broker: a bin filled past the `bin_full` threshold and then emptied, a ranger
/// that loses its echo and gets it back, heavy mis-sorting, a point whose link goes down and comes back.
@Suite("Alerts from simulated points")
struct AlertTests {
    static let start = WireTimestamp(rfc3339: "2026-06-01T06:00:00+08:00")!

    /// Seconds after the scenario's start.
    static func offset(_ ts: WireTimestamp) -> Double {
        Double(ts.millisecondsSinceEpoch - start.millisecondsSinceEpoch) / 1000
    }

    /// The dry bin fills to 87 % (nine 23 L deposits, the last at 3000 s) and is emptied at 6600 s; the
    /// wet bin's ranger gets no echo from 1200 s to 3000 s; from 3600 s on, three of seven deposits into
    /// the wet bin are residual waste (6 of 14 kg that day).
    static func scenario() -> ScenarioWriter {
        var writer = ScenarioWriter(
            device: "pt-alerts", bins: [.box240("wet", stream: "wet"), .box240("dry", stream: "dry")], end: 7800)
        for index in 0..<9 { writer.deposit(at: 600 + 300 * index, bin: "dry", kg: 2.3, litres: 23) }
        writer.collect(at: 6600, bin: "dry")
        writer.fault(at: 1200, bin: "wet", sensor: "ranger", kind: "no_echo", forS: 1800)
        writer.deposit(at: 1500, bin: "wet", kg: 1.0, litres: 2.0)
        writer.deposit(at: 2100, bin: "wet", kg: 1.0, litres: 2.0)
        for index in 0..<4 { writer.deposit(at: 3600 + 300 * index, bin: "wet", kg: 1.5, litres: 3.0) }
        for index in 0..<3 { writer.deposit(at: 3750 + 300 * index, bin: "wet", kg: 2.0, litres: 20, material: "dry") }
        return writer
    }

    @Test(
        "bin_full raised after the fill stayed above 80 % and cleared by the collection; sensor_fault raised and cleared; contamination raised"
    )
    func fillFaultAndContamination() async throws {
        let run = try await OnePointDistrict.start(Self.scenario(), prefix: "system-alerts")
        let device = run.device
        let aggregator = run.aggregator
        _ = try await run.play()

        // Alerts follow the devices' own clock (payload ts), and the engine takes its observations in the
        // order ingest committed them (retained states and outbox events travel separately), so wait for
        // the scenario's final picture before judging the details.
        try await waitFor("bin_full and sensor_fault cleared, contamination raised", timeout: .seconds(30)) {
            let alerts = try await aggregator.alerts()
            let done =
                alerts.contains { $0.kind == .binFull && $0.state == .cleared }
                && alerts.contains { $0.kind == .sensorFault && $0.state == .cleared }
                && alerts.contains { $0.kind == .contamination }
            return (done, "\(alerts.map { "\($0.kind.rawValue) \($0.subject) \($0.state.rawValue)" })")
        }
        let alerts = try await aggregator.alerts()
        let described = alerts.map {
            "\($0.kind.rawValue) \($0.subject) \($0.state.rawValue) raised +\(Self.offset($0.raisedAt)) s"
        }
        print("\(device) alerts: \(described)")

        // bin_full: the dry bin passed 0.8 with the ninth deposit (3000 s) and stayed there for the rule's
        // 300 s; it is cleared by a fill reading after the collection at 6600 s. (Retained states are
        // coalesced, newest first, when a point publishes slower than its flat-out virtual clock runs,
        // so the clearing reading may be a later one than the first after the collection.) The wet bin
        // never came near.
        let full = alerts.filter { $0.kind == .binFull }
        #expect(full.map(\.subject) == ["bin:\(device)/dry"], "\(described)")
        if let alert = full.first {
            #expect(alert.state == .cleared && alert.severity == .warning)
            #expect((3300...6600).contains(Self.offset(alert.raisedAt)), "raised at +\(Self.offset(alert.raisedAt)) s")
            let cleared = alert.clearedAt.map(Self.offset) ?? -1
            #expect((6600...7800).contains(cleared), "cleared at +\(cleared) s")
        }
        #expect(!alerts.contains { $0.kind == .binOverflow }, "\(described)")

        // sensor_fault: the wet ranger's missing echo is noticed at the next ranger reading (at most one
        // 900 s heartbeat after 1200 s), raised after three misses over a minute (retries every 30 s) and
        // cleared within two retries after the echo is back at 3000 s (docs/binsd.md section 6).
        let faults = alerts.filter { $0.kind == .sensorFault }
        #expect(faults.map(\.subject) == ["bin:\(device)/wet"], "\(described)")
        if let alert = faults.first {
            #expect(alert.state == .cleared)
            #expect(
                (1200...1200 + 900 + 90).contains(Self.offset(alert.raisedAt)),
                "raised at +\(Self.offset(alert.raisedAt)) s")
            let cleared = alert.clearedAt.map(Self.offset) ?? -1
            #expect((3000...3000 + 120).contains(cleared), "cleared at +\(cleared) s")
        }

        // contamination: the wet bin's share of mis-sorted waste reaches the 20 % raise level once at least
        // 5 kg were deposited that day; it stays open (the day's share never falls back to 10 %).
        let contamination = alerts.filter { $0.kind == .contamination }
        #expect(contamination.map(\.subject) == ["bin:\(device)/wet"], "\(described)")
        if let alert = contamination.first {
            #expect(alert.state == .raised)
            #expect(Self.offset(alert.raisedAt) >= 3750, "raised at +\(Self.offset(alert.raisedAt)) s")
        }
        // The point stopped cleanly a moment ago; offline alerts wait 15 minutes of wall time.
        #expect(!alerts.contains { $0.kind == .deviceOffline }, "\(described)")
        #expect(try await aggregator.metric(#"bins_alerts_raised_total{kind="bin_full"}"#) == 1)
        await aggregator.stop()
    }

    /// One bin with a deposit every five minutes; the link is down from 1500 s to 3300 s.
    static func offlineScenario() -> ScenarioWriter {
        var writer = ScenarioWriter(device: "pt-offline", bins: [.box240("wet", stream: "wet")], end: 3900)
        for at in stride(from: 300, through: 3600, by: 300) { writer.deposit(at: at, bin: "wet", kg: 1.2, litres: 2.5) }
        writer.networkDown(at: 1500, forS: 1800)
        return writer
    }

    @Test(
        "device_offline raised when the link dies (the broker publishes the will) and cleared when the point is back; raised again when it stops"
    )
    func offlineAndBack() async throws {
        // Liveness is judged on wall time; at 250 virtual seconds per real second the point is heard from
        // several times a second while up (health every 60 s of its clock), and the 1800 s outage lasts
        // about 7 s.
        let run = try await OnePointDistrict.start(
            Self.offlineScenario(), prefix: "system-offline", alerts: AlertRules(offlineRaiseS: 3, offlineClearS: 1))
        let (directory, device, aggregator) = (run.directory, run.device, run.aggregator)
        let subject = "device:\(device)"
        let point = try run.startPoint(speed: 250)

        var raised: AlertPayload?
        try await waitFor("a device_offline alert on \(subject) while the link is down", timeout: .seconds(90)) {
            raised = try await aggregator.alerts().first { $0.kind == .deviceOffline && $0.subject == subject }
            if raised == nil, !point.process.isRunning {
                throw SystemTestError(
                    "binsd simulate ended without the aggregator noticing the outage:\n\(point.logTail)")
            }
            return (raised != nil, "no device_offline alert")
        }
        let alertID = try #require(raised?.id)
        #expect(raised?.severity == .critical)
        // Raised because the broker published the point's will (online: false), not for mere silence.
        #expect(raised?.message.contains("reported offline") == true, "\(raised?.message ?? "")")
        try await waitFor("alert \(alertID) to clear when the point reconnects", timeout: .seconds(90)) {
            let alert = try await aggregator.alerts().first { $0.id == alertID }
            return (alert?.state == .cleared, "state \(alert?.state.rawValue ?? "missing")")
        }

        let summary = try await point.finish()
        #expect(summary.networkOutages == 1)
        try await aggregator.waitUntilBooked([device: summary.lastSeq], in: directory)
        // The deposits of the outage waited in the point's outbox and were booked late, as historical.
        struct Count: Decodable { var count: Int }
        let historical = try await SQLiteQuery.rows(
            Count.self, database: aggregator.databasePath,
            "SELECT count(*) AS count FROM events WHERE device = '\(device)' AND historical", in: directory)
        #expect((historical.first?.count ?? 0) >= 5, "historical events booked: \(historical.first?.count ?? 0)")

        // A clean stop publishes online: false: the point is offline again, a new alert.
        try await waitFor("a second device_offline alert after the point stopped", timeout: .seconds(30)) {
            let open = try await aggregator.alerts().filter {
                $0.kind == .deviceOffline && $0.subject == subject && $0.state == .raised
            }
            return (open.contains { $0.id != alertID }, "open: \(open.map(\.id))")
        }
        await aggregator.stop()
    }
}
