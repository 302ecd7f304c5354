import BinsTestSupport
import Foundation
import MQTT
import Testing

@Suite("MQTT over TLS with openssl-made certificates", .serialized)
struct TLSTests {
    @Test("the right CA connects and messages flow; the wrong CA is refused with the TLS library's reason")
    func rightAndWrongCA() async throws {
        let directory = try TemporaryDirectory(prefix: "tls")
        let authority = try await CertificateAuthority.generate(in: directory)
        let broker = try await MosquittoBroker.start(.init(tls: .init(authority)), in: directory)
        let tlsPort = try #require(broker.tlsPort)

        let trusted = try await RunningClient(
            clientConfiguration(broker, port: tlsPort, tls: MQTTTLSConfiguration(caFile: authority.caFile)))
        let stream = try await trusted.client.subscribe("tls/#", qos: .atLeastOnce)
        try await trusted.client.publish(MQTTMessage(topic: "tls/hello", text: "over TLS", qos: .atLeastOnce))
        #expect(try await nextMessage(stream).text == "over TLS")
        try await trusted.stop()

        let fooled = try await RunningClient(
            clientConfiguration(broker, port: tlsPort, tls: MQTTTLSConfiguration(caFile: authority.wrongCAFile)),
            connect: false)
        try await waitUntil(timeout: .seconds(20), "a failed TLS handshake") { fooled.client.lastError != nil }
        let error = try #require(fooled.client.lastError)
        #expect(error.code == .tlsFailure, "\(error)")
        #expect(error.description.contains("127.0.0.1:\(tlsPort)"))
        #expect(error.description.contains("certificate verify failed"), "\(error)")
        #expect(fooled.client.state != .connected)
        let timeout = await #expect(throws: MQTTError.self) {
            try await fooled.client.waitUntilConnected(timeout: .milliseconds(300))
        }
        #expect(timeout?.description.contains("certificate verify failed") == true, "\(String(describing: timeout))")
        try await fooled.stop()
    }

    @Test("hostname verification is on by default: a certificate for another name is refused")
    func hostnameVerification() async throws {
        let directory = try TemporaryDirectory(prefix: "tls-name")
        let authority = try await CertificateAuthority.generate(in: directory, serverNames: ["DNS:bins.invalid"])
        let broker = try await MosquittoBroker.start(.init(tls: .init(authority)), in: directory)
        let tlsPort = try #require(broker.tlsPort)

        let strict = try await RunningClient(
            clientConfiguration(broker, port: tlsPort, tls: MQTTTLSConfiguration(caFile: authority.caFile)),
            connect: false)
        try await waitUntil(timeout: .seconds(20), "a refused handshake") { strict.client.lastError != nil }
        #expect(strict.client.lastError?.code == .tlsFailure, "\(String(describing: strict.client.lastError))")
        #expect(strict.client.state != .connected)
        try await strict.stop()

        // Same CA, hostname check off (test benches only): the chain is still verified, so it connects.
        let lax = try await RunningClient(
            clientConfiguration(
                broker, port: tlsPort, tls: MQTTTLSConfiguration(caFile: authority.caFile, verifyHostname: false)))
        #expect(lax.client.state == .connected)
        try await lax.stop()
    }

    @Test("a broker that requires client certificates accepts one signed by its CA and refuses a client without")
    func clientCertificates() async throws {
        let directory = try TemporaryDirectory(prefix: "tls-client")
        let authority = try await CertificateAuthority.generate(in: directory)
        let broker = try await MosquittoBroker.start(
            .init(tls: .init(authority, requireClientCertificate: true)), in: directory)
        let tlsPort = try #require(broker.tlsPort)

        let withCertificate = try await RunningClient(
            clientConfiguration(
                broker, port: tlsPort,
                tls: MQTTTLSConfiguration(
                    caFile: authority.caFile, certificateFile: authority.clientCertificateFile,
                    keyFile: authority.clientKeyFile)))
        #expect(withCertificate.client.state == .connected)
        try await withCertificate.stop()

        let without = try await RunningClient(
            clientConfiguration(broker, port: tlsPort, tls: MQTTTLSConfiguration(caFile: authority.caFile)),
            connect: false)
        try await waitUntil(timeout: .seconds(20), "a refused connection") { without.client.lastError != nil }
        #expect(without.client.state != .connected)
        try await without.stop()
    }
}
