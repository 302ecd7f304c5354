import BinsTestSupport
import Foundation
import Logging
import MQTT
import Synchronization

/// A test-side MQTT client that watches every point's `events` topic (logged in with the aggregator's
/// account, which the shipped ACL lets read `bins/v1/#`), so a test can tell that points published while
/// the aggregator was away. Clean session: it only needs to see what is published while it is connected.
final class EventObserver: MQTTMessageHandler {
    private let highest = Mutex<[String: Int]>([:])
    private let client: MQTTClient
    private let task: Task<Void, any Error>

    init(district: DistrictBroker) async throws {
        let client = try MQTTClient(
            configuration: MQTTConfiguration(
                host: district.broker.host, port: district.broker.port,
                clientID: "system-test-observer-\(UUID().uuidString.prefix(8))",
                username: "bins-aggregator", password: district.aggregatorPassword,
                reconnectDelayMin: .milliseconds(100),
                reconnectDelayMax: .milliseconds(500)),
            logger: Logger(label: "system-test-observer", factory: { _ in SwiftLogNoOpLogHandler() }))
        self.client = client
        task = Task { try await client.run() }
        try await client.waitUntilConnected(timeout: .seconds(20))
        try await client.subscribe(["bins/v1/+/events"], qos: .atLeastOnce, handler: self)
    }

    func handle(_ message: MQTTMessage) {
        let levels = message.topic.split(separator: "/")
        guard levels.count == 4,
            let object = try? JSONSerialization.jsonObject(with: Data(message.payload)) as? [String: Any],
            let seq = object["seq"] as? Int
        else { return }
        highest.withLock { $0[String(levels[2]), default: 0] = max($0[String(levels[2])] ?? 0, seq) }
    }

    /// The highest seq seen from `device` (0 before any).
    func highestSeq(_ device: String) -> Int { highest.withLock { $0[device] ?? 0 } }

    func stop() async throws {
        await client.disconnect()
        try await task.value
    }
}
