import Foundation
import Synchronization

/// A real `mosquitto` on loopback ports, configured by the test: started with `mosquitto -c`, ready when
/// its listeners accept connections, stoppable (SIGTERM: it saves its persistence database), restartable
/// on the same ports with that database, and killable (SIGKILL).
public final class MosquittoBroker: Sendable {
    /// A TLS listener next to the plain one.
    public struct TLSListener: Sendable {
        public var caFile: String
        public var certificateFile: String
        public var keyFile: String
        public var requireClientCertificate: Bool

        public init(caFile: String, certificateFile: String, keyFile: String, requireClientCertificate: Bool = false) {
            self.caFile = caFile
            self.certificateFile = certificateFile
            self.keyFile = keyFile
            self.requireClientCertificate = requireClientCertificate
        }

        public init(_ authority: CertificateAuthority, requireClientCertificate: Bool = false) {
            self.init(
                caFile: authority.caFile, certificateFile: authority.serverCertificateFile,
                keyFile: authority.serverKeyFile, requireClientCertificate: requireClientCertificate)
        }
    }

    /// What the test wants from the broker; rendered into a mosquitto.conf.
    public struct Configuration: Sendable {
        public var allowAnonymous: Bool
        public var passwordFile: String?
        public var aclFile: String?
        public var persistence: Bool
        public var tls: TLSListener?
        /// Per-client queue limit; the default is sized like the shipped configuration, not mosquitto's 1000.
        public var maxQueuedMessages: Int
        /// Further mosquitto.conf lines, appended verbatim.
        public var extraLines: [String]

        public init(
            allowAnonymous: Bool = true, passwordFile: String? = nil, aclFile: String? = nil, persistence: Bool = true,
            tls: TLSListener? = nil, maxQueuedMessages: Int = 2_000_000, extraLines: [String] = []
        ) {
            self.allowAnonymous = allowAnonymous
            self.passwordFile = passwordFile
            self.aclFile = aclFile
            self.persistence = persistence
            self.tls = tls
            self.maxQueuedMessages = maxQueuedMessages
            self.extraLines = extraLines
        }
    }

    public let host = "127.0.0.1"
    /// The plain MQTT listener.
    public let port: Int
    /// The TLS listener, if configured.
    public let tlsPort: Int?
    public let directory: TemporaryDirectory
    public let configPath: String
    public let logPath: String
    private let process: Mutex<ChildProcess?>

    private init(port: Int, tlsPort: Int?, directory: TemporaryDirectory, configPath: String) {
        self.port = port
        self.tlsPort = tlsPort
        self.directory = directory
        self.configPath = configPath
        self.logPath = directory.file("mosquitto.log")
        self.process = Mutex(nil)
    }

    deinit {
        process.withLock { $0?.send(SIGKILL) }
    }

    /// Starts a broker with a configuration written for this test.
    public static func start(_ configuration: Configuration = Configuration(), in directory: TemporaryDirectory? = nil)
        async throws -> MosquittoBroker
    {
        let directory = try directory ?? TemporaryDirectory(prefix: "mosquitto")
        let persistenceDirectory = try directory.directory("persistence")
        return try await launchOnFreshPorts(directory: directory, tls: configuration.tls != nil) { port, tlsPort in
            var lines = [
                "per_listener_settings false",
                "allow_anonymous \(configuration.allowAnonymous)",
                "listener \(port) 127.0.0.1",
            ]
            if let tls = configuration.tls, let tlsPort {
                lines += [
                    "listener \(tlsPort) 127.0.0.1",
                    "cafile \(tls.caFile)",
                    "certfile \(tls.certificateFile)",
                    "keyfile \(tls.keyFile)",
                    "require_certificate \(tls.requireClientCertificate)",
                ]
            }
            if let passwordFile = configuration.passwordFile { lines.append("password_file \(passwordFile)") }
            if let aclFile = configuration.aclFile { lines.append("acl_file \(aclFile)") }
            lines += [
                "persistence \(configuration.persistence)",
                "persistence_location \(persistenceDirectory)/",
                "max_queued_messages \(configuration.maxQueuedMessages)",
                "max_inflight_messages 1000",
            ]
            lines += commonLines() + configuration.extraLines
            return lines.joined(separator: "\n") + "\n"
        }
    }

