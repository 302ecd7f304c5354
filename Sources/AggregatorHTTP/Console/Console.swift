import Aggregator
import BinProtocol
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Mustache

/// The sanitation center's web console (docs/console.md): server-rendered pages at `/`, `/bins`,
/// `/alerts`, `/targets`, `/ledger`, `/reports` and `/points/{device}`, a live stream at `/live` that
/// tells open pages what changed, sign-in for the API's tokens, and its own stylesheet and script under
/// `/assets/`. Nothing is fetched from anywhere else.
///
/// Pages are Mustache templates (``ConsoleTemplates``) filled with view models built here; everything
/// from the registry or a device reaches the page through Mustache's escaping or ``HTMLText/escape(_:)``.
/// Each page has a *live region*: the part that `console.js` fetches again (with `X-Console-Fragment: 1`)
/// when the live stream names one of the page's topics.
public struct Console: Sendable {
    let runtime: AggregatorRuntime
    let authority: ConsoleAuthority
    let library: MustacheLibrary
    let logger: Logger
    let clock: @Sendable () -> Int64
    let settings: ConsoleSettings

    public init(runtime: AggregatorRuntime, logger: Logger, clock: @escaping @Sendable () -> Int64) {
        self.runtime = runtime
        authority = ConsoleAuthority(settings: runtime.configuration.http)
        library = ConsoleTemplates.library
        self.logger = logger
        self.clock = clock
        settings = runtime.configuration.http.console
    }

    public var isEnabled: Bool { settings.enabled }

    /// What a page needs to know about its request.
    struct PageContext: Sendable {
        var path: String
        var query: [String: String]
        var language: ReportLanguage
        var session: ConsoleAuthority.Session?
        var nowMs: Int64
        var text: ConsoleText
        var format: ConsoleFormat
        var notice: String? = nil

        func query(_ name: String) -> String? {
            guard let value = query[name]?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
            return value
        }

        /// This page's address with `changes` applied to its query (nil removes a parameter).
        func href(_ changes: [String: String?] = [:], path: String? = nil) -> String {
            var query = self.query
            for (key, value) in changes { query[key] = value }
            query = query.filter { !$0.value.isEmpty && $0.key != "fragment" }
            let encoded = query.sorted { $0.key < $1.key }.map {
                "\(Console.percentEncode($0.key))=\(Console.percentEncode($0.value))"
            }
            return (path ?? self.path) + (encoded.isEmpty ? "" : "?" + encoded.joined(separator: "&"))
        }
    }

    /// A page ready to be laid out.
    struct PageView {
        var status: HTTPResponse.Status = .ok
        var navigation: String
        var title: String
        var template: String
        var liveTemplate: String?
        var liveTopics: [String]
        var model: [String: Any]
        var openAlerts: Int
    }

    static let navigation: [(id: String, href: String)] = [
        ("overview", "/"), ("bins", "/bins"), ("alerts", "/alerts"), ("targets", "/targets"), ("ledger", "/ledger"),
        ("reports", "/reports"),
    ]

    // MARK: Routes

