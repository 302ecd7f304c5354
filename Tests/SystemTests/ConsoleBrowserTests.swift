import BinProtocol
import BinsTestSupport
import Foundation
import Logging
import MQTT
import Testing

/// The console as a person sees it: Debian's `chromium`, headless, driven through `chromium-driver`
/// (WebDriver), against `bins-aggregator serve` on the shipped broker, after four points have each
/// simulated yesterday (`binsd simulate` with library scenarios) and two more publish as devices do.
///
/// It checks what the issue asks of the console: the overview's totals equal the ledger API, the bins page
/// lists every bin, a bin crossing its full threshold shows up as an alert on an open page within 2 s
/// without a reload (live push), acknowledging it from the page changes the database, the zh/en switch
/// changes the labels and is remembered, a 390 px phone viewport has no horizontal overflow on any page,
/// the browser's console shows no errors, a device name and a fault detail with markup show as text, and
/// a page that loses its live connection says so and recovers. It takes screenshots of the overview, the
/// bins, the alerts and a point page in both languages (into `BINS_CONSOLE_SCREENSHOTS` when set: see
/// `scripts/console-screenshots`, which writes the ones docs/console.md shows).
@Suite("Console in a browser", .serialized)
struct ConsoleBrowserTests {
    static let token = "duty-officer-console-token-4711"
    static let probe = "pt-probe"
    static let hostileDevice = "pt-0099"
    static let hostileName = "Block 9 <script>window.__pwned=1</script>"
    static let points: [(file: String, device: String)] = [
        ("residential.yaml", "pt-0001"), ("missorting.yaml", "pt-0002"), ("faults.yaml", "pt-0003"),
        ("office.yaml", "pt-0004"),
    ]

    static let registry: DistrictRegistry = {
        var registry = DistrictRegistry(
            districtID: "riverside", districtName: "Riverside District",
            streets: [
                .init(
                    id: "st-east",
                    communities: [
                        .init(id: "c-garden", kind: "property", households: 820, points: ["pt-0001", "pt-0002"]),
                        .init(id: "c-market", kind: "open", households: 430, points: ["pt-0003"]),
                    ]),
                .init(
                    id: "st-west",
                    communities: [
                        .init(id: "c-tower", kind: "office", households: 0, points: ["pt-0004"]),
                        .init(id: "c-riverside", kind: "property", households: 960, points: [probe, hostileDevice]),
                    ]),
            ])
        registry.names = [
            "st-east": "East Street", "st-west": "West Street", "c-garden": "Garden Court", "c-market": "Market Lane",
            "c-tower": "Harbour Tower offices", "c-riverside": "Riverside Gardens",
        ]
        registry.details = [
            "pt-0001": .init(name: "Garden Court north gate", latitude: 31.23312, longitude: 121.48105),
            "pt-0002": .init(name: "Garden Court block 7", latitude: 31.23205, longitude: 121.48298),
            "pt-0003": .init(name: "Market Lane corner", latitude: 31.23041, longitude: 121.48512),
            "pt-0004": .init(name: "Tower lobby", latitude: 31.22893, longitude: 121.47588),
            probe: .init(name: "Riverside Gardens gate", latitude: 31.22712, longitude: 121.47402),
            hostileDevice: .init(name: hostileName, latitude: 31.22655, longitude: 121.47705),
        ]
        return registry
    }()

    static let targets = """
        targets:
          start: 2026-01-01
          baseline: {dry_kg_per_day: 210}
          dry_reduction: {target: 0.15, by: 2027-06-30}
          separation_rate: {target: 0.45, by: 2027-06-30}
          recovery_rate: {target: 0.55, by: 2027-06-30}
          contamination_rate: {ceiling: 0.10, by: 2027-06-30}
          coverage:
            - {id: all-communities, name: Every community sorting, communities: 1.0, by: 2027-03-31}
        """

    static var screenshotDirectory: String? { ProcessInfo.processInfo.environment["BINS_CONSOLE_SCREENSHOTS"] }

