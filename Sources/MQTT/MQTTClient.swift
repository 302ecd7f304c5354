import Lifecycle
import Logging
import ServiceLifecycle
import Synchronization

/// An MQTT client over libmosquitto, run as a ServiceLifecycle `Service`.
///
/// `run()` connects and keeps the connection up until graceful shutdown (or task cancellation, or
/// `disconnect()`): failed attempts and lost connections are retried with exponential backoff and
/// jitter, a dead link is noticed by keepalive, and every subscription is restored after each reconnect.
/// libmosquitto runs on one dedicated network thread, never on Swift's cooperative pool.
///
/// Receivers that need a persistent session's queued messages must subscribe *before* `run()` starts:
/// the broker delivers them right after CONNACK, and a message that matches no registered subscription
/// is acknowledged and dropped (logged as `mqtt.message.unroutable`).
///
/// In a `ServiceGroup`, list the client before the services that publish through it: the group shuts
/// services down in reverse order, so they can publish their last words (a retained `online: false`)
/// before the client disconnects.
public final class MQTTClient: Service, Sendable {
    public let configuration: MQTTConfiguration
    private let core: ClientCore

    public init(configuration: MQTTConfiguration, logger: Logger) throws(MQTTError) {
        self.configuration = configuration
        self.core = try ClientCore(configuration: configuration, logger: logger)
    }

    deinit {
        core.requestStop()
    }

    /// Connects and stays connected until graceful shutdown, cancellation or `disconnect()`; then sends
    /// DISCONNECT (so the broker does not publish the will) and returns once the network thread has ended.
    public func run() async throws {
        guard try core.start() else { return }
        await withTaskCancellationOrGracefulShutdownHandler {
            await core.waitUntilStopped()
        } onCancelOrGracefulShutdown: { [core] in
            core.requestStop()
        }
    }

    /// Disconnects cleanly and stops `run()`; returns when the network thread has ended.
    public func disconnect() async {
        core.requestStop()
        await core.waitUntilStopped()
    }

    /// The connection as of now.
    public var state: MQTTConnectionState { core.connectionSnapshot.state }

    /// Why the last connection attempt failed or the last connection ended; `nil` while connected.
    public var lastError: MQTTError? { core.lastError }

    /// Every change of `state`, starting with the current one. Finishes when the client stops. Keeps the
    /// newest 64 changes if the consumer falls behind.
    public func stateChanges() -> AsyncStream<MQTTConnectionState> {
        let (stream, continuation) = AsyncStream.makeStream(
            of: MQTTConnectionState.self, bufferingPolicy: .bufferingNewest(64))
        let observerID = Mutex<UInt64?>(nil)
        continuation.onTermination = { [core] _ in
            if let id = observerID.withLock({ $0 }) { core.removeStateObserver(id) }
        }
        let id = core.addStateObserver(continuation)
        observerID.withLock { $0 = id }
        return stream
    }

    /// Waits until the broker has accepted the connection. Throws `.timeout` (naming the last connection
    /// error, e.g. a refused TLS handshake) or `.stopped`.
    public func waitUntilConnected(timeout: Duration) async throws(MQTTError) {
        let changes = stateChanges()
        let outcome = await withDeadline(timeout) {
            for await state in changes where state == .connected { return true }
            return false
        }
        switch outcome {
        case true?:
            return
        case false?:
            throw MQTTError(.stopped, broker: configuration.endpoint, detail: lastError.map { "\($0)" })
        case nil:
            var detail = "not connected within \(timeout)"
            if let lastError { detail += "; last error: \(lastError)" }
            throw MQTTError(.timeout, broker: configuration.endpoint, detail: detail)
        }
    }