    /// Adds the console's routes. Read access (`http.require_token_for_reads`) is enforced for all routes by
    /// ``accessMiddleware``.
    func register(on router: Router<BasicRequestContext>) {
        router.get("assets/{name}") { request, context in
            ConsoleAssets.response(name: context.parameters.get("name") ?? "", request: request)
        }
        router.get("favicon.ico") { request, _ in ConsoleAssets.response(name: "icon.svg", request: request) }
        router.get("live") { request, _ in LiveStream.response(live: runtime.live, query: request.uri.queryParameters) }
        router.get("lang/{code}") { request, context in
            self.switchLanguage(code: context.parameters.get("code") ?? "", request: request)
        }
        router.get("sign-in") { request, _ in try await self.signInPage(request) }
        router.post("sign-in") { request, _ in try await self.signIn(request) }
        router.post("sign-out") { request, _ in try await self.signOut(request) }
        router.get("/") { request, _ in try await self.page(request) { try await self.overview($0) } }
        router.get("bins") { request, _ in try await self.page(request) { try await self.bins($0) } }
        router.get("alerts") { request, _ in try await self.page(request) { try await self.alerts($0) } }
        router.post("alerts/{id}/ack") { request, context in
            try await self.acknowledge(id: context.parameters.get("id") ?? "", request: request)
        }
        router.get("targets") { request, _ in try await self.page(request) { try await self.targets($0) } }
        router.get("ledger") { request, _ in try await self.page(request) { try await self.ledger($0) } }
        router.get("ledger.csv") { request, _ in try await self.ledgerCSV(request) }
        router.get("reports") { request, _ in try await self.page(request) { try await self.reports($0) } }
        router.get("reports/open") { request, _ in self.openReport(request) }
        router.get("points/{device}") { request, context in
            let device = context.parameters.get("device") ?? ""
            return try await self.page(request) { try await self.point(device, $0) }
        }
    }

    /// Enforces read access on every route (open: `/healthz`, the assets, sign-in and the language switch)
    /// and turns failures on the console's pages into HTML pages.
    var accessMiddleware: ConsoleAccessMiddleware<BasicRequestContext> { ConsoleAccessMiddleware(console: self) }

    // MARK: Rendering

    func context(_ request: Request, nowMs: Int64) -> PageContext {
        var query: [String: String] = [:]
        for (key, value) in request.uri.queryParameters { query[String(key)] = String(value) }
        let language = Self.language(request)
        let text = ConsoleText(language)
        return PageContext(
            path: request.uri.path, query: query, language: language, session: authority.session(request, nowMs: nowMs),
            nowMs: nowMs,
            text: text, format: ConsoleFormat(text: text, calendar: runtime.calendar, nowMs: nowMs))
    }

    /// The language cookie, else the browser's preference (Chinese when it asks for zh first), else English.
    static func language(_ request: Request) -> ReportLanguage {
        if let cookie = request.cookies[ConsoleAuthority.languageCookie]?.value,
            let language = ReportLanguage(rawValue: cookie)
        {
            return language
        }
        let accepted = (request.headers[.acceptLanguage] ?? "").lowercased()
        return accepted.hasPrefix("zh") ? .zh : .en
    }

    func page(_ request: Request, _ build: (PageContext) async throws -> PageView) async throws -> Response {
        let started = ContinuousClock.now
        let context = context(request, nowMs: clock())
        let view = try await build(context)
        let fragment = request.headers[.xConsoleFragment] == "1"
        let html = render(view, context: context, fragment: fragment)
        let elapsed = ContinuousClock.now - started
        var headers: HTTPFields = [
            .contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
            .vary: "Cookie, Accept-Language, X-Console-Fragment",
            .xOpenAlerts: String(view.openAlerts),
        ]
        headers[.serverTiming] = String(
            format: "render;dur=%.1f",
            Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000)
        return Response(status: view.status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    /// The page's HTML: the whole document, or only its live region for a fragment request.
    func render(_ view: PageView, context: PageContext, fragment: Bool) -> String {
        var model = view.model
        model["t"] = context.text.table
        if fragment, let live = view.liveTemplate {
            return library.render(model, withTemplate: live) ?? ""
        }
        let body = library.render(model, withTemplate: view.template) ?? ""
        return layout(view, body: body, context: context)
    }

    func layout(_ view: PageView, body: String, context: PageContext) -> String {
        let text = context.text
        let here = context.href()
        let navigation: [[String: Any]] = Self.navigation.map { item in
            var entry: [String: Any] = ["href": item.href, "label": text[item.id], "id": item.id]
            if item.id == view.navigation { entry["current"] = true }
            if item.id == "alerts", view.openAlerts > 0 { entry["badge"] = String(view.openAlerts) }
            return entry
        }
        let languages: [[String: Any]] = [("en", "EN"), ("zh", "中文")].map { code, label in
            var entry: [String: Any] = [
                "code": code, "label": label, "href": "/lang/\(code)?next=\(Self.percentEncode(here))",
            ]
            if code == context.language.rawValue { entry["current"] = true }
            return entry
        }
        var model: [String: Any] = [
            "htmlLang": context.language == .zh ? "zh-CN" : "en",
            "title": view.title,
            "districtName": runtime.registry.districtName,
            "t": text.table,
            "navigation": navigation,
            "languages": languages,
            "liveTopics": view.liveTopics.joined(separator: ","),
            "body": body,
            "assetVersion": ConsoleAssets.version,
            "signInHref": "/sign-in?next=\(Self.percentEncode(here))",
            "footer": text.format(
                "generated", context.format.time(context.nowMs), runtime.configuration.timeZone.identifier),
        ]
        if let notice = context.notice { model["notice"] = notice }
        if let session = context.session {
            model["session"] = ["name": session.name, "csrf": session.csrf, "operator": session.role == .officer]
        }
        return library.render(model, withTemplate: "layout") ?? ""
    }

    static func percentEncode(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-_.~")))
            ?? ""
    }

    /// A local path to return to after signing in or switching language; anything else goes home.
    static func safeNext(_ next: String?) -> String {
        // Browsers drop tabs and newlines from URLs ("/\t/host" would become "//host"): no control or space
        // characters at all.
        guard let next, next.hasPrefix("/"), !next.hasPrefix("//"), !next.contains("\\"),
            !next.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F })
        else {
            return "/"
        }
        return next
    }