    @Test(
        "the console in headless chromium: totals, every bin, live alerts, ack, languages, phone width, no errors, escaping"
    )
    func console() async throws {
        let directory = try TemporaryDirectory(prefix: "system-console")
        let district = try await DistrictBroker.start(devices: Self.registry.devices, in: directory)
        let aggregator = try AggregatorProcess(
            district: district, registry: Self.registry, http: ["tokens: [{name: duty-officer, token: \(Self.token)}]"],
            extra: Self.targets,
            in: directory)
        try await aggregator.start()

        // A simulated day, yesterday in the district's zone, at four points in parallel.
        let zone = TimeZone(identifier: "Asia/Shanghai")!
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let yesterday = calendar.date(byAdding: .day, value: -1, to: calendar.startOfDay(for: Date()))!
        let day = Self.dayString(yesterday, zone: zone)
        let root = TestExecutables.repositoryRoot
        var running: [SimulatedPoint] = []
        _ = try directory.directory("scenarios")
        for point in Self.points {
            let text = try String(contentsOfFile: "\(root)/scenarios/\(point.file)", encoding: .utf8)
                .replacingOccurrences(
                    of: #"(?m)^start: .*$"#, with: "start: \(day)T00:00:00+08:00", options: .regularExpression
                )
                .replacingOccurrences(
                    of: #"(?m)^device: .*$"#, with: "device: \(point.device)", options: .regularExpression)
            let scenario = try directory.write("scenarios/\(point.device).yaml", text)
            running.append(
                try SimulatedPoint.start(scenario: scenario, device: point.device, district: district, in: directory))
        }
        var lastSeq: [String: Int] = [:]
        for point in running { lastSeq[point.device] = try await point.finish(cpuBudget: .seconds(300)).lastSeq }
        try await aggregator.waitUntilBooked(lastSeq, in: directory, timeout: .seconds(180))

        // The four points start again for today, as their daemons would after the simulated day ended with a
        // clean stop (which reported them offline).
        for point in Self.points {
            let device = try await DeviceClient(device: point.device, district: district)
            try await device.publish(
                Topics.status(point.device),
                StatusPayload(device: point.device, ts: DeviceClient.timestamp(Date()), online: true, session: 2),
                retain: true)
            await device.stop()
        }

        // Two more points publish as devices do: the probe (whose bin will fill up while a page watches) and
        // one whose name and fault detail carry markup.
        let probe = try await DeviceClient(device: Self.probe, district: district)
        let hostile = try await DeviceClient(device: Self.hostileDevice, district: district)
        let now = Date()
        try await probe.announce(
            bins: [("wet", "wet"), ("dry", "dry"), ("recyclable", "recyclable")], at: now.addingTimeInterval(-3600))
        try await probe.state(bin: "wet", stream: "wet", fill: 0.42, massKg: 31, at: now.addingTimeInterval(-3600))
        try await probe.state(bin: "dry", stream: "dry", fill: 0.55, massKg: 12, at: now.addingTimeInterval(-3600))
        try await probe.state(
            bin: "recyclable", stream: "recyclable", fill: 0.3, massKg: 4, at: now.addingTimeInterval(-3600))
        for (seq, (bin, kg)) in [("wet", 2.4), ("dry", 1.1), ("wet", 1.8), ("recyclable", 0.6)].enumerated() {
            try await probe.deposit(seq: seq + 1, bin: bin, kg: kg, at: now.addingTimeInterval(Double(seq - 10) * 60))
        }
        try await waitFor("the probe's deposits booked", timeout: .seconds(30)) {
            let booked = try await aggregator.bookedEvents(in: directory)
            return (booked[Self.probe]?.count == 4, "\(booked.values.map(\.summary))")
        }

        let webDriver = try await WebDriver.start(in: directory)
        do {
            // The screenshots for docs/console.md first, before the hostile device says anything.
            try await Self.screenshots(aggregator: aggregator, webDriver: webDriver, directory: directory)
            try await hostile.announce(bins: [("wet", "wet"), ("dry", "dry")], at: now.addingTimeInterval(-600))
            try await hostile.state(bin: "wet", stream: "wet", fill: 0.2, massKg: 9, at: now.addingTimeInterval(-600))
            try await hostile.fault(
                seq: 1, bin: "wet", code: "ranger.no_echo", detail: "echo lost <img src=x onerror=window.__pwned=2>",
                at: now)
            try await waitFor("the hostile fault booked", timeout: .seconds(30)) {
                let booked = try await aggregator.bookedEvents(in: directory)
                return (booked[Self.hostileDevice]?.count == 1, "\(booked.values.map(\.summary))")
            }
            try await Self.checks(aggregator: aggregator, probe: probe, webDriver: webDriver, directory: directory)
        } catch {
            await webDriver.stop()
            await probe.stop()
            await hostile.stop()
            await aggregator.stop()
            throw error
        }
        await webDriver.stop()
        await probe.stop()
        await hostile.stop()
        await aggregator.stop()
    }

    static func checks(
        aggregator: AggregatorProcess, probe: DeviceClient, webDriver: WebDriver, directory: TemporaryDirectory
    ) async throws {
        let browser = try await webDriver.session(width: 1280, height: 900)
        let phone = try await webDriver.session(width: 390, height: 844, phone: true)
        do {
            try await checks(aggregator: aggregator, probe: probe, browser: browser, phone: phone, directory: directory)
        } catch {
            await browser.close()
            await phone.close()
            throw error
        }
        await browser.close()
        await phone.close()
    }

    static func checks(
        aggregator: AggregatorProcess, probe: DeviceClient, browser: BrowserSession, phone: BrowserSession,
        directory: TemporaryDirectory
    ) async throws {
        let base = aggregator.baseURL

        /// Opens `path`, waits for the document, and fails on anything the page logged as an error.
        func visit(_ session: BrowserSession, _ path: String) async throws {
            try await session.open(base + path)
            try await session.waitUntil(
                "\(path) to load", timeout: .seconds(20), "return document.readyState === 'complete'")
            try await expectNoConsoleErrors(session, path)
        }

        // The console check can see errors: one written on purpose is in the log, and then the log is clear.
        try await browser.open(base + "/")
        try await browser.run("console.error('bins-console-test: an error on purpose')")
        let logged = try await browser.consoleLog()
        #expect(
            logged.contains { $0.level == "SEVERE" && $0.message.contains("an error on purpose") },
            "browser log: \(logged)")

        // The overview's district figures are the ledger API's, for today and the last 7 days.
        try await visit(browser, "/")
        let today = Self.dayString(Date(), zone: TimeZone(identifier: "Asia/Shanghai")!)
        let weekAgo = Self.dayString(
            Date().addingTimeInterval(-6 * 86_400), zone: TimeZone(identifier: "Asia/Shanghai")!)
        for (field, from) in [("today", today), ("week", weekAgo)] {
            let ledger = try await aggregator.ledger(level: "district", id: "riverside", from: from, to: today)
            for stream in Figures.streams + ["total"] {
                let figures = stream == "total" ? ledger.total.total : ledger.stream(stream)
                for (name, value) in [
                    ("deposited", figures.depositedKg), ("collected", figures.collectedKg),
                    ("contaminated", figures.contaminatedKg),
                    ("unknown", figures.unknownKg),
                ] {
                    let shown = try await browser.string(
                        "return (document.querySelector('#district-figures tr[data-stream=\"' + arguments[0] + '\"] [data-field=\"' + arguments[1] + '\"]') || {}).textContent || ''",
                        [stream, "\(field)-\(name)"])
                    let number = Double(shown.replacingOccurrences(of: ",", with: "")) ?? .nan
                    // The page rounds to 0.1 kg (whole kilograms from 10 t up).
                    let tolerance = value >= 10_000 ? 0.51 : 0.051
                    #expect(
                        abs(number - value) <= tolerance,
                        "overview \(field) \(stream) \(name): shown \(shown), ledger API \(value)")
                }
            }
            if field == "week" {
                #expect(ledger.total.total.depositedKg > 0, "the simulated day is in the last 7 days")
            }
        }

