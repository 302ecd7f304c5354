import BinProtocol
import BinsTestSupport
import Foundation
import Testing

/// The stream mass balance from real points: scenarios/mixing-round (two points and their transfer
/// station over three days; on day 2 a round tips its wet carts into the dry container) run through
/// `binsd simulate`, the shipped broker configuration and `bins-aggregator serve`.
@Suite("Transfer-station balance from simulated points")
struct StationBalanceSystemTests {
    /// scenarios/mixing-round/expected-balance.json: the days as the balance API reports them.
    struct Expected: Decodable {
        var days: [Balance.Day]
    }

    struct Balance: Decodable {
        struct Stream: Decodable {
            var stream: String
            var collectedKg: Double
            var receivedKg: Double
        }
        struct Day: Decodable {
            var date: String
            var flags: [String]
            var streams: [Stream]
        }
        struct Station: Decodable {
            var station: String
            var days: [Day]
        }
        var stations: [Station]
    }

    @Test("stream_mixing is raised for the mixed day at that station, and for none of the honest days")
    func mixedRound() async throws {
        let directory = try TemporaryDirectory(prefix: "system-balance")
        let root = "\(TestExecutables.repositoryRoot)/scenarios/mixing-round"
        let points = ["pt-mix-01", "pt-mix-02"]
        let station = "ts-mix"
        let district = try await DistrictBroker.start(devices: points + [station], in: directory)
        let registry = DistrictRegistry(streets: [
            .init(
                id: "st-mix", communities: [.init(id: "c-mix", kind: "property", households: 200, points: points)],
                deliversTo: "ts-1"),
            .init(
                id: "st-station",
                communities: [.init(id: "ts-1", kind: "transfer_station", households: 0, points: [station])]),
        ])
        // A day is judged once the station reports from a later day; the wall-clock rule (an hour of quiet)
        // does not come into it, so a day is never judged before its loads are in.
        var rules = AlertRules()
        rules.extra = """
              stream_mixing: {raise: 0.1, clear: 0.05, for_s: 0, severity: warning}
              mass_missing: {raise: 0.1, clear: 0.05, for_s: 0, severity: warning}
            """
        let aggregator = try AggregatorProcess(
            district: district, registry: registry, alerts: rules, extra: "balance: {settle_s: 3600}", in: directory)
        try await aggregator.start()
        // The points first (their collections), then the station that received them.
        var lastSeq: [String: Int] = [:]
        let running = try points.map {
            try SimulatedPoint.start(scenario: "\(root)/\($0).yaml", device: $0, district: district, in: directory)
        }
        // Three days each, flat out: about 16 s alone, but minutes when the whole suite shares two cores
        // (180 s was once not enough there), so the wait for each run's end is longer than the default.
        for point in running { lastSeq[point.device] = try await point.finish(cpuBudget: .seconds(600)).lastSeq }
        let stationPoint = try SimulatedPoint.start(
            scenario: "\(root)/\(station).yaml", device: station, district: district, in: directory)
        lastSeq[station] = try await stationPoint.finish(cpuBudget: .seconds(600)).lastSeq
        try await aggregator.waitUntilBooked(lastSeq, in: directory)
        try await waitFor("stream_mixing for ts-1 on 2026-06-02", timeout: .seconds(30)) {
            let alerts = try await aggregator.alerts().filter { $0.kind == .streamMixing || $0.kind == .massMissing }
            return (
                alerts.contains { $0.subject == "station:ts-1/2026-06-02" },
                "\(alerts.map { "\($0.kind.rawValue) \($0.subject)" })"
            )
        }
        let alerts = try await aggregator.alerts().filter { $0.kind == .streamMixing || $0.kind == .massMissing }
        #expect(alerts.map(\.kind) == [.streamMixing])
        #expect(alerts.map(\.subject) == ["station:ts-1/2026-06-02"])
        #expect(alerts.first?.raisedAt.rfc3339 == "2026-06-02T23:59:59.999+08:00")

        // The balance as measured agrees with the scenario's truth within what the sensors resolve, and
        // flags exactly the mixed day.
        let expected = try JSONDecoder.snakeCase.decode(
            Expected.self, from: Data(contentsOf: URL(fileURLWithPath: "\(root)/expected-balance.json")))
        let balance = try await HTTPClient.getJSON(
            Balance.self, "\(aggregator.baseURL)/api/v1/balance?station=ts-1&from=2026-06-01&to=2026-06-03")
        let days = try #require(balance.stations.first?.days)
        #expect(days.map(\.date) == expected.days.map(\.date))
        for (day, truth) in zip(days, expected.days) {
            #expect(day.flags == truth.flags, "\(day.date)")
            for (stream, truthStream) in zip(day.streams, truth.streams) {
                #expect(stream.stream == truthStream.stream)
                // A point's daemon does not report a collection below its threshold (about 1.5 kg).
                #expect(
                    abs(stream.collectedKg - truthStream.collectedKg) <= max(1.5, truthStream.collectedKg * 0.05),
                    "\(day.date) \(stream.stream) collected")
                #expect(
                    abs(stream.receivedKg - truthStream.receivedKg) <= max(1.5, truthStream.receivedKg * 0.05),
                    "\(day.date) \(stream.stream) received")
            }
        }
        try await Self.lookAtReports(aggregator: aggregator, directory: directory)
        await aggregator.stop()
    }

    /// What the district officer reads, in a real browser: the daily inspection of the mixed day in Chinese
    /// flags it in the balance section, the honest day's does not, and the next day's plan renders; no
    /// errors in the browser's console; screenshots kept (in `BINS_CONSOLE_SCREENSHOTS` when set).
    static func lookAtReports(aggregator: AggregatorProcess, directory: TemporaryDirectory) async throws {
        let webDriver = try await WebDriver.start(in: directory)
        let browser = try await webDriver.session(width: 1280, height: 900)
        let shots = try ConsoleBrowserTests.screenshotDirectory(directory)
        let balanceRows = """
            return Array.from(document.querySelectorAll('section')).filter(s => s.textContent.includes('中转站分类质量平衡'))
              .flatMap(s => Array.from(s.querySelectorAll('tbody tr')).map(r => r.innerText)).join('\\n')
            """
        for (date, mixed) in [("2026-06-02", true), ("2026-06-01", false)] {
            try await browser.open("\(aggregator.baseURL)/api/v1/reports/daily?date=\(date)&format=html&lang=zh")
            try await browser.waitUntil(
                "the daily report of \(date)", timeout: .seconds(20), "return document.readyState === 'complete'")
            let rows = try await browser.string(balanceRows)
            #expect(rows.contains("湿垃圾（厨余）") && rows.contains("干垃圾（其他）"), "\(date): \(rows)")
            #expect(rows.contains("混装混运") == mixed, "\(date): \(rows)")
            try await ConsoleBrowserTests.expectNoConsoleErrors(browser, "daily \(date)")
            try await ConsoleBrowserTests.fullPageScreenshot(browser, to: "\(shots)/daily-balance-\(date)-zh.png")
        }
        try await browser.open("\(aggregator.baseURL)/api/v1/plan?date=2026-06-04&format=html&lang=zh")
        try await browser.waitUntil("the plan", timeout: .seconds(20), "return document.readyState === 'complete'")
        #expect(try await browser.string("return document.body.innerText").contains("每日清运计划"))
        try await ConsoleBrowserTests.expectNoConsoleErrors(browser, "plan")
        try await ConsoleBrowserTests.fullPageScreenshot(browser, to: "\(shots)/plan-zh.png")
        await browser.close()
        await webDriver.stop()
    }
}

extension JSONDecoder {
    static var snakeCase: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }
}