    func openAlertCount() async throws(AggregatorError) -> Int { try await runtime.store.openAlerts().count }

    // MARK: Language, sign-in, sign-out

    func switchLanguage(code: String, request: Request) -> Response {
        let next = Self.safeNext(request.uri.queryParameters.get("next"))
        var response = Response.redirect(to: next, type: .normal)
        if let language = ReportLanguage(rawValue: code) {
            response.setCookie(
                Cookie(
                    name: ConsoleAuthority.languageCookie, value: language.rawValue, maxAge: 400 * 86_400, path: "/",
                    secure: Self.isSecure(request), httpOnly: true, sameSite: .lax))
        }
        return response
    }

    static func isSecure(_ request: Request) -> Bool {
        request.uri.scheme == .https || request.headers[.xForwardedProto]?.lowercased() == "https"
    }

    func signInPage(_ request: Request, error: String? = nil, status: HTTPResponse.Status = .ok) async throws
        -> Response
    {
        try await page(request) { context in
            var model: [String: Any] = ["next": Self.safeNext(context.query["next"])]
            if let error { model["error"] = context.text[error] }
            if let session = context.session { model["signedInAs"] = session.name }
            return PageView(
                status: status, navigation: "", title: context.text["signInTitle"], template: "sign-in",
                liveTemplate: nil, liveTopics: [],
                model: model, openAlerts: try await openAlertCount())
        }
    }

    struct Form {
        var fields: [String: String]
        subscript(_ name: String) -> String? { fields[name] }
    }

