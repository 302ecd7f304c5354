import BinProtocol
import Foundation
import MQTT

extension BrokerSettings {
    /// The aggregator's MQTT session: fixed client id, persistent session (clean session off, no session
    /// expiry), QoS 1, and a retained `online: false` will on `sanitation/v1/aggregator/status`.
    public func mqttConfiguration(instance: String, timeZone: TimeZone) -> MQTTConfiguration {
        connection(
            clientID: clientID, persistent: true,
            will: AggregatorStatusPublisher.statusMessage(
                instance: instance, online: false, receipts: receipts, timeZone: timeZone))
    }

    /// One of the aggregator's connections: the broker, account, TLS and timing of these settings, with
    /// this client id; a persistent session (no session expiry) or a clean one.
    private func connection(clientID: String, persistent: Bool, will: MQTTMessage? = nil) -> MQTTConfiguration {
        MQTTConfiguration(
            host: host, port: port, clientID: clientID, username: username, password: password?.revealed,
            keepAliveSeconds: keepAliveSeconds, cleanSession: !persistent,
            protocolVersion: protocolVersion == .v5 ? .v5 : .v311,
            tls: tls,
            will: will, reconnectDelayMin: .milliseconds(reconnectDelayMinMilliseconds),
            reconnectDelayMax: .milliseconds(reconnectDelayMaxMilliseconds), sessionExpirySeconds: nil,
            maxInflightMessages: 32,
            batchMaxMessages: batchMaxMessages, batchMaxDelay: .milliseconds(batchMaxDelayMilliseconds))
    }

    /// The client id of the second connection, which publishes alerts and receipts (the session's id with
    /// `-out`, so it keeps the reserved prefix).
    public var publisherClientID: String { clientID + "-out" }

    /// The connection that publishes alerts and receipts. Not the session's: nothing is written on that one
    /// while a batch it handed to ingest is uncommitted (its PUBACKs wait in the same queue, docs/mqtt.md),
    /// so an alert raised meanwhile would wait for the commit, and a slow or stuck commit would hold every
    /// alert. This one has no subscriptions and no will, and starts clean: what it has not delivered, the
    /// delivery service and the receipt publisher send again.
    public func publisherConfiguration() -> MQTTConfiguration {
        connection(clientID: publisherClientID, persistent: false)
    }

    /// The client id of the session that receives the devices' status, birth, state and health (the
    /// session's id with `-state`).
    public var deviceStateClientID: String { clientID + "-state" }

    /// The session that receives the devices' status, birth, state and health: persistent like the events'
    /// session, but a queue of its own at the broker. On the events' session a bin's state waited behind
    /// every event queued before it (after an outage, a street's whole backlog, committed first), and so did
    /// the alert it raises; here it waits at most for the commit under way.
    public func deviceStateConfiguration() -> MQTTConfiguration {
        connection(clientID: deviceStateClientID, persistent: true)
    }

    /// Filters the events' session subscribes to: events and transfer-station loads, through the shared
    /// subscription group when one is configured, so instances split them (both are booked once by their
    /// key).
    public var eventFilters: [String] {
        let events = sharedGroup.map { Topics.Filter.shared(group: $0, Topics.Filter.events) } ?? Topics.Filter.events
        let loads = sharedGroup.map { Topics.Filter.shared(group: $0, Topics.Filter.load) } ?? Topics.Filter.load
        return [events, loads]
    }

    /// Filters the device-state session subscribes to: every device's status, birth, state and health, on
    /// every instance (each instance's alert engine follows every bin).
    public var deviceStateFilters: [String] {
        [Topics.Filter.status, Topics.Filter.birth, Topics.Filter.state, Topics.Filter.health]
    }
}
