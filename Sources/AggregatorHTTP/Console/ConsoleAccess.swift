import Aggregator
import Crypto
import Foundation
import HTTPTypes
import Hummingbird

/// Who may do what: the configured bearer tokens, console sessions derived from them, and the CSRF
/// tokens of the console's forms.
///
/// A console session is a cookie, not a server-side record: `v1.{name}.{expiry}.{nonce}.{mac}`, the MAC
/// being HMAC-SHA256 keyed with the token the person signed in with. So a session survives a restart of
/// the aggregator, works on every instance that shares the configuration, ends at its expiry, and ends at
/// once when its token is removed from the configuration. The token itself never leaves the sign-in
/// form: not in the cookie, not in a URL.
struct ConsoleAuthority: Sendable {
    enum Role: Sendable, Equatable {
        /// `http.tokens`: reads and acknowledges.
        case officer
        /// `http.read_tokens`: reads only.
        case reader
    }

    struct Session: Sendable, Equatable {
        var name: String
        var role: Role
        var expiresAtS: Int64
        /// The value of the form field that proves a POST came from one of the console's own pages.
        var csrf: String
    }

    let operators: [HTTPSettings.Token]
    let readers: [HTTPSettings.Token]
    let requireTokenForReads: Bool
    let sessionSeconds: Int64

    static let sessionCookie = "bins_session"
    static let languageCookie = "bins_lang"

    init(settings: HTTPSettings) {
        operators = settings.tokens
        readers = settings.readTokens
        requireTokenForReads = settings.requireTokenForReads
        sessionSeconds = Int64(settings.console.sessionHours) * 3600
    }

    /// The token `presented` matches, compared in constant time against every configured token.
    func match(_ presented: String) -> (token: HTTPSettings.Token, role: Role)? {
        let bytes = Array(presented.utf8)
        var found: (HTTPSettings.Token, Role)?
        for token in operators where AggregatorAPI.constantTimeEqual(bytes, Array(token.token.revealed.utf8)) {
            found = (token, .officer)
        }
        for token in readers where AggregatorAPI.constantTimeEqual(bytes, Array(token.token.revealed.utf8)) {
            found = (token, .reader)
        }
        return found
    }

    /// `Authorization: Bearer TOKEN`'s token and role.
    func bearer(_ request: Request) -> (name: String, role: Role)? {
        guard let header = request.headers[.authorization], header.lowercased().hasPrefix("bearer ") else { return nil }
        let presented = header.dropFirst("bearer ".count).trimmingCharacters(in: .whitespaces)
        return match(presented).map { ($0.token.name, $0.role) }
    }

    /// Whether `request` may read: reads are open, or it carries a valid token or session.
    func mayRead(_ request: Request, nowMs: Int64) -> Bool {
        !requireTokenForReads || bearer(request) != nil || session(request, nowMs: nowMs) != nil
    }

    // MARK: Sessions

    func token(named name: String) -> (HTTPSettings.Token, Role)? {
        if let token = operators.first(where: { $0.name == name }) { return (token, .officer) }
        if let token = readers.first(where: { $0.name == name }) { return (token, .reader) }
        return nil
    }