    static func form(_ request: Request) async throws -> Form {
        let body = try await request.body.collect(upTo: 16 * 1024)
        var fields: [String: String] = [:]
        for pair in String(buffer: body).split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ text: Substring) -> String {
                String(text).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
            }
            fields[decode(parts[0])] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return Form(fields: fields)
    }

    func signIn(_ request: Request) async throws -> Response {
        let form = try await Self.form(request)
        guard ConsoleAuthority.sameOrigin(request) else { return try await forbidden(request, reason: "csrfFailed") }
        let next = Self.safeNext(form["next"])
        guard let presented = form["token"]?.trimmingCharacters(in: .whitespacesAndNewlines),
            let (token, role) = authority.match(presented)
        else {
            logger.notice(
                "console.sign_in_refused", metadata: ["http.remote": "\(request.headers[.xForwardedFor] ?? "-")"])
            return try await signInPage(request, error: "badToken", status: .unauthorized)
        }
        logger.notice("console.signed_in", metadata: ["console.user": "\(token.name)", "console.role": "\(role)"])
        var response = Response.redirect(to: next, type: .normal)
        response.setCookie(
            authority.sessionCookie(authority.issue(for: token, nowMs: clock()), secure: Self.isSecure(request)))
        return response
    }

    func signOut(_ request: Request) async throws -> Response {
        let form = try await Self.form(request)
        let session = authority.session(request, nowMs: clock())
        guard ConsoleAuthority.sameOrigin(request), let session, form["csrf"] == session.csrf else {
            return try await forbidden(request, reason: "csrfFailed")
        }
        var response = Response.redirect(to: "/", type: .normal)
        response.setCookie(ConsoleAuthority.expiredSessionCookie(secure: Self.isSecure(request)))
        return response
    }

    func forbidden(_ request: Request, reason: String) async throws -> Response {
        try await page(request) { context in
            PageView(
                status: .forbidden, navigation: "", title: context.text["forbidden"], template: "message",
                liveTemplate: nil,
                liveTopics: [], model: ["heading": context.text["forbidden"], "message": context.text[reason]],
                openAlerts: try await openAlertCount())
        }
    }

    // MARK: Acknowledging from the page

    /// `POST /alerts/{id}/ack` from the alerts page: an operator's session, the form's CSRF token and a
    /// same-origin request; then the same lifecycle step as the API's (recorded as the token's name).
    func acknowledge(id: String, request: Request) async throws -> Response {
        let form = try await Self.form(request)
        guard let session = authority.session(request, nowMs: clock()) else {
            return Response.redirect(to: "/sign-in?next=\(Self.percentEncode("/alerts"))", type: .normal)
        }
        guard ConsoleAuthority.sameOrigin(request), form["csrf"] == session.csrf else {
            logger.notice("console.csrf_refused", metadata: ["console.user": "\(session.name)"])
            return try await forbidden(request, reason: "csrfFailed")
        }
        guard session.role == .officer else { return try await forbidden(request, reason: "operatorOnly") }
        guard Topics.isValidIdentifier(id) || UUID(uuidString: id) != nil else {
            throw AggregatorError(.notFound, "no alert with id \(id.prefix(64))")
        }
        let outcome: Result<AlertRecord, AggregatorError>
        do {
            outcome = .success(try await runtime.alerts.acknowledge(id: id, by: session.name))
        } catch {
            outcome = .failure(error)
        }
        if case .failure(let error) = outcome {
            // Cleared meanwhile, or acknowledged by someone else: the list shows what happened.
            guard error.code == .conflict else { throw error }
            logger.notice("console.ack_conflict", metadata: ["alert.id": "\(id)", "console.user": "\(session.name)"])
        }
        return Response.redirect(to: Self.safeNext(form["next"] ?? "/alerts"), type: .normal)
    }

    // MARK: Rendering without HTTP

    /// The page `GET path?query` shows an anonymous visitor, rendered without HTTP: what
    /// `bins-console-bench` times. `/ledger.csv` gives the CSV.
    public func renderPage(path: String, query: [String: String] = [:], language: ReportLanguage = .en) async throws
        -> String
    {
        let nowMs = clock()
        let text = ConsoleText(language)
        let context = PageContext(
            path: path, query: query, language: language, session: nil, nowMs: nowMs, text: text,
            format: ConsoleFormat(text: text, calendar: runtime.calendar, nowMs: nowMs))
        let view: PageView
        switch path {
        case "/": view = try await overview(context)
        case "/bins": view = try await bins(context)
        case "/alerts": view = try await alerts(context)
        case "/targets": view = try await targets(context)
        case "/ledger": view = try await ledger(context)
        case "/ledger.csv": return try await ledgerTable(context).csv(language: language)
        case "/reports": view = try await reports(context)
        case _ where path.hasPrefix("/points/"):
            view = try await point(String(path.dropFirst("/points/".count)), context)
        default: throw AggregatorError(.notFound, "no console page \(path)")
        }
        return render(view, context: context, fragment: query["fragment"] == "1")
    }

    // MARK: Ledger CSV

    func ledgerCSV(_ request: Request) async throws -> Response {
        let context = context(request, nowMs: clock())
        let table = try await ledgerTable(context)
        let csv = table.csv(language: context.language)
        var headers: HTTPFields = [.contentType: "text/csv; charset=utf-8", .cacheControl: "no-store"]
        headers[.contentDisposition] = "attachment; filename=\"\(table.fileName)\""
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: Array(csv.utf8))))
    }
}

