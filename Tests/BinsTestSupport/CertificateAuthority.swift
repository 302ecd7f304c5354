import Foundation

/// Certificates made with the `openssl` command for TLS tests: a CA, a server certificate it signed for
/// `127.0.0.1` and `localhost`, a client certificate it signed, and an unrelated "wrong" CA.
public struct CertificateAuthority: Sendable {
    public let caFile: String
    public let caKeyFile: String
    public let serverCertificateFile: String
    public let serverKeyFile: String
    public let clientCertificateFile: String
    public let clientKeyFile: String
    /// A CA that signed nothing here: a client trusting only it must refuse the server.
    public let wrongCAFile: String

    /// Generates everything under `directory` (P-256 keys, valid for two days).
    public static func generate(
        in directory: TemporaryDirectory, serverNames: [String] = ["IP:127.0.0.1", "DNS:localhost"]
    )
        async throws -> CertificateAuthority
    {
        let certs = try directory.directory("certs")
        func path(_ name: String) -> String { "\(certs)/\(name)" }
        let keyOptions = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        for (name, subject) in [("ca", "/CN=bins test CA"), ("wrong-ca", "/CN=bins wrong CA")] {
            try await ChildProcess.run(
                "openssl",
                ["req", "-x509"] + keyOptions + [
                    "-keyout", path("\(name).key"), "-out", path("\(name).crt"), "-days", "2", "-subj", subject,
                    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                ], in: directory)
        }
        try await issue(
            "server", subject: "/CN=localhost",
            extensions: [
                "subjectAltName=\(serverNames.joined(separator: ","))", "extendedKeyUsage=serverAuth",
            ], keyOptions: keyOptions, path: path, in: directory)
        try await issue(
            "client", subject: "/CN=bins test client", extensions: ["extendedKeyUsage=clientAuth"],
            keyOptions: keyOptions, path: path, in: directory)
        return CertificateAuthority(
            caFile: path("ca.crt"), caKeyFile: path("ca.key"), serverCertificateFile: path("server.crt"),
            serverKeyFile: path("server.key"), clientCertificateFile: path("client.crt"),
            clientKeyFile: path("client.key"), wrongCAFile: path("wrong-ca.crt"))
    }

    private static func issue(
        _ name: String, subject: String, extensions: [String], keyOptions: [String], path: (String) -> String,
        in directory: TemporaryDirectory
    ) async throws {
        try await ChildProcess.run(
            "openssl",
            ["req"] + keyOptions + ["-keyout", path("\(name).key"), "-out", path("\(name).csr"), "-subj", subject],
            in: directory)
        let extensionsFile = path("\(name).ext")
        try (["basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature,keyEncipherment"] + extensions)
            .joined(separator: "\n").write(toFile: extensionsFile, atomically: true, encoding: .utf8)
        try await ChildProcess.run(
            "openssl",
            [
                "x509", "-req", "-in", path("\(name).csr"), "-CA", path("ca.crt"), "-CAkey", path("ca.key"),
                "-CAcreateserial", "-out", path("\(name).crt"), "-days", "2", "-extfile", extensionsFile,
            ], in: directory)
    }
}
