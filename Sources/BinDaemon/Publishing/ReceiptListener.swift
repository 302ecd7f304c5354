import BinProtocol
import Logging
import MQTT
import ServiceLifecycle

/// Reads what decides when an event may leave the outbox: the aggregator's end-to-end receipts on
/// `bins/v1/{device}/receipt` and its retained status on `sanitation/v1/aggregator/status`, and hands
/// them to the outbox publisher through ``OutboxReceipts``. Both topics are retained, so after every
/// (re)connection the newest receipt and status arrive first.
///
/// Payloads are validated like everything else a device receives: a receipt for another device, or one
/// that is not a receipt, is logged and ignored.
struct ReceiptListener: Service {
    let device: String
    let client: MQTTClient
    let receipts: OutboxReceipts
    let logger: Logger

    func run() async throws {
        let receiptStream = try await client.subscribe(Topics.receipt(device), qos: .atLeastOnce)
        let statusStream = try await client.subscribe(Topics.aggregatorStatus, qos: .atLeastOnce)
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask {
                    for await message in receiptStream { handleReceipt(message) }
                }
                group.addTask {
                    for await message in statusStream { handleStatus(message) }
                }
            }
        }
    }

    func handleReceipt(_ message: MQTTMessage) {
        guard !message.payload.isEmpty else { return }  // a retained receipt being cleared
        do {
            let receipt = try WireCodec.decode(ReceiptPayload.self, from: message.payload, topicDevice: device)
            logger.debug(
                "receipt.received",
                metadata: ["receipt.through": "\(receipt.through)", "receipt.highest": "\(receipt.highest)"])
            receipts.receipt(through: receipt.through, highest: receipt.highest)
        } catch {
            logger.warning(
                "receipt.invalid", metadata: ["mqtt.topic": "\(message.topic)", "receipt.error": "\(error)"])
        }
    }

    func handleStatus(_ message: MQTTMessage) {
        guard !message.payload.isEmpty else {
            receipts.receiver(.unknown)
            return
        }
        do {
            let status = try WireCodec.decode(AggregatorStatusPayload.self, from: message.payload)
            logger.info(
                "aggregator.status",
                metadata: [
                    "aggregator.online": "\(status.online)", "aggregator.receipts": "\(status.receipts ?? false)",
                ])
            receipts.receiver(status.online ? .online(announcesReceipts: status.receipts == true) : .offline)
        } catch {
            logger.warning(
                "aggregator.status_invalid",
                metadata: ["mqtt.topic": "\(message.topic)", "aggregator.error": "\(error)"])
        }
    }
}