/// Read access for every route, and HTML error pages for the console's own routes.
struct ConsoleAccessMiddleware<Context: RequestContext>: RouterMiddleware {
    let console: Console

    static func isOpen(_ path: String) -> Bool {
        path == "/healthz" || path.hasPrefix("/assets/") || path == "/favicon.ico" || path == "/sign-in"
            || path.hasPrefix("/lang/")
    }

    static func isAPI(_ path: String) -> Bool {
        path.hasPrefix("/api/") || path == "/metrics" || path == "/healthz" || path == "/live"
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let path = request.uri.path
        // Booking a load checks its own token (weighbridges hold load tokens, which read nothing).
        let isLoadBooking = request.method == .post && path == "/api/v1/loads"
        if !Self.isOpen(path), !isLoadBooking, !console.authority.mayRead(request, nowMs: console.clock()) {
            if Self.isAPI(path) {
                throw APIError.unauthorized(
                    "this aggregator requires a token for reads: send Authorization: Bearer TOKEN")
            }
            guard request.method == .get else { throw APIError.unauthorized("sign in first") }
            let here = path + (request.uri.query.map { "?" + $0 } ?? "")
            return Response.redirect(to: "/sign-in?next=\(Console.percentEncode(here))", type: .normal)
        }
        // Browsers ask for HTML and get an error page; API clients (and tests) keep the JSON errors.
        let wantsHTML = request.headers[.accept]?.contains("text/html") ?? false
        guard !Self.isAPI(path), console.isEnabled, wantsHTML else { return try await next(request, context) }
        do {
            return try await next(request, context)
        } catch {
            return await console.errorPage(error, request: request)
        }
    }
}

extension Console {
    /// An error on a console page, as a page: 404 for what does not exist, 503 while the database is
    /// away, 500 otherwise (logged; the page says nothing internal).
    func errorPage(_ error: any Error, request: Request) async -> Response {
        let context = context(request, nowMs: clock())
        let text = context.text
        var status: HTTPResponse.Status = .internalServerError
        var heading = text["error"]
        var message = ""
        switch error {
        case let error as AggregatorError where error.code == .notFound:
            (status, heading, message) = (.notFound, text["notFound"], error.message)
        case let error as AggregatorError where error.code == .storage:
            logger.error(
                "console.storage_failed",
                metadata: ["http.path": "\(request.uri.path)", "console.error": "\(error.message)"])
            (status, message) = (.serviceUnavailable, text["storageDown"])
        case let error as APIError:
            (status, message) = (error.status, error.message)
        case let error as HTTPError:
            status = error.status
            if status == .notFound { (heading, message) = (text["notFound"], request.uri.path) }
        default:
            logger.error(
                "console.unexpected_error",
                metadata: ["http.path": "\(request.uri.path)", "console.error": "\(type(of: error))"])
        }
        let view = PageView(
            status: status, navigation: "", title: heading, template: "message", liveTemplate: nil, liveTopics: [],
            model: ["heading": heading, "message": message], openAlerts: (try? await openAlertCount()) ?? 0)
        var headers: HTTPFields = [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"]
        if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer realm=\"bins-aggregator\"" }
        return Response(
            status: status, headers: headers,
            body: .init(byteBuffer: ByteBuffer(string: render(view, context: context, fragment: false))))
    }
}

extension HTTPField.Name {
    static let xForwardedFor = Self("X-Forwarded-For")!
}
