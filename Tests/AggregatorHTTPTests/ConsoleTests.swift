import Aggregator
import AggregatorHTTP
import BinProtocol
import BinsTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Prometheus
import Testing

/// The web console through Hummingbird's test client against a real runtime on SQLite: every page
/// renders with its security headers, what devices and the registry say is escaped, read access and
/// sign-in, acknowledging from the page (CSRF and origin checked), the language switch, the ledger's CSV
/// against its table and the API, and the live updates' topics. The console in a real browser is tested in
/// SystemTests (ConsoleBrowserTests).
@Suite("Console")
struct ConsoleTests {
    static let operatorToken = "duty-officer-token-0123456789"
    static let readerToken = "inspector-read-token-0123456789"
    /// 2026-06-03 12:00 in Shanghai.
    static let noon = WireTimestamp(rfc3339: "2026-06-03T12:00:00.000+08:00")!.millisecondsSinceEpoch
    static let hostile = "<script>alert(1)</script>"

    static func yaml(directory: String, http: String) -> String {
        """
        time_zone: Asia/Shanghai
        instance: console-test
        broker: {host: 127.0.0.1, port: 1, client_id: agg-\(UUID().uuidString.prefix(8))}
        storage: {sqlite: \(directory)/ledger.sqlite, synchronous: normal}
        http:
        \(http)
        district: {id: riverside, name: Riverside}
        streets:
          - id: s-east
            name: East Street
            communities:
              - id: c-a
                name: Garden
                kind: property
                households: 600
                points:
                  - {device: pt-1, name: "North gate \(hostile)", lat: 31.2301, lon: 121.4737}
                  - {device: pt-2, name: Market corner, lat: 31.2312, lon: 121.4761}
          - id: s-west
            name: West Street
            communities:
              - {id: c-b, name: Market, kind: open, households: 400, points: [pt-3]}
        targets:
          separation_rate: {target: 0.4, by: 2026-12-31}
        """
    }

    static let openHTTP = """
          listen: 127.0.0.1:0
          tokens: [{name: duty-officer, token: \(operatorToken)}]
          read_tokens: [{name: inspector, token: \(readerToken)}]
          require_token_for_reads: false
        """

    static let closedHTTP = """
          listen: 127.0.0.1:0
          tokens: [{name: duty-officer, token: \(operatorToken)}]
          read_tokens: [{name: inspector, token: \(readerToken)}]
        """

    struct Harness {
        let runtime: AggregatorRuntime
        let application: Application<RouterResponder<BasicRequestContext>>
    }

    static func withConsole(http: String = openHTTP, _ body: (Harness) async throws -> Void) async throws {
        let directory = try TemporaryDirectory(prefix: "aggregator-console")
        let configuration = try AggregatorConfiguration.parse(
            yaml: yaml(directory: directory.path, http: http), source: "aggregator.yaml")
        let store = try await AggregatorRuntime.openStore(configuration.storage, logger: APITests.logger)
        let prometheus = PrometheusCollectorRegistry()
        let runtime = try AggregatorRuntime(
            configuration: configuration, store: store, metricsFactory: PrometheusMetricsFactory(registry: prometheus),
            logger: APITests.logger)
        let api = AggregatorAPI(runtime: runtime, prometheus: prometheus, logger: APITests.logger, clock: { Self.noon })
        let application = Application(router: api.makeRouter(), logger: APITests.logger)
        do {
            try await body(Harness(runtime: runtime, application: application))
        } catch {
            await store.close()
            throw error
        }
        await store.close()
    }

    static func time(_ text: String) -> WireTimestamp { APITests.time(text) }

