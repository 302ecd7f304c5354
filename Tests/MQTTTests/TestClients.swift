import BinsTestSupport
import Foundation
import Lifecycle
import Logging
import MQTT
import Synchronization

/// Logs go nowhere unless BINS_TEST_LOG is set (then to stderr at debug level).
let testLogger: Logger = {
    guard ProcessInfo.processInfo.environment["BINS_TEST_LOG"] != nil else {
        return Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
    }
    var logger = Logger(label: "test", factory: { StreamLogHandler.standardError(label: $0) })
    logger.logLevel = .debug
    return logger
}()

/// A client configuration for a test broker with fast reconnects.
func clientConfiguration(
    _ broker: MosquittoBroker, clientID: String = "test-\(UUID().uuidString.prefix(8))", port: Int? = nil,
    cleanSession: Bool = true, protocolVersion: MQTTProtocolVersion = .v311, username: String? = nil,
    password: String? = nil, tls: MQTTTLSConfiguration? = nil, will: MQTTMessage? = nil, keepAlive: Int = 30
) -> MQTTConfiguration {
    MQTTConfiguration(
        host: broker.host, port: port ?? broker.port, clientID: clientID, username: username, password: password,
        keepAliveSeconds: keepAlive, cleanSession: cleanSession, protocolVersion: protocolVersion, tls: tls,
        will: will, reconnectDelayMin: .milliseconds(50), reconnectDelayMax: .milliseconds(400))
}

/// A client running its service in a task, stopped by `stop()`.
final class RunningClient: Sendable {
    let client: MQTTClient
    private let task: Task<Void, any Error>

    init(_ configuration: MQTTConfiguration, connect: Bool = true) async throws {
        let client = try MQTTClient(configuration: configuration, logger: testLogger)
        self.client = client
        self.task = Task { try await client.run() }
        if connect { try await client.waitUntilConnected(timeout: .seconds(20)) }
    }

    func stop() async throws {
        await client.disconnect()
        try await task.value
    }
}

/// Collects messages delivered to a synchronous handler, for assertions.
final class MessageCollector: MQTTMessageHandler {
    private let messages = Mutex<[MQTTMessage]>([])

    func handle(_ message: MQTTMessage) {
        messages.withLock { $0.append(message) }
    }

    var received: [MQTTMessage] { messages.withLock { $0 } }
    var texts: [String] { received.map(\.text) }

    /// Waits until `condition` holds for what was received.
    func wait(
        timeout: Duration = .seconds(30), _ what: String, until condition: ([MQTTMessage]) -> Bool
    ) async throws {
        try await waitUntil(timeout: timeout, what) { condition(received) }
    }
}

/// Collects the batches delivered to a batch handler, for assertions.
final class BatchCollector: MQTTBatchHandler {
    private let batches = Mutex<[[MQTTMessage]]>([])

    func handle(_ batch: [MQTTMessage], acknowledgement: MQTTBatchAcknowledgement) {
        batches.withLock { $0.append(batch) }
        acknowledgement.acknowledge()
    }

    var received: [[MQTTMessage]] { batches.withLock { $0 } }
}

/// Keeps each batch's acknowledgement until the test gives it, as a handler whose commit is slow would.
final class HeldBatches: MQTTBatchHandler {
    private let batches = Mutex<[(messages: [MQTTMessage], acknowledgement: MQTTBatchAcknowledgement)]>([])

    func handle(_ batch: [MQTTMessage], acknowledgement: MQTTBatchAcknowledgement) {
        batches.withLock { $0.append((batch, acknowledgement)) }
    }

    var received: [[MQTTMessage]] { batches.withLock { $0.map(\.messages) } }

    /// Acknowledges the `index`-th batch handed over (from 0).
    func acknowledge(_ index: Int) {
        batches.withLock { $0[index].acknowledgement }.acknowledge()
    }
}

/// The next message of a subscription stream, or an error after `timeout`.
func nextMessage(_ stream: AsyncStream<MQTTMessage>, timeout: Duration = .seconds(20)) async throws -> MQTTMessage {
    try await withDeadline(timeout, "a message") {
        for await message in stream { return message }
        throw TestSupportError("the subscription ended without a message")
    }
}

/// Runs `operation`, failing the test if it takes longer than `timeout` (for waits on streams).
func withDeadline<T: Sendable>(
    _ timeout: Duration, _ what: String, _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    guard let value = try await Lifecycle.withDeadline(timeout, operation) else {
        throw TestSupportError("\(what) did not happen within \(timeout)")
    }
    return value
}

/// Collects states from `changes` until `done` says so, within `timeout`.
func collectStates(
    _ changes: AsyncStream<MQTTConnectionState>, timeout: Duration = .seconds(30), _ what: String,
    until done: @escaping @Sendable ([MQTTConnectionState]) -> Bool
) async throws -> [MQTTConnectionState] {
    try await withDeadline(timeout, what) {
        var seen: [MQTTConnectionState] = []
        for await state in changes {
            seen.append(state)
            if done(seen) { return seen }
        }
        return seen
    }
}
