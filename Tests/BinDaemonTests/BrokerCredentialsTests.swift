import Foundation
import MQTT
import Testing
import YAMLConfig

@testable import BinDaemon

@Suite struct BrokerCredentialsTests {
    func broker(passwordFile: String?, password: String? = nil) -> BrokerConfig {
        BrokerConfig(
            url: BrokerURL(tls: false, host: "127.0.0.1", port: 1883), caFile: nil, clientCertFile: nil,
            clientKeyFile: nil,
            username: "pt-1", password: password.map(Secret.init), passwordFile: passwordFile, keepaliveSeconds: 30)
    }

    func temporaryFile(_ content: String, mode: Int) throws -> String {
        let path = NSTemporaryDirectory() + "binsd-password-\(UUID().uuidString)"
        try content.write(toFile: path, atomically: false, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
        return path
    }

    @Test func readsTheFirstLineOfAPrivateFile() throws {
        let path = try temporaryFile("s3cret\nignored\n", mode: 0o600)
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(try broker(passwordFile: path).loadPassword()?.revealed == "s3cret")
        #expect(try broker(passwordFile: nil, password: "inline").loadPassword()?.revealed == "inline")
        #expect(try broker(passwordFile: nil).loadPassword() == nil)
    }

    @Test func refusesAFileOthersCanRead() throws {
        let path = try temporaryFile("s3cret\n", mode: 0o644)
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            _ = try broker(passwordFile: path).loadPassword()
            Issue.record("expected an error")
        } catch {
            #expect(error.code == .credentials)
            #expect(
                error.message
                    == "\(path): password file is accessible by group or others (mode 644); run chmod 600 \(path)")
            #expect(!error.description.contains("s3cret"))
        }
    }

    @Test func missingAndEmptyFiles() throws {
        #expect(throws: BinDaemonError.self) { try broker(passwordFile: "/nonexistent/password").loadPassword() }
        let path = try temporaryFile("\n", mode: 0o600)
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(throws: BinDaemonError(.credentials, "\(path): password file is empty")) {
            try broker(passwordFile: path).loadPassword()
        }
    }
}