        // The bins page lists every bin the API knows, once, and shows markup from the registry as text.
        try await visit(browser, "/bins")
        let listed =
            try await browser.run(
                "return Array.from(document.querySelectorAll('#bins-table tr[data-bin]')).map(r => r.getAttribute('data-bin'))"
            ) as? [String] ?? []
        let known = try await aggregator.bins().map { "\($0.device)/\($0.bin)" }
        #expect(known.count >= 14, "bins known to the API: \(known)")
        #expect(listed.sorted() == known.sorted(), "bins page \(listed) vs API \(known)")
        let hostileText = try await browser.string(
            "return document.querySelector('tr[data-bin=\"\(Self.hostileDevice)/wet\"] .point-name').textContent")
        #expect(hostileText == Self.hostileName, "the name shows as text: \(hostileText)")
        #expect(
            try await browser.run("return window.__pwned === undefined") as? Bool == true,
            "markup from the registry ran")
        try await visit(browser, "/points/\(Self.hostileDevice)")
        let detail = try await browser.string("return document.querySelector('.fault-list .detail').textContent")
        #expect(detail.contains("<img src=x onerror=window.__pwned=2>"), "the fault detail shows as text: \(detail)")
        #expect(
            try await browser.bool(
                "return window.__pwned === undefined && document.querySelectorAll('img[src=\"x\"]').length === 0"))

        // A bin crossing its full threshold appears on an open alerts page within 2 s, pushed, not reloaded.
        try await visit(browser, "/alerts")
        try await browser.run("window.__sameDocument = 'still here'")
        let stateAt = Date()
        try await probe.state(bin: "wet", stream: "wet", fill: 0.84, massKg: 70, at: stateAt.addingTimeInterval(-320))
        try await probe.state(bin: "wet", stream: "wet", fill: 0.88, massKg: 74, at: stateAt)
        var alertID = ""
        try await waitFor(
            "bin_full on \(Self.probe)/wet in the alerts API", timeout: .seconds(20), every: .milliseconds(50)
        ) {
            let alert = try await aggregator.alerts().first {
                $0.kind == .binFull && $0.subject == "bin:\(Self.probe)/wet"
            }
            alertID = alert?.id ?? ""
            return (alert != nil, alertID)
        }
        let raisedSeen = ContinuousClock.now
        try await browser.waitUntil(
            "the new bin_full alert on the open page (within 2 s of the API showing it)", timeout: .seconds(2),
            "return document.querySelector('tr[data-alert=\"\(alertID)\"]') !== null")
        print(
            "console: alert on the open page \(ContinuousClock.now - raisedSeen) after the API showed it, \(String(format: "%.2f", Date().timeIntervalSince(stateAt))) s after the state was published"
        )
        #expect(
            try await browser.string("return window.__sameDocument || ''") == "still here",
            "the page was reloaded instead of updated")
        #expect(try await browser.bool("return document.getElementById('live-status').hidden === true"))
        try await expectNoConsoleErrors(browser, "/alerts after the push")

        // Acknowledging from the page (signed in with the operator's token) changes the alert in the database.
        try await visit(browser, "/sign-in?next=%2Falerts")
        try await browser.type(Self.token, into: "#token")
        try await browser.click("form[action=\"/sign-in\"] button[type=submit]")
        try await browser.waitUntil(
            "the alerts page after signing in", timeout: .seconds(10),
            "return location.pathname === '/alerts' && document.querySelector('[data-ack]') !== null")
        #expect(!(try await browser.currentURL).contains(Self.token), "the token must never be in a URL")
        try await browser.click("button[data-ack=\"\(alertID)\"]")
        try await browser.waitUntil(
            "the alert shown acknowledged", timeout: .seconds(10),
            "return document.querySelector('tr[data-alert=\"\(alertID)\"][data-state=\"acknowledged\"]') !== null")
        struct AlertRow: Decodable {
            var state: String
            var acknowledgedBy: String?
        }
        let stored = try await SQLiteQuery.rows(
            AlertRow.self, database: aggregator.databasePath,
            "SELECT state, acknowledged_by FROM alerts WHERE id = '\(alertID)'", in: directory)
        #expect(
            stored.first?.state == "acknowledged" && stored.first?.acknowledgedBy == "duty-officer",
            "database: \(stored)")
        try await expectNoConsoleErrors(browser, "/alerts after acknowledging")

        // The language switch changes the labels and is remembered from page to page.
        #expect(
            try await browser.string(
                "return document.querySelector('nav a[data-nav=\"alerts\"]').firstChild.textContent.trim()") == "Alerts"
        )
        try await browser.click(".lang a[lang=\"zh\"]")
        try await browser.waitUntil(
            "Chinese labels", timeout: .seconds(10), "return document.documentElement.lang === 'zh-CN'")
        #expect(
            try await browser.string(
                "return document.querySelector('nav a[data-nav=\"alerts\"]').firstChild.textContent.trim()") == "告警")
        try await visit(browser, "/bins")
        #expect(
            try await browser.string("return document.querySelector('nav a[data-nav=\"bins\"]').textContent.trim()")
                == "实时桶况")
        #expect(try await browser.string("return document.querySelector('#bins-table thead th').textContent") == "投放点")
        try await browser.click(".lang a[lang=\"en\"]")
        try await browser.waitUntil(
            "English labels", timeout: .seconds(10), "return document.documentElement.lang === 'en'")

        // A phone, 390 px wide: no page scrolls sideways.
        for language in ["en", "zh"] {
            try await phone.open(base + "/lang/\(language)?next=%2F")
            for path in [
                "/", "/bins", "/bins?view=map", "/alerts?state=all", "/targets", "/ledger", "/ledger?period=week",
                "/reports",
                "/points/pt-0002", "/points/\(Self.hostileDevice)", "/sign-in",
            ] {
                try await visit(phone, path)
                let widths =
                    try await phone.run(
                        "return [window.innerWidth, document.documentElement.scrollWidth, document.body.scrollWidth]")
                    as? [Int] ?? []
                #expect(
                    widths.count == 3 && widths[0] == 390 && widths[1] <= widths[0] && widths[2] <= widths[0],
                    "\(language) \(path): \(widths)")
            }
        }

        // A page whose live connection drops says so, and recovers when the aggregator is back.
        try await visit(browser, "/alerts")
        await aggregator.stop()
        try await browser.waitUntil(
            "the page to say its live connection is lost", timeout: .seconds(15),
            "return document.getElementById('live-status').hidden === false")
        try await aggregator.start()
        try await browser.waitUntil(
            "the page to reconnect", timeout: .seconds(30),
            "return document.getElementById('live-status').hidden === true")
    }

    /// Screenshots of the overview, the bins, the alerts and a point page in both languages, and two on a phone.
    static func screenshots(aggregator: AggregatorProcess, webDriver: WebDriver, directory: TemporaryDirectory)
        async throws
    {
        let base = aggregator.baseURL
        let browser = try await webDriver.session(width: 1280, height: 900)
        let shots = try screenshotDirectory(directory)
        // Signed in as the duty officer, as the center's staff would be.
        try await browser.open(base + "/sign-in")
        try await browser.type(Self.token, into: "#token")
        try await browser.click("form[action=\"/sign-in\"] button[type=submit]")
        try await browser.waitUntil(
            "signed in", timeout: .seconds(10), "return document.querySelector('form[action=\"/sign-out\"]') !== null")
        for language in ["en", "zh"] {
            try await browser.open(base + "/lang/\(language)?next=%2F")
            var pages = [
                ("overview", "/"), ("bins", "/bins?street=st-east"), ("alerts", "/alerts?state=all"),
                ("point", "/points/pt-0002"),
            ]
            if language == "en" {
                pages += [
                    ("map", "/bins?view=map"), ("targets", "/targets"), ("ledger", "/ledger"), ("reports", "/reports"),
                ]
            }
            for (name, path) in pages {
                try await browser.open(base + path)
                try await browser.waitUntil(
                    "\(path) to load", timeout: .seconds(20), "return document.readyState === 'complete'")
                try await expectNoConsoleErrors(browser, path)
                try await fullPageScreenshot(browser, to: "\(shots)/\(name)-\(language).png")
            }
        }
        await browser.close()
        let phone = try await webDriver.session(width: 390, height: 844, phone: true)
        for (language, name, path) in [("en", "phone-overview-en", "/"), ("zh", "phone-map-zh", "/bins?view=map")] {
            try await phone.open(base + "/lang/\(language)?next=" + (path == "/" ? "%2F" : "%2Fbins%3Fview%3Dmap"))
            try await phone.waitUntil(
                "\(path) to load", timeout: .seconds(20), "return document.readyState === 'complete'")
            try await fullPageScreenshot(phone, to: "\(shots)/\(name).png", width: 390)
        }
        await phone.close()
    }

    /// The browser's console since the last look: nothing at level SEVERE (errors, refused scripts or
    /// styles, failed loads).
    static func expectNoConsoleErrors(_ session: BrowserSession, _ page: String) async throws {
        let errors = try await session.consoleLog().filter { $0.level == "SEVERE" }
        #expect(errors.isEmpty, "\(page): the browser's console shows \(errors.map(\.message))")
    }

    static func screenshotDirectory(_ directory: TemporaryDirectory) throws -> String {
        if let path = screenshotDirectory {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            return path
        }
        return try directory.directory("screenshots")
    }

    /// A screenshot of the whole page: the window made as tall as the document (up to 3000 px) first.
    static func fullPageScreenshot(_ session: BrowserSession, to path: String, width: Int = 1280) async throws {
        if width != 390 {
            try await session.setWindow(width: width, height: 600)
            // The window is taller than its viewport by the browser's own frame.
            let sizes =
                try await session.run(
                    "return [Math.ceil(document.documentElement.scrollHeight), window.outerHeight - window.innerHeight]"
                ) as? [Int] ?? [900, 0]
            try await session.setWindow(width: width, height: min(max(sizes[0], 600), 3200) + max(0, sizes[1]))
        }
        try await session.waitUntil(
            "the page laid out", timeout: .seconds(5), "return document.readyState === 'complete'")
        let png = try await session.screenshot()
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]) && png.count > 10_000, "\(path): \(png.count) bytes")
        try png.write(to: URL(fileURLWithPath: path))
    }

    static func dayString(_ date: Date, zone: TimeZone) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let parts = calendar.dateComponents([.year, .month, .day], from: date)
        return String(format: "%04d-%02d-%02d", parts.year!, parts.month!, parts.day!)
    }
}

