import AsyncHTTPClient
import Crypto
import Foundation
import Lifecycle
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import YAMLConfig

/// Publishes alert lifecycle messages on `sanitation/v1/alerts` (implemented over the MQTT client).
public protocol AlertPublisher: Sendable {
    func publishAlert(_ body: [UInt8]) async throws
}

/// Sends the deliveries the alert engine enqueued: to MQTT and to webhooks. Deliveries live in the
/// database until they succeed, so an outage of the broker or a webhook receiver, or a restart of the
/// aggregator, delays them but loses none. Failed attempts back off exponentially (1 s doubling to
/// 10 minutes for webhooks, 30 s for MQTT); one alert's steps reach each target in order (raised before
/// acknowledged before cleared).
///
/// Webhooks get `POST` with the alert payload as JSON and these headers:
/// - `X-Bins-Signature: sha256=HEX`, the HMAC-SHA256 of the exact body with the webhook's secret;
/// - `X-Bins-Delivery: ID`, the same across retries of one delivery, so a receiver can drop repeats;
/// - `X-Bins-Alert: ID`.
public final class DeliveryService: Service, Sendable {
    private let store: any AggregatorStore
    private let webhooks: [String: WebhookSettings]
    private let publisher: (any AlertPublisher)?
    private let httpClient: HTTPClient
    private let logger: Logger
    private let wake = WakeSignal()
    private let clock: @Sendable () -> Int64