    /// A small district day: births, states, deposits over three days, a fault whose detail is hostile.
    static func book(_ runtime: AggregatorRuntime) async throws {
        let processor = runtime.processor
        func ingest(_ topic: String, _ payload: some Encodable) async throws {
            let bytes = try WireCodec.encode(payload)
            let outcome = await processor.process(topic: topic, payload: bytes, receivedAtMs: Self.noon)
            #expect(outcome.isAccepted, "\(topic): \(outcome)")
        }
        for device in ["pt-1", "pt-2"] {
            try await ingest(
                Topics.status(device),
                StatusPayload(device: device, ts: time("2026-06-03T11:59"), online: true, session: 1))
            try await ingest(
                Topics.birth(device),
                BirthPayload(
                    device: device, ts: time("2026-06-03T11:59"), session: 1, version: "binsd 1.4.2",
                    configHash: "abcdef0123456789",
                    board: "rpi4",
                    bins: [
                        BinDescriptor(id: "wet", stream: .wet, capacityL: 240),
                        BinDescriptor(id: "dry", stream: .dry, capacityL: 240),
                    ]))
        }
        try await ingest(
            Topics.state("pt-1", bin: "wet"),
            StatePayload(
                device: "pt-1", ts: time("2026-06-03T11:58"), bin: "wet", stream: .wet, fill: 0.91, massKg: 61.5,
                lidOpen: false, quality: .good,
                temperatureC: 24))
        try await ingest(
            Topics.state("pt-1", bin: "dry"),
            StatePayload(
                device: "pt-1", ts: time("2026-06-03T11:58"), bin: "dry", stream: .dry, fill: 0.2, massKg: 8,
                lidOpen: true, quality: .degraded,
                temperatureC: 24))
        let deposits: [(String, Int64, String, WasteStream, Double)] = [
            ("pt-1", 1, "2026-06-01T09:00", .wet, 2), ("pt-1", 2, "2026-06-02T09:00", .dry, 3),
            ("pt-2", 1, "2026-06-03T08:00", .wet, 5),
            ("pt-2", 2, "2026-06-03T09:00", .dry, 1.25), ("pt-3", 1, "2026-06-03T10:00", .recyclable, 4),
        ]
        for (device, seq, ts, stream, kg) in deposits {
            let outcome = await processor.process(
                topic: Topics.events(device),
                payload: APITests.deposit(device, seq: seq, at: ts, stream: stream, kg: kg), receivedAtMs: Self.noon)
            #expect(outcome == .accepted(.deposit))
        }
        let fault = EventPayload(
            device: "pt-1", ts: time("2026-06-03T11:00"), seq: 3,
            body: .fault(
                Fault(
                    bin: "wet", sensor: .ranger, code: "ranger.no_echo", active: true,
                    detail: "echo lost <img src=x onerror=alert(2)>")))
        try await ingest(Topics.events("pt-1"), fault)
    }

    static func get(
        _ client: some TestClientProtocol, _ uri: String, headers: HTTPFields = [:]
    ) async throws -> (status: HTTPResponse.Status, headers: HTTPFields, body: String) {
        var headers = headers
        if headers[.accept] == nil { headers[.accept] = "text/html" }
        return try await client.execute(uri: uri, method: .get, headers: headers) { response in
            (response.status, response.headers, String(buffer: response.body))
        }
    }