    /// Writes the configuration `render` makes for two ports found free, and starts mosquitto on it. A port
    /// found free can be taken by another program before mosquitto binds it; then the broker is started
    /// again on other ports (a few times), so a test does not fail for something it never asked for.
    private static func launchOnFreshPorts(
        directory: TemporaryDirectory, tls: Bool, _ render: (_ port: Int, _ tlsPort: Int?) throws -> String
    ) async throws -> MosquittoBroker {
        var attempt = 1
        while true {
            let port = try freeLoopbackPort()
            let tlsPort = tls ? try freeLoopbackPort() : nil
            let configPath = try directory.write("mosquitto.conf", try render(port, tlsPort))
            let broker = MosquittoBroker(port: port, tlsPort: tlsPort, directory: directory, configPath: configPath)
            do {
                try await broker.launch()
                return broker
            } catch let error as TestSupportError where attempt < 5 && "\(error)".contains("Address already in use") {
                unlink(broker.logPath)
                attempt += 1
            }
        }
    }

    /// Users of `startShipped`: the aggregator's and some devices' credentials.
    public struct ShippedUsers: Sendable {
        public var aggregator: (user: String, password: String)
        public var devices: [(user: String, password: String)]

        public init(aggregatorPassword: String = "aggregator-secret", devices: [(user: String, password: String)]) {
            self.aggregator = ("bins-aggregator", aggregatorPassword)
            self.devices = devices
        }
    }

    /// Starts the configuration the project ships (deploy/mosquitto/mosquitto.conf.in and acl), with its
    /// placeholders filled in for loopback ports and this test's directory: password file from `users`,
    /// certificates from `certificates`. `port` is the loopback (aggregator) listener, `tlsPort` the
    /// devices' TLS listener.
    ///
    /// `settings` replaces the value of settings the template has (for example `autosave_interval`, to put a
    /// test at the worst case of one knob); a name the template does not set is an error.
    public static func startShipped(
        users: ShippedUsers, certificates: CertificateAuthority, settings: [String: String] = [:],
        in directory: TemporaryDirectory? = nil
    ) async throws -> MosquittoBroker {
        let directory = try directory ?? TemporaryDirectory(prefix: "mosquitto-shipped")
        let deploy = "\(TestExecutables.repositoryRoot)/deploy/mosquitto"
        let template = try String(contentsOfFile: "\(deploy)/mosquitto.conf.in", encoding: .utf8)
        let configDirectory = try directory.directory("etc")
        let certsDirectory = try directory.directory("etc/certs")
        let persistenceDirectory = try directory.directory("persistence")
        for (source, target) in [
            (certificates.caFile, "ca.crt"), (certificates.serverCertificateFile, "server.crt"),
            (certificates.serverKeyFile, "server.key"),
        ] {
            try FileManager.default.copyItem(atPath: source, toPath: "\(certsDirectory)/\(target)")
        }
        try FileManager.default.copyItem(atPath: "\(deploy)/acl", toPath: "\(configDirectory)/acl")
        // One account file per listener, as deploy/mosquitto/install writes them.
        try await MosquittoAuthFiles.writePasswordFile(
            at: "\(configDirectory)/aggregator.passwd", users: [users.aggregator], in: directory)
        try await MosquittoAuthFiles.writePasswordFile(
            at: "\(configDirectory)/passwd", users: users.devices, in: directory)
        return try await launchOnFreshPorts(directory: directory, tls: true) { port, tlsPort in
            let values = [
                "CONFIG_DIR": configDirectory, "PERSISTENCE_DIR": persistenceDirectory, "LOCAL_PORT": "\(port)",
                "TLS_PORT": "\(tlsPort ?? 0)", "TLS_BIND_ADDRESS": "127.0.0.1",
            ]
            var rendered = try renderTemplate(template, values: values)
            for (name, value) in settings {
                let lines = rendered.split(separator: "\n", omittingEmptySubsequences: false)
                guard lines.contains(where: { $0.hasPrefix("\(name) ") }) else {
                    throw TestSupportError("the shipped mosquitto.conf has no setting \(name)")
                }
                rendered = lines.map { $0.hasPrefix("\(name) ") ? "\(name) \(value)" : String($0) }.joined(
                    separator: "\n")
            }
            // Only additions a test run needs: running as root without switching to the mosquitto user.
            return rendered + "\n" + commonLines(logging: false).joined(separator: "\n") + "\n"
        }
    }