    public init(
        store: any AggregatorStore, webhooks: [WebhookSettings], publisher: (any AlertPublisher)?,
        httpClient: HTTPClient = .shared, logger: Logger, clock: @escaping @Sendable () -> Int64 = AlertEngine.wallClock
    ) {
        self.store = store
        self.webhooks = Dictionary(webhooks.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        self.publisher = publisher
        self.httpClient = httpClient
        self.logger = logger
        self.clock = clock
    }

    /// Wakes the service to send what was just enqueued.
    public func notify() { wake.signal() }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                // A full pass means more are due: go on at once.
                if await self.deliverDue().claimed < Self.claimLimit { await self.wake.wait(timeout: .seconds(1)) }
            }
        }
    }

    /// Deliveries claimed per pass.
    static let claimLimit = 50

    /// One pass over the deliveries that are due: how many were claimed and how many succeeded.
    ///
    /// The claim holds at most one step of each alert per target (the oldest), so the pass sends them
    /// all at once: one after the other, each MQTT publish waits a turn of the network loop, which at a
    /// city's alert rate puts the alerts seconds behind while ingest is busy.
    @discardableResult
    public func deliverDue() async -> (claimed: Int, delivered: Int) {
        let due: [Delivery]
        do {
            due = try await store.claimDeliveries(nowMs: clock(), limit: Self.claimLimit, leaseMs: 60_000)
        } catch {
            if !Task.isCancelled { logger.error("delivery.claim_failed", metadata: ["delivery.error": "\(error)"]) }
            return (0, 0)
        }
        let delivered = await withTaskGroup(of: Int64?.self) { group in
            for delivery in due {
                group.addTask { await self.attempt(delivery) ? delivery.id : nil }
            }
            return await group.reduce(into: [Int64]()) { if let id = $1 { $0.append(id) } }
        }
        do {
            try await store.completeDeliveries(ids: delivered)
        } catch {
            // They stay leased; after the lease they are sent again, and receivers drop the repeats by id.
            if !Task.isCancelled { logger.error("delivery.complete_failed", metadata: ["delivery.error": "\(error)"]) }
            return (due.count, 0)
        }
        return (due.count, delivered.count)
    }

    /// Sends one delivery; a failure is rescheduled with backoff. Returns whether it was sent.
    private func attempt(_ delivery: Delivery) async -> Bool {
        do {
            try await send(delivery)
            return true
        } catch {
            // Cut short by a shutdown: not an attempt. The lease runs out and the next start sends it.
            if Task.isCancelled { return false }
            let attempts = delivery.attempts + 1
            let message = (error as? AggregatorError)?.message ?? "\(type(of: error))"
            logger.warning(
                "delivery.failed",
                metadata: [
                    "delivery.id": "\(delivery.id)", "delivery.target": "\(delivery.target)",
                    "delivery.attempts": "\(attempts)",
                    "delivery.error": "\(message)",
                ])
            // The broker comes back on its own schedule and the client reconnects within seconds, so MQTT
            // deliveries retry at least every 30 s; webhook receivers get the full backoff.
            let cap: Int64 = delivery.target == Delivery.mqttTarget ? 30_000 : 600_000
            try? await store.retryDelivery(
                id: delivery.id, attempts: attempts,
                nextAttemptMs: clock() + StoreRules.backoffMs(attempts: attempts, capMs: cap),
                error: message)
            return false
        }
    }

    private func send(_ delivery: Delivery) async throws {
        let body = Array(delivery.body.utf8)
        if delivery.target == Delivery.mqttTarget {
            guard let publisher else { throw AggregatorError(.broker, "no broker connection for alerts") }
            try await publisher.publishAlert(body)
            return
        }
        guard delivery.target.hasPrefix("webhook:") else {
            logger.warning("delivery.unknown_target", metadata: ["delivery.target": "\(delivery.target)"])
            return
        }
        let name = String(delivery.target.dropFirst("webhook:".count))
        guard let webhook = webhooks[name] else {
            // The webhook was removed from the configuration: nobody to deliver to.
            logger.warning("delivery.webhook_removed", metadata: ["delivery.target": "\(delivery.target)"])
            return
        }
        var request = HTTPClientRequest(url: webhook.url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "bins-aggregator")
        request.headers.add(
            name: "X-Bins-Signature", value: "sha256=" + Self.signature(body: body, secret: webhook.secret))
        request.headers.add(name: "X-Bins-Delivery", value: String(delivery.id))
        request.headers.add(name: "X-Bins-Alert", value: delivery.alertID)
        request.body = .bytes(ByteBuffer(bytes: body))
        let host =
            URLComponents(string: webhook.url).map { "\($0.host ?? "?")\($0.port.map { ":\($0)" } ?? "")" } ?? "?"
        let response: HTTPClientResponse
        do {
            response = try await httpClient.execute(request, timeout: .seconds(Int64(webhook.timeoutSeconds)))
        } catch {
            throw AggregatorError(.webhook, "webhook \(webhook.name) (\(host)): \(Self.describe(error))")
        }
        _ = try? await response.body.collect(upTo: 64 * 1024)
        guard (200..<300).contains(response.status.code) else {
            throw AggregatorError(.webhook, "webhook \(webhook.name) (\(host)) answered HTTP \(response.status.code)")
        }
    }

    /// Hex HMAC-SHA256 of `body` keyed with `secret`.
    public static func signature(body: [UInt8], secret: Secret) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Array(secret.revealed.utf8)))
        return code.map { String(format: "%02x", $0) }.joined()
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError { return "\(error)" }
        if let error = error as? IOError { return "\(error.description)" }
        return "\(type(of: error))"
    }
}

/// A wake-up call that is not lost if it comes before the waiter: at most one is remembered.
final class WakeSignal: Sendable {
    private struct State {
        var pending = false
        var waiter: CheckedContinuation<Void, Never>?
    }
    private let state = Mutex(State())

    func signal() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.pending = true
            return nil
        }
        waiter?.resume()
    }

    /// Returns at the next signal, after `timeout`, or when the task is cancelled.
    func wait(timeout: Duration) async {
        _ = await withDeadline(timeout) { await self.waitForSignal() }
        signalIfWaiting()
    }

    private func waitForSignal() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state -> Bool in
                    if state.pending || Task.isCancelled {
                        state.pending = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            self.signalIfWaiting()
        }
    }

    /// Releases a waiter without leaving a pending signal behind.
    private func signalIfWaiting() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }
}