/// A test-side device: logs in to the shipped broker's device listener (TLS) with its own account and publishes what `binsd`
/// would (status, birth, states, events) for situations a scenario cannot time against an open page.
final class DeviceClient: Sendable {
    let device: String
    private let client: MQTTClient
    private let task: Task<Void, any Error>

    init(device: String, district: DistrictBroker) async throws {
        self.device = device
        let password = try String(contentsOfFile: district.passwordFile(device), encoding: .utf8).trimmingCharacters(
            in: .whitespacesAndNewlines)
        let client = try MQTTClient(
            configuration: MQTTConfiguration(
                host: district.broker.host, port: district.broker.tlsPort ?? district.broker.port, clientID: device,
                username: device,
                password: password, tls: MQTTTLSConfiguration(caFile: district.certificates.caFile),
                reconnectDelayMin: .milliseconds(100), reconnectDelayMax: .milliseconds(500)),
            logger: Logger(label: "system-test-device", factory: { _ in SwiftLogNoOpLogHandler() }))
        self.client = client
        task = Task { try await client.run() }
        try await client.waitUntilConnected(timeout: .seconds(20))
    }

    func stop() async {
        await client.disconnect()
        _ = try? await task.value
    }

    static func timestamp(_ date: Date) -> WireTimestamp {
        WireTimestamp(millisecondsSinceEpoch: Int64(date.timeIntervalSince1970 * 1000), utcOffsetSeconds: 8 * 3600)
    }

