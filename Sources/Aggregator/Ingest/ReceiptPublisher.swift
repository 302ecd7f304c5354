import BinProtocol
import Foundation
import Logging
import MQTT
import Metrics
import ServiceLifecycle
import Synchronization

/// Publishes each device's end-to-end receipt (``ReceiptPayload``, retained, QoS 1, on
/// `bins/v1/{device}/receipt`) after ingest has committed its events: the device keeps every event in
/// its outbox until a receipt covers it, so a broker crash that loses acknowledged messages loses nothing
/// for good (docs/mqtt.md, "End-to-end receipts").
///
/// Ingest only notes which devices' sequences moved (after the commit); this service reads their marks
/// from the store, which every instance shares, at most once per `interval`, so a burst of events costs
/// one receipt per device, and several instances splitting one device's events publish the same mark.
/// A receipt that cannot be published now (broker away) is published when the broker is back.
public final class ReceiptPublisher: Service, Sendable {
    private let client: MQTTClient
    private let store: any AggregatorStore
    private let timeZone: TimeZone
    private let interval: Duration
    private let logger: Logger
    private let pending = Mutex<Set<String>>([])
    private let signals: AsyncStream<Void>
    private let signal: AsyncStream<Void>.Continuation
    private let published: Counter
    private let failed: Counter

    public init(
        client: MQTTClient, store: any AggregatorStore, timeZone: TimeZone, interval: Duration,
        metricsFactory: any MetricsFactory,
        logger: Logger
    ) {
        self.client = client
        self.store = store
        self.timeZone = timeZone
        self.interval = interval
        self.logger = logger
        (signals, signal) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        published = Counter(label: "bins_receipts_published_total", factory: metricsFactory)
        failed = Counter(label: "bins_receipts_failed_total", factory: metricsFactory)
    }

    /// `device`'s sequence may have moved; call after the commit. Safe from any thread (ingest's).
    public func sequenceChanged(device: String) {
        let first = pending.withLock { $0.insert(device).inserted && $0.count == 1 }
        if first { signal.yield() }
    }

    public func run() async throws {
        let changes = client.stateChanges()
        await cancelWhenGracefulShutdown { [self] in
            await withDiscardingTaskGroup { group in
                // Receipts that failed while the broker was away go out once it is back.
                group.addTask { [self] in
                    for await state in changes where state == .connected {
                        if !pending.withLock({ $0.isEmpty }) { signal.yield() }
                    }
                }
                for await _ in signals {
                    try? await Task.sleep(for: interval)
                    await publishPending()
                }
                group.cancelAll()
            }
        }
        // What ingest committed last before the stop.
        await publishPending(timeout: .seconds(2))
    }

    /// Reads the pending devices' marks and publishes them; what fails stays pending.
    func publishPending(timeout: Duration = .seconds(10)) async {
        let devices = pending.withLock { pending -> [String] in
            defer { pending.removeAll() }
            return pending.sorted()
        }
        guard !devices.isEmpty else { return }
        let marks: [String: ReceiptMark]
        do {
            marks = try await store.receiptMarks(devices: devices)
        } catch {
            retryLater(devices)
            // The last pass at a stop may be cut short by the cancellation: not a failure.
            if Task.isCancelled { return }
            logger.warning(
                "receipt.read_failed",
                metadata: ["receipt.devices": "\(devices.count)", "receipt.error": "\(error.message)"])
            return
        }
        // All at once: one after the other, each waiting for its PUBACK, a pass over a city's devices
        // takes a network-loop turn per device and the receipts fall seconds behind ingest.
        let unsent = await withTaskGroup(of: String?.self) { group in
            for device in devices {
                guard let mark = marks[device] else { continue }
                group.addTask { [self] in
                    let payload = ReceiptPayload(
                        device: device, ts: .now(in: timeZone), through: mark.through, highest: mark.highest)
                    do {
                        let bytes = try WireCodec.encode(payload)
                        try await client.publish(
                            MQTTMessage(topic: Topics.receipt(device), payload: bytes, qos: .atLeastOnce, retain: true),
                            timeout: timeout)
                        published.increment()
                        return nil
                    } catch {
                        failed.increment()
                        logger.debug(
                            "receipt.publish_failed", metadata: ["device": "\(device)", "receipt.error": "\(error)"])
                        return device
                    }
                }
            }
            var unsent: [String] = []
            for await device in group { if let device { unsent.append(device) } }
            return unsent
        }
        if !unsent.isEmpty { retryLater(unsent) }
    }

    private func retryLater(_ devices: [String]) {
        pending.withLock { $0.formUnion(devices) }
        if client.state == .connected { signal.yield() }
    }
}
