import BinProtocol
import MQTT

/// Publishes alert lifecycle messages on `sanitation/v1/alerts` at QoS 1, not retained.
public struct MQTTAlertPublisher: AlertPublisher {
    let client: MQTTClient

    public init(client: MQTTClient) {
        self.client = client
    }

    public func publishAlert(_ body: [UInt8]) async throws {
        do {
            try await client.publish(MQTTMessage(topic: Topics.alerts, payload: body, qos: .atLeastOnce, retain: false))
        } catch {
            throw AggregatorError(.broker, "publish on \(Topics.alerts) failed: \(error)", cause: error)
        }
    }
}