    static func mac(_ key: String, _ message: String) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: Array(message.utf8), using: SymmetricKey(data: Array(key.utf8)))
        return code.map { String(format: "%02x", $0) }.joined()
    }

    static func hex(_ text: String) -> String { text.utf8.map { String(format: "%02x", $0) }.joined() }

    static func unhex(_ text: Substring) -> String? {
        guard text.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            guard let byte = UInt8(text[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        return String(validating: bytes, as: UTF8.self)
    }

    /// A new session cookie value for `token`, valid for `sessionSeconds` from `nowMs`.
    func issue(for token: HTTPSettings.Token, nowMs: Int64) -> String {
        let expiry = nowMs / 1000 + sessionSeconds
        let nonce = (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        let body = "v1.\(Self.hex(token.name)).\(expiry).\(nonce)"
        return "\(body).\(Self.mac(token.token.revealed, "bins-console-session|" + body))"
    }

    /// The session a cookie value stands for, if its MAC is right, its token still configured and it has
    /// not expired.
    func session(cookie value: String, nowMs: Int64) -> Session? {
        let parts = value.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0] == "v1", let name = Self.unhex(parts[1]), let expiry = Int64(parts[2]),
            parts[3].count == 32, let (token, role) = token(named: name)
        else { return nil }
        let body = parts[0..<4].joined(separator: ".")
        let expected = Self.mac(token.token.revealed, "bins-console-session|" + body)
        guard AggregatorAPI.constantTimeEqual(Array(parts[4].utf8), Array(expected.utf8)), expiry > nowMs / 1000 else {
            return nil
        }
        let csrf = String(Self.mac(token.token.revealed, "bins-console-csrf|\(parts[3])").prefix(40))
        return Session(name: name, role: role, expiresAtS: expiry, csrf: csrf)
    }

    func session(_ request: Request, nowMs: Int64) -> Session? {
        // Several cookies of the name may arrive (a stale one for another path): any valid one counts.
        for header in request.headers[values: .cookie] {
            for part in header.split(separator: ";") {
                let trimmed = part.drop { $0 == " " }
                guard trimmed.hasPrefix(Self.sessionCookie + "=") else { continue }
                if let session = session(cookie: String(trimmed.dropFirst(Self.sessionCookie.count + 1)), nowMs: nowMs)
                {
                    return session
                }
            }
        }
        return nil
    }

    /// A state-changing form is accepted only with the session's CSRF token and, when the browser says
    /// where the form came from (`Origin`, or else `Referer`), only from this same host.
    static func sameOrigin(_ request: Request) -> Bool {
        let host = request.head.authority ?? ""
        let source = request.headers[.origin] ?? request.headers[.referer]
        guard let source else { return true }
        guard let components = URLComponents(string: source), let sourceHost = components.host else { return false }
        let sourceAuthority = sourceHost + (components.port.map { ":\($0)" } ?? "")
        return sourceAuthority.lowercased() == host.lowercased()
    }

    func sessionCookie(_ value: String, secure: Bool) -> Cookie {
        Cookie(
            name: Self.sessionCookie, value: value, maxAge: Int(sessionSeconds), path: "/", secure: secure,
            httpOnly: true, sameSite: .lax)
    }

    static func expiredSessionCookie(secure: Bool) -> Cookie {
        Cookie(name: sessionCookie, value: "", maxAge: 0, path: "/", secure: secure, httpOnly: true, sameSite: .lax)
    }
}

/// Adds the security headers to every answer: a Content-Security-Policy that lets pages run only the
/// console's own script and style (no inline script, nothing from elsewhere but configured map tiles),
/// and no framing, sniffing or referrer leaks. Reports (self-contained HTML with their own inline style)
/// get a policy that allows that style and no script at all.
struct SecurityHeadersMiddleware<Context: RequestContext>: RouterMiddleware {
    let consolePolicy: String
    static var reportPolicy: String {
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    }

    init(tilesOrigin: String?) {
        let images = ["'self'", "data:"] + (tilesOrigin.map { [$0] } ?? [])
        consolePolicy = [
            "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src \(images.joined(separator: " "))",
            "connect-src 'self'", "font-src 'self'", "manifest-src 'self'", "form-action 'self'", "base-uri 'none'",
            "frame-ancestors 'none'",
        ].joined(separator: "; ")
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        var response = try await next(request, context)
        // Reports and the plan are self-contained pages with their own inline style (and no script).
        let isReport = request.uri.path.hasPrefix("/api/v1/reports/") || request.uri.path == "/api/v1/plan"
        response.headers[.contentSecurityPolicy] = isReport ? Self.reportPolicy : consolePolicy
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[.referrerPolicy] = "same-origin"
        response.headers[.xFrameOptions] = "DENY"
        return response
    }
}

extension HTTPField.Name {
    static let xFrameOptions = Self("X-Frame-Options")!
    static let referrerPolicy = Self("Referrer-Policy")!
    static let xConsoleFragment = Self("X-Console-Fragment")!
    static let xOpenAlerts = Self("X-Open-Alerts")!
    static let serverTiming = Self("Server-Timing")!
    static let xForwardedProto = Self("X-Forwarded-Proto")!
    static let xAccelBuffering = Self("X-Accel-Buffering")!
}