    /// Publishes one message. QoS 0 returns once libmosquitto has queued it; QoS 1 returns only after the
    /// broker's PUBACK (QoS 2: PUBCOMP), even if that takes a reconnect, because libmosquitto resends
    /// unacknowledged messages on the new connection. Throws `.notConnected` when there is no connection
    /// (nothing was queued), `.publishRefused` when an MQTT 5 broker refuses it (e.g. not authorised),
    /// `.cancelled` if the task is cancelled while waiting (the message may still arrive).
    ///
    /// Note: under MQTT 3.1.1 a broker cannot say no: mosquitto acknowledges a publish its ACL denies and
    /// drops it. Use MQTT 5 where a refusal must be seen.
    public func publish(_ message: MQTTMessage) async throws(MQTTError) {
        let client = self
        let ticket = Mutex(PublishTicket())
        let result = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Result<Void, MQTTError>, Never>) in
                do throws(MQTTError) {
                    let mid = try client.enqueue(message) { result in continuation.resume(returning: result) }
                    if message.qos == .atMostOnce {
                        continuation.resume(returning: .success(()))
                        return
                    }
                    let cancelled = ticket.withLock { ticket -> Bool in
                        ticket.mid = mid
                        return ticket.cancelled
                    }
                    if cancelled { client.abandon(mid: mid) }
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        } onCancel: {
            let mid = ticket.withLock { ticket -> Int32? in
                ticket.cancelled = true
                return ticket.mid
            }
            if let mid { client.abandon(mid: mid) }
        }
        try result.get()
    }

    /// `publish(_:)` with a bound on the wait for the acknowledgement: throws `.timeout` (naming the broker
    /// and the bound) when none came within `timeout`, `.cancelled` when the task was cancelled. The message
    /// may still be delivered later: libmosquitto keeps it until the client stops. For the waits that must
    /// end (last words at a stop, a publish that is retried later anyway).
    public func publish(_ message: MQTTMessage, timeout: Duration) async throws(MQTTError) {
        let acknowledged: Void? = try await withDeadline(timeout) { () async throws(MQTTError) in
            try await self.publish(message)
        }
        guard acknowledged == nil else { return }
        if Task.isCancelled { throw MQTTError(.cancelled, broker: configuration.endpoint, detail: message.topic) }
        throw MQTTError(
            .timeout, broker: configuration.endpoint, detail: "no acknowledgement of \(message.topic) within \(timeout)"
        )
    }

    /// Subscribes and returns the matching messages as a stream. Returns after the broker's SUBACK when
    /// connected; otherwise the filter is registered and subscribed on the next connection. The
    /// subscription is restored after every reconnect and ends when the stream is dropped. The stream
    /// buffers without bound (dropping would lose QoS 1 messages the broker considers delivered); a
    /// receiver that must apply back-pressure or commit before acknowledging uses the handler form.
    ///
    /// `retiring`: see ``subscribe(_:qos:batchHandler:retiring:)``.
    public func subscribe(_ filter: String, qos: MQTTQoS, retiring: [String] = []) async throws(MQTTError)
        -> AsyncStream<MQTTMessage>
    {
        let (stream, continuation) = AsyncStream.makeStream(of: MQTTMessage.self)
        let id = try await core.addSubscription([filter], qos: qos, retiring: retiring, sink: .stream(continuation))
        continuation.onTermination = { [core] _ in core.removeSubscription(id) }
        return stream
    }

    /// Subscribes with a handler called synchronously on the network thread, before libmosquitto writes the
    /// PUBACK of a QoS 1 message (see `MQTTMessageHandler`). Register it before `run()` when the session is
    /// persistent, so messages queued while away have a receiver. Same acknowledgement rules as the
    /// stream form. `retiring`: see ``subscribe(_:qos:batchHandler:retiring:)``.
    public func subscribe(
        _ filters: [String], qos: MQTTQoS, handler: some MQTTMessageHandler, retiring: [String] = []
    ) async throws(MQTTError) {
        _ = try await core.addSubscription(filters, qos: qos, retiring: retiring, sink: .handler(handler))
    }

    /// Subscribes with a handler that receives each burst of matching messages as one batch on the network
    /// thread; nothing, not one PUBACK, is written to the socket until it returns (see
    /// `MQTTBatchHandler`). Same registration and acknowledgement rules as the handler form.
    ///
    /// `retiring`: filters a persistent session may still hold at the broker from an earlier version of
    /// its subscriber, which has moved them elsewhere. They are unsubscribed at every connection (before
    /// the subscriptions are restored, so by the time the client is `connected` the broker queues nothing
    /// more under them), and what the broker had already queued under them, delivered right after the
    /// CONNACK, goes to this subscription instead of being dropped as unroutable.
    public func subscribe(
        _ filters: [String], qos: MQTTQoS, batchHandler: some MQTTBatchHandler, retiring: [String] = []
    ) async throws(MQTTError) {
        _ = try await core.addSubscription(filters, qos: qos, retiring: retiring, sink: .batchHandler(batchHandler))
    }
}

/// Links a publish waiting for its acknowledgement to a cancellation that may arrive before or after
/// libmosquitto assigned the message id.
struct PublishTicket {
    var mid: Int32?
    var cancelled = false
}

// MARK: The one way a publish reaches libmosquitto (for `publish` and the `OutboxPublisher`)
extension MQTTClient {
    /// Queues `message` in libmosquitto without waiting and returns its message id. For QoS 1 and 2,
    /// `completion` runs exactly once, on the network thread, with the acknowledgement, the broker's
    /// refusal or the client's stop; for QoS 0 it is not called. Throws `.notConnected` when there is no
    /// connection to queue on (the outbox keeps the record and sends it after the reconnect).
    ///
    /// A caller queueing many at once passes `wake: false` and calls ``wakeNetworkThread()`` after the
    /// last: one wake-up of the network thread per batch instead of one per message.
    @discardableResult
    func enqueue(
        _ message: MQTTMessage, wake: Bool = true,
        completion: @escaping @Sendable (Result<Void, MQTTError>) -> Void
    ) throws(MQTTError) -> Int32 {
        try core.enqueuePublish(message, wake: wake, completion: completion)
    }

    /// Has the network thread write what was queued with `enqueue(_:wake: false, completion:)`.
    func wakeNetworkThread() { core.wakeNetworkThread() }

    /// Forgets the completion of a publish whose waiter went away; libmosquitto still delivers it.
    func abandon(mid: Int32) { core.abandonPublish(mid: mid) }

    /// The connection's state and which connection it is (the count of accepted connections), read
    /// together so a caller can tell a reconnect from the connection it saw before.
    var connectionSnapshot: (state: MQTTConnectionState, generation: UInt64) { core.connectionSnapshot }

    /// Runs `hook` on the network thread each time the broker accepts a connection, before any message
    /// of that connection is handled; returns an id for `removeAcceptanceHook`.
    func addAcceptanceHook(_ hook: @escaping @Sendable (_ generation: UInt64) -> Void) -> UInt64 {
        core.addAcceptanceHook(hook)
    }

    func removeAcceptanceHook(_ id: UInt64) { core.removeAcceptanceHook(id) }
}
