import BinProtocol
import Foundation
import Logging
import MQTT
import ServiceLifecycle

/// Keeps `sanitation/v1/aggregator/status` true: a retained `online: true` after every (re)connection,
/// an `online: false` on a clean stop, and the client's will for everything else.
///
/// The `online: false` is waited for at most `offlineStatusTimeout`. A QoS 1 publish waits for its PUBACK
/// across reconnects, and the client only stops after this service has returned (it is listed first, so
/// it stops last): without a bound, a broker that went away at the moment of the stop would keep the
/// whole shutdown, and the reconnect loop with it, waiting forever.
public final class AggregatorStatusPublisher: Service, Sendable {
    private let client: MQTTClient
    private let instance: String
    private let timeZone: TimeZone
    private let announcesReceipts: Bool
    private let offlineStatusTimeout: Duration
    private let logger: Logger

    public init(
        client: MQTTClient, instance: String, timeZone: TimeZone, announcesReceipts: Bool = true,
        offlineStatusTimeout: Duration = .seconds(5), logger: Logger
    ) {
        self.client = client
        self.instance = instance
        self.timeZone = timeZone
        self.announcesReceipts = announcesReceipts
        self.offlineStatusTimeout = offlineStatusTimeout
        self.logger = logger
    }

    /// The status, announcing receipts when this aggregator publishes them (devices then keep their events
    /// until a receipt covers them, even while this aggregator is away).
    static func statusMessage(instance: String, online: Bool, receipts: Bool, timeZone: TimeZone) -> MQTTMessage {
        let payload = AggregatorStatusPayload(
            ts: .now(in: timeZone), instance: instance, online: online, receipts: receipts ? true : nil)
        return MQTTMessage(
            topic: Topics.aggregatorStatus, payload: (try? WireCodec.encode(payload)) ?? [], qos: .atLeastOnce,
            retain: true)
    }

    public func run() async throws {
        let changes = client.stateChanges()
        await cancelWhenGracefulShutdown {
            for await state in changes where state == .connected {
                do {
                    try await self.client.publish(
                        Self.statusMessage(
                            instance: self.instance, online: true, receipts: self.announcesReceipts,
                            timeZone: self.timeZone))
                } catch {
                    // A graceful stop cancels the wait for the PUBACK: not a failure.
                    if Task.isCancelled { break }
                    self.logger.warning("aggregator.status_publish_failed", metadata: ["mqtt.error": "\(error)"])
                }
            }
        }
        await publishOffline()
    }

    /// Last words before the client disconnects (it is listed before this service, so it stops after).
    private func publishOffline() async {
        do {
            try await client.publish(
                Self.statusMessage(instance: instance, online: false, receipts: announcesReceipts, timeZone: timeZone),
                timeout: offlineStatusTimeout)
            logger.info("aggregator.status_offline_published")
        } catch {
            logger.notice("aggregator.status_offline_not_published", metadata: ["mqtt.error": "\(error)"])
        }
    }
}