    static func post(
        _ client: some TestClientProtocol, _ uri: String, form: [String: String], headers: HTTPFields = [:]
    ) async throws -> (status: HTTPResponse.Status, headers: HTTPFields, body: String) {
        var headers = headers
        headers[.contentType] = "application/x-www-form-urlencoded"
        headers[.accept] = "text/html"
        let body = form.map {
            "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")"
        }.joined(separator: "&")
        return try await client.execute(uri: uri, method: .post, headers: headers, body: ByteBuffer(string: body)) {
            response in
            (response.status, response.headers, String(buffer: response.body))
        }
    }

    /// The `bins_session=...` pair of a response's Set-Cookie, for the next request's Cookie header.
    static func sessionCookie(_ headers: HTTPFields) -> String? {
        headers[values: .setCookie].first { $0.hasPrefix("bins_session=") }.map { String($0.prefix { $0 != ";" }) }
    }

    static func csrf(in page: String) -> String? {
        guard let range = page.range(of: "name=\"csrf\" value=\"") else { return nil }
        return String(page[range.upperBound...].prefix { $0 != "\"" })
    }

    static let pages = [
        "/", "/bins", "/bins?view=map", "/bins?show=full", "/bins?street=s-east&sort=fill", "/alerts",
        "/alerts?state=all", "/targets",
        "/ledger", "/ledger?entity=community:c-a&period=week", "/reports", "/points/pt-1", "/points/pt-3", "/sign-in",
    ]

    @Test("every page renders as HTML with a strict Content-Security-Policy and no inline script")
    func pagesAndHeaders() async throws {
        try await Self.withConsole { harness in
            try await Self.book(harness.runtime)
            try await harness.application.test(.router) { client in
                for page in Self.pages {
                    let (status, headers, body) = try await Self.get(client, page)
                    #expect(status == .ok, "\(page): \(body.prefix(300))")
                    #expect(headers[.contentType] == "text/html; charset=utf-8", "\(page)")
                    let policy = headers[.contentSecurityPolicy] ?? ""
                    #expect(
                        policy.contains("script-src 'self'") && policy.contains("default-src 'none'"),
                        "\(page): \(policy)")
                    #expect(!policy.contains("unsafe-inline") && !policy.contains("unsafe-eval"), "\(page): \(policy)")
                    #expect(
                        headers[.xContentTypeOptions] == "nosniff"
                            && headers[HTTPField.Name("X-Frame-Options")!] == "DENY", "\(page)")
                    #expect(body.hasPrefix("<!DOCTYPE html>") && body.contains("</html>"), "\(page)")
                    // Every script is the console's own file; no inline script, no event handler attribute.
                    for script in body.components(separatedBy: "<script").dropFirst() {
                        #expect(script.hasPrefix(" src=\"/assets/console.js"), "\(page): <script\(script.prefix(80))")
                    }
                    #expect(
                        body.range(of: #"<[a-zA-Z][^>]*\son[a-z]+="#, options: .regularExpression) == nil,
                        "\(page) has an event handler attribute")
                    // Nothing is loaded from elsewhere.
                    #expect(
                        body.range(of: #"(src|href)="(https?:)?//"#, options: .regularExpression) == nil,
                        "\(page) loads from elsewhere")
                }
                for asset in ["/assets/console.css", "/assets/console.js", "/assets/icon.svg", "/favicon.ico"] {
                    let (status, headers, body) = try await Self.get(client, asset)
                    #expect(status == .ok && !body.isEmpty && headers[.eTag] != nil, "\(asset)")
                }
                #expect(try await Self.get(client, "/assets/other.js").status == .notFound)
                // Reports keep their own inline style but may run no script at all.
                let report = try await Self.get(client, "/api/v1/reports/daily?date=2026-06-03&format=html&lang=zh")
                #expect(report.status == .ok)
                #expect(report.headers[.contentSecurityPolicy]?.contains("default-src 'none'") == true)
                #expect(report.headers[.contentSecurityPolicy]?.contains("script") == false)
            }
        }
    }

    @Test("text from the registry and from devices is shown as text, never as markup")
    func escaping() async throws {
        try await Self.withConsole { harness in
            try await Self.book(harness.runtime)
            try await harness.application.test(.router) { client in
                for page in ["/bins", "/points/pt-1", "/ledger?entity=point:pt-1", "/bins?view=map"] {
                    let body = try await Self.get(client, page).body
                    #expect(body.contains("North gate &lt;script&gt;alert(1)&lt;/script&gt;"), "\(page)")
                    #expect(!body.contains(Self.hostile), "\(page) carries the raw name")
                }
                let point = try await Self.get(client, "/points/pt-1").body
                #expect(point.contains("echo lost &lt;img src=x onerror=alert(2)&gt;"))
                #expect(!point.contains("<img src=x"))
                // The point page shows what the device said about itself.
                #expect(
                    point.contains("binsd 1.4.2") && point.contains("ranger.no_echo") && point.contains("abcdef012345"))
            }
        }
    }

    @Test(
        "the bins page lists every bin with its state; filters select full, faulty and offline bins; the map draws located points"
    )
    func binsPage() async throws {
        try await Self.withConsole { harness in
            try await Self.book(harness.runtime)
            try await harness.application.test(.router) { client in
                func bins(_ uri: String) async throws -> [String] {
                    let body = try await Self.get(client, uri).body
                    return body.matches(of: /data-bin="([^"]+)"/).map { String($0.1) }
                }
                #expect(try await bins("/bins") == ["pt-1/wet", "pt-1/dry", "pt-2/wet", "pt-2/dry"])
                #expect(try await bins("/bins?show=full") == ["pt-1/wet"])
                #expect(try await bins("/bins?show=faulty") == ["pt-1/wet"])
                #expect(try await bins("/bins?show=offline").isEmpty)
                #expect(try await bins("/bins?stream=dry") == ["pt-1/dry", "pt-2/dry"])
                #expect(try await bins("/bins?sort=fill").first == "pt-1/wet")
                #expect(try await bins("/bins?street=s-west").isEmpty)
                let table = try await Self.get(client, "/bins").body
                #expect(table.contains("91%") && table.contains("61.5 kg"))
                let map = try await Self.get(client, "/bins?view=map").body
                #expect(map.matches(of: /data-device="(pt-[0-9])"/).map { String($0.1) }.sorted() == ["pt-1", "pt-2"])
                #expect(map.contains("East Street"))
                // pt-3 has no coordinates: the page says so instead of leaving it out silently.
                let west = try await Self.get(client, "/bins?view=map&street=s-west").body
                #expect(west.contains("lat"))
            }
        }
    }

    @Test("the overview's figures equal the ledger API for today and the last 7 days")
    func overviewTotals() async throws {
        try await Self.withConsole { harness in
            try await Self.book(harness.runtime)
            try await harness.application.test(.router) { client in
                let page = try await Self.get(client, "/").body
                for (range, from) in [("today", "2026-06-03"), ("week", "2026-05-28")] {
                    let api = try await client.execute(uri: "/api/v1/ledger?from=\(from)&to=2026-06-03", method: .get) {
                        response in
                        try APITests.json(response.body)
                    }
                    let total = try #require(api["total"] as? [String: Any])
                    let streams = try #require(total["streams"] as? [String: [String: Any]])
                    for stream in WasteStream.allCases {
                        let shown = try #require(Self.cell(page, stream: stream.rawValue, field: "\(range)-deposited"))
                        #expect(
                            abs(shown - (streams[stream.rawValue]?["deposited_kg"] as? Double ?? 0)) < 0.051,
                            "\(range) \(stream)")
                    }
                    let shownTotal = try #require(Self.cell(page, stream: "total", field: "\(range)-deposited"))
                    #expect(
                        abs(shownTotal - ((total["total"] as? [String: Any])?["deposited_kg"] as? Double ?? -1))
                            < 0.051, "\(range) total")
                }
                #expect(abs((Self.cell(page, stream: "total", field: "today-deposited") ?? 0) - 10.25) < 0.051)
                #expect(abs((Self.cell(page, stream: "total", field: "week-deposited") ?? 0) - 15.25) < 0.051)
            }
        }
    }

    /// The number in the overview's district table for `stream` (or `total`) and `field`.
    static func cell(_ page: String, stream: String, field: String) -> Double? {
        for row in page.components(separatedBy: "<tr data-stream=\"\(stream)\"").dropFirst() {
            let row = row.prefix(while: { _ in true }).components(separatedBy: "</tr>")[0]
            guard let cell = row.range(of: "data-field=\"\(field)\">") else { continue }
            let text = row[cell.upperBound...].prefix { $0 != "<" }
            return Double(text.replacingOccurrences(of: ",", with: ""))
        }
        return nil
    }

    @Test("the ledger's CSV holds exactly the rows and figures of the table shown")
    func ledgerCSV() async throws {
        try await Self.withConsole { harness in
            try await Self.book(harness.runtime)
            try await harness.application.test(.router) { client in
                for query in [
                    "entity=district&from=2026-06-01&to=2026-06-03",
                    "entity=street:s-east&from=2026-05-25&to=2026-06-07&period=week",
                ] {
                    let page = try await Self.get(client, "/ledger?\(query)").body
                    let table = try #require(page.range(of: "<table class=\"ledger\""))
                    let html = page[table.lowerBound...].prefix { _ in true }
                    let rows = html.split(separator: "<tr>").dropFirst(2).map { row in
                        row.matches(of: /<t[hd][^>]*>([^<]*)<\/t[hd]>/).map {
                            String($0.1).replacingOccurrences(of: ",", with: "")
                        }
                    }.filter { !$0.isEmpty }
                    let csv = try await Self.get(client, "/ledger.csv?\(query)")
                    #expect(csv.headers[.contentDisposition]?.hasPrefix("attachment; filename=\"ledger-") == true)
                    let lines = csv.body.split(separator: "\r\n").dropFirst().map { line in
                        line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
                    }
                    #expect(lines.count == rows.count, "\(query): \(lines.count) CSV rows, \(rows.count) shown")
                    for (shown, written) in zip(rows, lines) {
                        #expect(shown.count == written.count && shown.first == written.first, "\(shown) vs \(written)")
                        for (a, b) in zip(shown.dropFirst(), written.dropFirst()) {
                            let x = Double(a.replacingOccurrences(of: "%", with: ""))
                            let y = Double(b.replacingOccurrences(of: "%", with: ""))
                            #expect(
                                (a == "–" && b.isEmpty) || (x != nil && y != nil && abs(x! - y!) < 0.051),
                                "\(a) vs \(b)")
                        }
                    }
                }
                let csv = try await Self.get(client, "/ledger.csv?entity=district&from=2026-06-01&to=2026-06-03").body
                #expect(
                    csv.contains("2026-06-03,5.0,1.3,4.0,0.0,10.3") || csv.contains("2026-06-03,5.0,1.2,4.0,0.0,10.2"),
                    "\(csv)")
            }
        }
    }

    @Test("reads need a token or a session when read tokens are configured; /healthz and the assets stay open")
    func readAccess() async throws {
        try await Self.withConsole(http: Self.closedHTTP) { harness in
            try await harness.application.test(.router) { client in
                let page = try await Self.get(client, "/bins?street=s-east")
                #expect(page.status == .seeOther)
                #expect(page.headers[.location] == "/sign-in?next=%2Fbins%3Fstreet%3Ds-east")
                let api = try await client.execute(uri: "/api/v1/bins", method: .get) { $0.status }
                #expect(api == .unauthorized)
                #expect(try await client.execute(uri: "/metrics", method: .get) { $0.status } == .unauthorized)
                #expect(try await client.execute(uri: "/live", method: .get) { $0.status } == .unauthorized)
                #expect(try await client.execute(uri: "/healthz", method: .get) { $0.status } == .ok)
                #expect(try await Self.get(client, "/assets/console.css").status == .ok)
                #expect(try await Self.get(client, "/sign-in").status == .ok)
                for token in [Self.readerToken, Self.operatorToken] {
                    #expect(
                        try await client.execute(
                            uri: "/api/v1/bins", method: .get, headers: [.authorization: "Bearer \(token)"]
                        ) { $0.status } == .ok)
                }
                #expect(
                    try await client.execute(
                        uri: "/api/v1/bins", method: .get, headers: [.authorization: "Bearer nope-nope-nope-nope"]
                    ) { $0.status } == .unauthorized)

                // Signing in: the token goes in the form body, the session comes back as a cookie, never the token.
                let wrong = try await Self.post(
                    client, "/sign-in", form: ["token": "not-a-token-of-ours", "next": "/bins"])
                #expect(wrong.status == .unauthorized && wrong.body.contains("not valid"))
                let signIn = try await Self.post(
                    client, "/sign-in", form: ["token": Self.readerToken, "next": "/bins?street=s-east"])
                #expect(signIn.status == .seeOther && signIn.headers[.location] == "/bins?street=s-east")
                let cookie = try #require(Self.sessionCookie(signIn.headers))
                let setCookie = signIn.headers[values: .setCookie].joined()
                #expect(
                    !setCookie.contains(Self.readerToken) && setCookie.contains("HttpOnly")
                        && setCookie.contains("SameSite=Lax"))
                let bins = try await Self.get(client, "/bins", headers: [.cookie: cookie])
                #expect(bins.status == .ok && bins.body.contains("inspector"))
                #expect(
                    try await client.execute(uri: "/api/v1/bins", method: .get, headers: [.cookie: cookie]) {
                        $0.status
                    } == .ok)
                // A tampered session is no session.
                let tampered = cookie.replacingOccurrences(of: "v1.", with: "v1.00")
                #expect(try await Self.get(client, "/bins", headers: [.cookie: tampered]).status == .seeOther)
                // A sign-in posted from another site is refused.
                let crossSite = try await Self.post(
                    client, "/sign-in", form: ["token": Self.readerToken], headers: [.origin: "http://attacker.example"]
                )
                #expect(crossSite.status == .forbidden && Self.sessionCookie(crossSite.headers) == nil)
                // An open redirect is not: `next` must be a path on this server.
                for next in [
                    "//attacker.example/x", "/\t/attacker.example", "https://attacker.example", "/\\attacker.example",
                ] {
                    let away = try await Self.post(client, "/sign-in", form: ["token": Self.readerToken, "next": next])
                    #expect(away.headers[.location] == "/", "\(next)")
                }
            }
        }
    }

    @Test(
        "acknowledging from the page needs an operator's session, the form's CSRF token and the same origin, and changes the alert"
    )
    func acknowledgeFromPage() async throws {
        try await Self.withConsole { harness in
            let store = harness.runtime.store
            let alert = AlertRecord(
                id: "a7f3c1d2-0000-4000-8000-000000000001", kind: .binFull, severity: .warning, subject: "bin:pt-1/wet",
                value: 0.91,
                threshold: 0.8, message: "bin:pt-1/wet (wet) is 91% full", raisedAtMs: Self.noon - 60_000)
            #expect(try await store.raiseAlert(alert, deliveries: []))
            try await harness.application.test(.router) { client in
                let anonymous = try await Self.get(client, "/alerts").body
                #expect(anonymous.contains("data-alert=\"\(alert.id)\"") && !anonymous.contains("data-ack="))
                #expect(try await Self.post(client, "/alerts/\(alert.id)/ack", form: ["csrf": "x"]).status == .seeOther)

                let reader = try #require(
                    Self.sessionCookie(
                        try await Self.post(client, "/sign-in", form: ["token": Self.readerToken]).headers))
                let readerPage = try await Self.get(client, "/alerts", headers: [.cookie: reader]).body
                #expect(!readerPage.contains("data-ack="))
                let readerCSRF = try #require(Self.csrf(in: readerPage))
                let refused = try await Self.post(
                    client, "/alerts/\(alert.id)/ack", form: ["csrf": readerCSRF], headers: [.cookie: reader])
                #expect(refused.status == .forbidden)

                let operatorCookie = try #require(
                    Self.sessionCookie(
                        try await Self.post(client, "/sign-in", form: ["token": Self.operatorToken]).headers))
                let page = try await Self.get(client, "/alerts", headers: [.cookie: operatorCookie]).body
                #expect(page.contains("data-ack=\"\(alert.id)\""))
                let csrf = try #require(Self.csrf(in: page))
                #expect(csrf != readerCSRF)
                for (form, headers) in [
                    (["csrf": "forged"], [HTTPField.Name.cookie: operatorCookie]),
                    ([:], [.cookie: operatorCookie]),
                    (["csrf": csrf], [.cookie: operatorCookie, .origin: "http://attacker.example"]),
                ] as [([String: String], HTTPFields)] {
                    #expect(
                        try await Self.post(client, "/alerts/\(alert.id)/ack", form: form, headers: headers).status
                            == .forbidden, "\(form)")
                    #expect(try await store.alert(id: alert.id)?.state == .raised)
                }
                let done = try await Self.post(
                    client, "/alerts/\(alert.id)/ack", form: ["csrf": csrf, "next": "/alerts"],
                    headers: [.cookie: operatorCookie])
                #expect(done.status == .seeOther && done.headers[.location] == "/alerts")
                let stored = try #require(try await store.alert(id: alert.id))
                #expect(stored.state == .acknowledged && stored.acknowledgedBy == "duty-officer")
                let after = try await Self.get(client, "/alerts", headers: [.cookie: operatorCookie]).body
                #expect(after.contains("data-state=\"acknowledged\"") && !after.contains("data-ack="))
                // Signing out needs the form's token too, and ends the session cookie.
                #expect(
                    try await Self.post(client, "/sign-out", form: [:], headers: [.cookie: operatorCookie]).status
                        == .forbidden)
                let out = try await Self.post(
                    client, "/sign-out", form: ["csrf": csrf], headers: [.cookie: operatorCookie])
                #expect(
                    out.status == .seeOther
                        && out.headers[values: .setCookie].contains {
                            $0.hasPrefix("bins_session=;") && $0.contains("Max-Age=0")
                        })
            }
        }
    }

    @Test(
        "the language switch is remembered in a cookie and changes the labels; the browser's preference is the default")
    func languages() async throws {
        try await Self.withConsole { harness in
            try await harness.application.test(.router) { client in
                let english = try await Self.get(client, "/alerts").body
                #expect(english.contains("<html lang=\"en\">") && english.contains(">Alerts<"))
                let switched = try await Self.get(client, "/lang/zh?next=%2Falerts%3Fstate%3Dall")
                #expect(switched.status == .seeOther && switched.headers[.location] == "/alerts?state=all")
                let cookie = try #require(switched.headers[values: .setCookie].first { $0.hasPrefix("bins_lang=zh") })
                let chinese = try await Self.get(
                    client, "/alerts", headers: [.cookie: String(cookie.prefix { $0 != ";" })]
                ).body
                #expect(
                    chinese.contains("<html lang=\"zh-CN\">") && chinese.contains(">告警<")
                        && !chinese.contains(">Alerts<"))
                let preferred = try await Self.get(
                    client, "/targets", headers: [.acceptLanguage: "zh-CN,zh;q=0.9,en;q=0.5"]
                ).body
                #expect(preferred.contains(">目标<"))
                #expect(try await Self.get(client, "/lang/zh?next=https://attacker.example").headers[.location] == "/")
            }
        }
    }

    @Test("unknown points and routes get an HTML page for browsers and JSON for the API")
    func errorPages() async throws {
        try await Self.withConsole { harness in
            try await harness.application.test(.router) { client in
                let point = try await Self.get(client, "/points/pt-99")
                #expect(
                    point.status == .notFound && point.body.contains("pt-99") && point.body.hasPrefix("<!DOCTYPE html>")
                )
                let nowhere = try await Self.get(client, "/nowhere")
                #expect(nowhere.status == .notFound && nowhere.headers[.contentType] == "text/html; charset=utf-8")
                let api = try await client.execute(uri: "/nowhere", method: .get) {
                    ($0.status, $0.headers[.contentType])
                }
                #expect(api.0 == .notFound && api.1 == "application/json; charset=utf-8")
            }
        }
    }

    @Test(
        "live updates: committed messages and alert steps wake the pages that show their topics, and a stop ends every stream"
    )
    func liveTopics() async throws {
        let live = LiveUpdates()
        let alerts = live.subscribe(topics: [LiveUpdates.Topic.alerts])
        let point = live.subscribe(topics: [LiveUpdates.Topic.device("pt-1")])
        let everything = live.subscribe(topics: nil)
        let state = StatePayload(
            device: "pt-1", ts: Self.time("2026-06-03T11:00"), bin: "wet", stream: .wet, fill: 0.5, massKg: 20,
            lidOpen: false, quality: .good,
            temperatureC: nil)
        live.committed(
            topic: Topics.state("pt-1", bin: "wet"), payload: try WireCodec.encode(state), type: .state, receivedAtMs: 1
        )
        live.alertChanged()
        var wakeUps = point.wakeUps.makeAsyncIterator()
        _ = await wakeUps.next()
        #expect(point.takeChanges() == ["device:pt-1"])
        var alertWakeUps = alerts.wakeUps.makeAsyncIterator()
        _ = await alertWakeUps.next()
        #expect(alerts.takeChanges() == ["alerts"])
        var all = everything.wakeUps.makeAsyncIterator()
        _ = await all.next()
        #expect(everything.takeChanges() == ["alerts", "bins", "device:pt-1"])
        // Health is kept as the point's live picture.
        let health = HealthPayload(
            device: "pt-1", ts: Self.time("2026-06-03T11:00"), session: 3, uptimeS: 7200, samplesTotal: 100,
            sampleErrorsTotal: 1,
            hx711RetriesTotal: 2, publishFailuresTotal: 0, reconnectsTotal: 1, outboxDepth: 0, droppedTotal: 0,
            activeFaults: [])
        live.committed(
            topic: Topics.health("pt-1"), payload: try WireCodec.encode(health), type: .health, receivedAtMs: 5)
        #expect(live.lastHealth(device: "pt-1")?.payload == health)
        #expect(live.subscriberCount == 3)
        live.finish()
        #expect(await wakeUps.next() == nil || point.takeChanges() == ["device:pt-1"])
        #expect(live.subscriberCount == 0)
        var late = live.subscribe(topics: nil).wakeUps.makeAsyncIterator()
        #expect(await late.next() == nil)
    }

    @Test("live updates: a committed batch is one change, and with no page open only health is kept")
    func liveBatches() async throws {
        let live = LiveUpdates()
        let health = HealthPayload(
            device: "pt-2", ts: Self.time("2026-06-03T11:00"), session: 1, uptimeS: 60, samplesTotal: 1,
            sampleErrorsTotal: 0, hx711RetriesTotal: 0, publishFailuresTotal: 0, reconnectsTotal: 0, outboxDepth: 0,
            droppedTotal: 0, activeFaults: [])
        let batch: [(topic: String, payload: [UInt8], type: IngestMetrics.MessageType)] = [
            (Topics.events("pt-1"), [], .deposit), (Topics.events("pt-3"), [], .fault),
            (Topics.health("pt-2"), try WireCodec.encode(health), .health),
        ]
        live.committed(batch, receivedAtMs: 9)
        #expect(live.lastHealth(device: "pt-2")?.payload == health, "health is kept with no page open")
        let everything = live.subscribe(topics: nil)
        live.committed(batch, receivedAtMs: 10)
        var wakeUps = everything.wakeUps.makeAsyncIterator()
        _ = await wakeUps.next()
        #expect(
            everything.takeChanges() == ["device:pt-1", "device:pt-2", "device:pt-3", "ledger", "events", "bins"],
            "one change covering the whole batch, nothing from before the page subscribed")
        live.finish()
    }
}

extension IngestOutcome {
    var isAccepted: Bool {
        if case .accepted = self { return true }
        return false
    }
}
