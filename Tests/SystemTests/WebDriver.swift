import AsyncHTTPClient
import BinsTestSupport
import Foundation
import NIOCore

/// A small client of the W3C WebDriver protocol, enough to drive Debian's `chromium` through
/// `chromium-driver` (`chromedriver`) headless: open pages, run script in them, click, type, read the
/// browser's console log and take screenshots. `chromedriver` runs as a child process on a free loopback
/// port for the length of a test.
final class WebDriver: Sendable {
    let process: ChildProcess
    let port: Int

    private init(process: ChildProcess, port: Int) {
        self.process = process
        self.port = port
    }

    static let chromedriver = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }
    static let chromium = ["/usr/bin/chromium", "/usr/lib/chromium/chromium"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    /// Starts `chromedriver`; fails naming the missing package when it or `chromium` is not installed
    /// (`scripts/install-deps --test` installs both).
    static func start(in directory: TemporaryDirectory) async throws -> WebDriver {
        guard let chromedriver, chromium != nil else {
            throw SystemTestError(
                "chromium and chromium-driver are not installed (scripts/install-deps --test installs them)")
        }
        let port = try freeLoopbackPort()
        let process = try ChildProcess(
            chromedriver, ["--port=\(port)", "--allowed-ips=127.0.0.1", "--log-level=WARNING"],
            outputPath: directory.file("chromedriver.log"))
        let driver = WebDriver(process: process, port: port)
        try await waitFor("chromedriver on port \(port) to be ready", timeout: .seconds(30)) {
            guard process.isRunning else {
                throw SystemTestError("chromedriver exited: \(process.output.suffix(2000))")
            }
            let status = try await driver.call("GET", "/status")
            return ((status["ready"] as? Bool) == true, "\(status)")
        }
        return driver
    }

    func stop() async {
        guard process.isRunning else { return }
        process.send(SIGTERM)
        if (try? await process.waitForExit(timeout: .seconds(10))) == nil { try? await process.killAndWait() }
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// One WebDriver command; the answer's `value`.
    @discardableResult
    func call(_ method: String, _ path: String, _ body: [String: Any]? = nil, timeout: TimeInterval = 60) async throws
        -> [String: Any]
    {
        let value = try await callValue(method, path, body, timeout: timeout)
        return value as? [String: Any] ?? ["value": value as Any]
    }

    func callValue(_ method: String, _ path: String, _ body: [String: Any]? = nil, timeout: TimeInterval = 60)
        async throws -> Any?
    {
        // AsyncHTTPClient rather than URLSession: chromedriver writes headers without a space after the colon,
        // which Foundation's client on Linux refuses.
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.method = .RAW(value: method)
        if let body {
            request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
            request.headers.add(name: "Content-Type", value: "application/json; charset=utf-8")
        }
        let response = try await AsyncHTTPClient.HTTPClient.shared.execute(request, timeout: .seconds(Int64(timeout)))
        let data = Data((try await response.body.collect(upTo: 64 << 20)).readableBytesView)
        let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        let value = json?["value"]
        if response.status.code != 200 {
            let error = value as? [String: Any]
            throw Failure(
                description:
                    "WebDriver \(method) \(path): \(response.status.code) \(error?["error"] ?? "") \(String(describing: error?["message"] ?? String(decoding: data, as: UTF8.self)).prefix(600))"
            )
        }
        return value is NSNull ? nil : value
    }

    /// A browser window: headless chromium at `width` × `height` CSS pixels, or a phone (touch, device
    /// pixel ratio 2) when `phone`. `language` is what the browser asks for (`Accept-Language`).
    func session(width: Int = 1280, height: Int = 900, phone: Bool = false, language: String = "en-US") async throws
        -> BrowserSession
    {
        var arguments = [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
            "--lang=\(language)",
            "--force-device-scale-factor=1", "--no-first-run", "--disable-extensions",
            "--disable-background-networking",
            "--window-size=\(width),\(height)",
        ]
        arguments.append("--accept-lang=\(language)")
        var options: [String: Any] = [
            "args": arguments, "binary": Self.chromium ?? "chromium", "prefs": ["intl.accept_languages": language],
        ]
        if phone {
            options["mobileEmulation"] = [
                "deviceMetrics": ["width": width, "height": height, "pixelRatio": 2, "mobile": true, "touch": true]
            ]
        }
        let capabilities: [String: Any] = [
            "capabilities": [
                "alwaysMatch": [
                    "browserName": "chrome", "goog:chromeOptions": options, "goog:loggingPrefs": ["browser": "ALL"],
                    "pageLoadStrategy": "normal", "timeouts": ["pageLoad": 30_000, "script": 30_000],
                ] as [String: Any]
            ]
        ]
        let created = try await call("POST", "/session", capabilities)
        guard let id = created["sessionId"] as? String else {
            throw Failure(description: "no session id in \(created)")
        }
        return BrowserSession(driver: self, id: id)
    }
}

/// One browser window of a ``WebDriver``.
struct BrowserSession: Sendable {
    let driver: WebDriver
    let id: String

    func close() async { _ = try? await driver.callValue("DELETE", "/session/\(id)") }

    func open(_ url: String) async throws { try await driver.call("POST", "/session/\(id)/url", ["url": url]) }

    var currentURL: String {
        get async throws { try await driver.callValue("GET", "/session/\(id)/url") as? String ?? "" }
    }

    /// Runs `script` (a function body; `arguments[0]`... are `arguments`) in the page and returns its result.
    @discardableResult
    func run(_ script: String, _ arguments: [Any] = []) async throws -> Any? {
        try await driver.callValue("POST", "/session/\(id)/execute/sync", ["script": script, "args": arguments])
    }

    func string(_ script: String, _ arguments: [Any] = []) async throws -> String {
        try await run(script, arguments) as? String ?? ""
    }

    func bool(_ script: String, _ arguments: [Any] = []) async throws -> Bool {
        try await run(script, arguments) as? Bool ?? false
    }

    /// The first element matching `css`, as a WebDriver element reference.
    func element(_ css: String) async throws -> String {
        let found = try await driver.call("POST", "/session/\(id)/element", ["using": "css selector", "value": css])
        guard let reference = found.values.first as? String else {
            throw WebDriver.Failure(description: "no element \(css)")
        }
        return reference
    }

    func click(_ css: String) async throws {
        let element = try await element(css)
        try await driver.call("POST", "/session/\(id)/element/\(element)/click", [:])
    }

    func type(_ text: String, into css: String) async throws {
        let element = try await element(css)
        try await driver.call("POST", "/session/\(id)/element/\(element)/value", ["text": text])
    }

    func setWindow(width: Int, height: Int) async throws {
        try await driver.call("POST", "/session/\(id)/window/rect", ["width": width, "height": height])
    }

    /// What the page wrote to the browser's console since the last call (chromedriver's log endpoint).
    func consoleLog() async throws -> [(level: String, message: String)] {
        let entries =
            try await driver.callValue("POST", "/session/\(id)/se/log", ["type": "browser"]) as? [[String: Any]] ?? []
        return entries.map { ($0["level"] as? String ?? "", $0["message"] as? String ?? "") }
    }

    /// A PNG of the viewport.
    func screenshot() async throws -> Data {
        guard let text = try await driver.callValue("GET", "/session/\(id)/screenshot") as? String,
            let data = Data(base64Encoded: text)
        else { throw WebDriver.Failure(description: "no screenshot") }
        return data
    }

    /// Waits, polling the page every 100 ms, until `script` returns true.
    func waitUntil(_ what: String, timeout: Duration, _ script: String) async throws {
        try await waitFor(what, timeout: timeout, every: .milliseconds(100)) {
            let done = try await bool(script)
            return (done, done ? "yes" : "not yet")
        }
    }
}