    /// Fills `{{NAME}}` placeholders; fails on any placeholder left without a value.
    public static func renderTemplate(_ template: String, values: [String: String]) throws -> String {
        var text = template
        for (name, value) in values { text = text.replacingOccurrences(of: "{{\(name)}}", with: value) }
        if let range = text.range(of: #"\{\{[A-Z_]+\}\}"#, options: .regularExpression) {
            throw TestSupportError("placeholder \(text[range]) has no value")
        }
        return text
    }

    private static func commonLines(logging: Bool = true) -> [String] {
        var lines: [String] = []
        if logging {
            lines += [
                "log_dest stderr", "log_type error", "log_type warning", "log_type notice", "log_type information",
                "connection_messages true",
            ]
        }
        // Started as root, mosquitto switches to the `mosquitto` user and then cannot write its database
        // in a root-owned temp dir.
        if geteuid() == 0 { lines.append("user root") }
        return lines
    }

    private func launch() async throws {
        let child = try ChildProcess("mosquitto", ["-c", configPath], outputPath: logPath)
        process.withLock { $0 = child }
        let ports = [port] + (tlsPort.map { [$0] } ?? [])
        try await waitUntil(timeout: .seconds(15), "mosquitto listening on \(ports)") {
            guard child.isRunning else {
                throw TestSupportError(
                    "mosquitto -c \(configPath) exited (\(child.termination.map { "\($0)" } ?? "?")):\n\(log)")
            }
            return ports.allSatisfy(loopbackPortAccepts)
        }
    }

    public var isRunning: Bool { process.withLock { $0?.isRunning ?? false } }
    public var pid: Int32? { process.withLock { $0?.pid } }

    /// Everything the broker logged (all runs).
    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// SIGTERM and wait: mosquitto saves its persistence database and exits.
    public func stop(timeout: Duration = .seconds(15)) async throws {
        guard let child = process.withLock({ $0 }) else { return }
        child.send(SIGTERM)
        try await child.waitForExit(timeout: timeout)
    }

    /// Starts again with the same configuration, ports and persistence database.
    public func restart() async throws {
        try await restart(whileAway: {})
    }

    /// Stops, runs `whileAway` (a test's wait for what must happen during the outage, so its length is a
    /// condition rather than however long a stop and a start take), and starts again as `restart()` does.
    public func restart(whileAway: () async throws -> Void) async throws {
        if isRunning { try await stop() }
        try await whileAway()
        try await launch()
    }

    /// SIGKILL and wait: no database save, connections drop without DISCONNECT.
    public func kill() async throws {
        guard let child = process.withLock({ $0 }) else { return }
        try await child.killAndWait()
    }

    /// SIGHUP: mosquitto re-reads its password and ACL files (as `systemctl reload mosquitto` does).
    public func reload() { process.withLock { $0?.send(SIGHUP) } }

    /// SIGSTOP: the broker stops reading and answering, but its sockets stay open (a hung broker).
    public func suspend() { process.withLock { $0?.send(SIGSTOP) } }

    /// SIGCONT after `suspend()`.
    public func resume() { process.withLock { $0?.send(SIGCONT) } }
}
