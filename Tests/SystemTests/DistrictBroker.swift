import BinsTestSupport
import Foundation

/// The broker of one test district, set up as an installer would: the configuration the project ships
/// (deploy/mosquitto: no anonymous access, a password per device, the ACL, persistence, queues sized for
/// an aggregator outage, a TLS listener for the points and plain MQTT on loopback for the aggregator),
/// an account for every point (`add-device` does the same with `mosquitto_passwd`), and the files each
/// side logs in with: a password file per point, the aggregator's, and the CA the points trust.
final class DistrictBroker: Sendable {
    let directory: TemporaryDirectory
    let broker: MosquittoBroker
    let certificates: CertificateAuthority
    let devices: [String]
    let aggregatorPassword: String
    let aggregatorPasswordFile: String

    private init(
        directory: TemporaryDirectory, broker: MosquittoBroker, certificates: CertificateAuthority, devices: [String],
        aggregatorPassword: String, aggregatorPasswordFile: String
    ) {
        self.directory = directory
        self.broker = broker
        self.certificates = certificates
        self.devices = devices
        self.aggregatorPassword = aggregatorPassword
        self.aggregatorPasswordFile = aggregatorPasswordFile
    }

    /// `brokerSettings` overrides settings of the shipped mosquitto.conf (see `MosquittoBroker.startShipped`).
    static func start(devices: [String], brokerSettings: [String: String] = [:], in directory: TemporaryDirectory)
        async throws
        -> DistrictBroker
    {
        let certificates = try await CertificateAuthority.generate(in: directory)
        let aggregatorPassword = "aggregator-\(UUID().uuidString)"
        var users: [(user: String, password: String)] = []
        let secrets = try directory.directory("secrets")
        for device in devices {
            let password = "\(device)-\(UUID().uuidString)"
            users.append((device, password))
            try write(password, to: "\(secrets)/\(device).password")
        }
        let aggregatorPasswordFile = "\(secrets)/bins-aggregator.password"
        try write(aggregatorPassword, to: aggregatorPasswordFile)
        let broker = try await MosquittoBroker.startShipped(
            users: .init(aggregatorPassword: aggregatorPassword, devices: users), certificates: certificates,
            settings: brokerSettings,
            in: try TemporaryDirectory(prefix: "system-broker"))
        return DistrictBroker(
            directory: directory, broker: broker, certificates: certificates, devices: devices,
            aggregatorPassword: aggregatorPassword, aggregatorPasswordFile: aggregatorPasswordFile)
    }

    /// The file holding `device`'s broker password (mode 0600, as binsd demands of secret files).
    func passwordFile(_ device: String) -> String { directory.file("secrets/\(device).password") }

    /// The points' listener (TLS), as `binsd simulate --broker` takes it.
    var pointEndpoint: String { "\(broker.host):\(broker.tlsPort ?? broker.port)" }

    private static func write(_ secret: String, to path: String) throws {
        try (secret + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        guard chmod(path, 0o600) == 0 else { throw SystemTestError("chmod 0600 \(path) failed: errno \(errno)") }
    }
}
