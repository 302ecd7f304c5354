import Synchronization

/// Delivery guarantee of one publish or subscription, as MQTT defines it.
public enum MQTTQoS: Int32, Sendable, Hashable, CaseIterable {
    case atMostOnce = 0
    case atLeastOnce = 1
    case exactlyOnce = 2
}

/// The protocol level sent in CONNECT. MQTT 5 adds reason codes to PUBACK and SUBACK (so a refused
/// publish is reported instead of silently dropped), session expiry and shared subscriptions.
public enum MQTTProtocolVersion: Sendable, Hashable {
    case v311
    case v5
}

/// One application message, as published or as received. The payload is a copy owned by Swift, never a
/// pointer into libmosquitto's buffers.
public struct MQTTMessage: Sendable, Equatable, Hashable {
    public var topic: String
    public var payload: [UInt8]
    public var qos: MQTTQoS
    public var retain: Bool

    public init(topic: String, payload: [UInt8], qos: MQTTQoS = .atLeastOnce, retain: Bool = false) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
    }

    /// Convenience for text payloads (JSON on this project's wire).
    public init(topic: String, text: String, qos: MQTTQoS = .atLeastOnce, retain: Bool = false) {
        self.init(topic: topic, payload: Array(text.utf8), qos: qos, retain: retain)
    }

    /// The payload decoded as UTF-8, with invalid bytes replaced.
    public var text: String { String(decoding: payload, as: UTF8.self) }
}

/// The connection as seen by health checks and systemd readiness. `connected` means the broker accepted
/// the CONNECT (CONNACK with success) and acknowledged every subscription restored on it, so a message
/// published after a client observes `connected` reaches its handlers; anything else means publishes are
/// not being accepted right now.
public enum MQTTConnectionState: Sendable, Equatable, Hashable {
    /// No connection: not started yet, waiting before the next attempt, or stopped.
    case disconnected
    /// A connection attempt is under way (TCP, TLS handshake, CONNECT sent, waiting for CONNACK).
    case connecting
    /// The broker accepted the connection.
    case connected
}

/// Receives messages synchronously on libmosquitto's network thread.
///
/// `handle` runs before libmosquitto writes the PUBACK of a QoS 1 message to the socket, so work done
/// inside it (committing the message to a database) happens-before the broker considers the message
/// delivered: if the process dies inside `handle`, the broker delivers the message again to the same
/// persistent session. See docs/mqtt.md for the guarantee and its proof. `handle` blocks the network
/// thread, so keepalive and other deliveries wait for it: keep it short (one transaction, not a network
/// call).
public protocol MQTTMessageHandler: Sendable {
    func handle(_ message: MQTTMessage)
}

/// Receives messages in batches on libmosquitto's network thread, for a receiver that commits many
/// messages in one transaction.
///
/// The client reads a burst of packets (until the socket has nothing more to read, or the
/// configuration's `batchMaxMessages` or `batchMaxDelay` is reached) and hands this handler the burst's
/// messages that match its subscription, in arrival order, with an ``MQTTBatchAcknowledgement``. The
/// handler commits the batch, on the network thread before returning or on a thread of its own, and then
/// calls `acknowledge()`. libmosquitto only queues the PUBACKs of a burst while reading, and the client
/// writes nothing to the socket while any batch it handed over is unacknowledged, so a batch is in the
/// database before the broker sees any of its PUBACKs; a process that dies before acknowledging gets
/// every message of the batch again (docs/mqtt.md). Meanwhile the client reads ahead up to
/// `batchPipelineDepth` bursts, so the next burst is read and handed over while the previous one commits.
/// Keepalive and other traffic wait for the acknowledgements, so keep a batch to one transaction.
public protocol MQTTBatchHandler: Sendable {
    func handle(_ batch: [MQTTMessage], acknowledgement: MQTTBatchAcknowledgement)
}

/// Lets the client write the PUBACKs of one handed-over batch (with everything else queued), once every
/// batch handed over before or since is acknowledged too. Call `acknowledge()` once the batch is
/// committed, from any thread; further calls do nothing. One that is never called holds the client's
/// writes for good: there is no acknowledging by default, since that would confirm an uncommitted batch.
public final class MQTTBatchAcknowledgement: Sendable {
    private let gate: AcknowledgementGate
    private let acknowledged = Atomic<Bool>(false)

    init(gate: AcknowledgementGate) {
        self.gate = gate
    }

    public func acknowledge() {
        guard !acknowledged.exchange(true, ordering: .acquiringAndReleasing) else { return }
        gate.release()
    }
}

/// Counts the batches handed to batch handlers and not yet acknowledged, and wakes the network thread
/// when the last one is.
final class AcknowledgementGate: Sendable {
    private let count = Atomic<Int>(0)
    private let wake: @Sendable () -> Void

    init(wake: @escaping @Sendable () -> Void) {
        self.wake = wake
    }

    /// Batches handed over and not yet acknowledged.
    var outstanding: Int { count.load(ordering: .acquiring) }

    func hold() -> MQTTBatchAcknowledgement {
        count.add(1, ordering: .acquiringAndReleasing)
        return MQTTBatchAcknowledgement(gate: self)
    }

    fileprivate func release() {
        count.subtract(1, ordering: .acquiringAndReleasing)
        wake()
    }
}