    func publish(_ topic: String, _ payload: some Encodable, retain: Bool = false) async throws {
        try await client.publish(
            MQTTMessage(topic: topic, payload: try WireCodec.encode(payload), qos: .atLeastOnce, retain: retain))
    }

    func announce(bins: [(id: String, stream: String)], at date: Date) async throws {
        try await publish(
            Topics.status(device), StatusPayload(device: device, ts: Self.timestamp(date), online: true, session: 1),
            retain: true)
        try await publish(
            Topics.birth(device),
            BirthPayload(
                device: device, ts: Self.timestamp(date), session: 1, version: "binsd 1.4.2",
                configHash: "5e1d0c9a8b7f6e5d", board: "rpi4",
                bins: bins.map { BinDescriptor(id: $0.id, stream: WasteStream(rawValue: $0.stream)!, capacityL: 240) }),
            retain: true)
    }

    func state(bin: String, stream: String, fill: Double, massKg: Double, at date: Date) async throws {
        try await publish(
            Topics.state(device, bin: bin),
            StatePayload(
                device: device, ts: Self.timestamp(date), bin: bin, stream: WasteStream(rawValue: stream)!, fill: fill,
                massKg: massKg,
                lidOpen: false, quality: .good, temperatureC: 19.5),
            retain: true)
    }

    func deposit(seq: Int, bin: String, kg: Double, at date: Date) async throws {
        let stream = WasteStream(rawValue: bin)!
        try await publish(
            Topics.events(device),
            EventPayload(
                device: device, ts: Self.timestamp(date), seq: Int64(seq),
                body: .deposit(
                    Deposit(
                        bin: bin, stream: stream, massKg: kg, volumeL: kg * 3, densityKgL: 1 / 3.0,
                        observed: stream == .dry ? .dry : .wet,
                        confidence: 0.82, contaminated: false, quality: .good))))
    }

    func fault(seq: Int, bin: String, code: String, detail: String, at date: Date) async throws {
        try await publish(
            Topics.events(device),
            EventPayload(
                device: device, ts: Self.timestamp(date), seq: Int64(seq),
                body: .fault(Fault(bin: bin, sensor: .ranger, code: code, active: true, detail: detail))))
    }
}
