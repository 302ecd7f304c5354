import BinProtocol
import Foundation
import Synchronization

/// Tells open console pages what changed, as it is committed, so they refresh within a second or two
/// without polling: ingest reports each committed message, the alert engine each lifecycle step.
///
/// A change is a set of *topics*: `bins`, `ledger`, `events`, `devices`, `alerts`, and `device:{id}` for
/// everything about one point. Each subscriber (one live connection of a page) names the topics it shows
/// and is woken when one of them changed; changes that arrive while it is busy are merged, so a busy
/// district costs a page one refresh per wake-up, not one per message.
///
/// Calls come from libmosquitto's thread (ingest) and from Swift tasks: everything is behind a `Mutex`,
/// and nothing here blocks or waits.
public final class LiveUpdates: Sendable {
    public enum Topic {
        public static let bins = "bins"
        public static let ledger = "ledger"
        public static let events = "events"
        public static let devices = "devices"
        public static let alerts = "alerts"
        public static func device(_ id: String) -> String { "device:\(id)" }
    }

    /// One live connection's view of the changes.
    public final class Subscription: Sendable {
        let topics: Set<String>?
        private let pending = Mutex<Set<String>>([])
        private let continuation: AsyncStream<Void>.Continuation
        /// Yields once after changes to the subscribed topics (several changes may be behind one wake-up).
        public let wakeUps: AsyncStream<Void>

        init(topics: Set<String>?) {
            self.topics = topics
            (wakeUps, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        }

        func offer(_ changed: Set<String>) {
            let relevant = topics.map { changed.intersection($0) } ?? changed
            guard !relevant.isEmpty else { return }
            pending.withLock { $0.formUnion(relevant) }
            continuation.yield()
        }

        /// The topics changed since the last call.
        public func takeChanges() -> Set<String> {
            pending.withLock { changes in
                defer { changes = [] }
                return changes
            }
        }

        /// Wakes the reader with no changes (for a keep-alive).
        public func poke() { continuation.yield() }

        func finish() { continuation.finish() }
    }

    private let subscribers = Mutex<[ObjectIdentifier: Subscription]>([:])
    private let health = Mutex<[String: HealthReport]>([:])
    private let finished = Mutex(false)

    public init() {}

    /// Starts receiving changes to `topics` (all topics when `nil`) until ``unsubscribe(_:)`` or ``finish()``.
    public func subscribe(topics: Set<String>?) -> Subscription {
        let subscription = Subscription(topics: topics)
        let closed = finished.withLock { $0 }
        if closed {
            subscription.finish()
        } else {
            subscribers.withLock { $0[ObjectIdentifier(subscription)] = subscription }
        }
        return subscription
    }

    public func unsubscribe(_ subscription: Subscription) {
        subscribers.withLock { _ = $0.removeValue(forKey: ObjectIdentifier(subscription)) }
        subscription.finish()
    }

    public var subscriberCount: Int { subscribers.withLock { $0.count } }

    /// Ends every subscription (their live connections close): the HTTP server is stopping.
    public func finish() {
        finished.withLock { $0 = true }
        let all = subscribers.withLock { subscribers in
            defer { subscribers = [:] }
            return Array(subscribers.values)
        }
        for subscription in all { subscription.finish() }
    }

    public func publish(_ topics: Set<String>) {
        let all = subscribers.withLock { Array($0.values) }
        for subscription in all { subscription.offer(topics) }
    }

    /// Ingest committed `message` of `type` (from `IngestHandler`, on the MQTT client's thread).
    public func committed(topic: String, payload: [UInt8], type: IngestMetrics.MessageType, receivedAtMs: Int64) {
        committed([(topic, payload, type)], receivedAtMs: receivedAtMs)
    }

    /// Ingest committed a batch: one change for all of it, and none at all (beyond keeping health) while no
    /// page is open, so the cost per message on the ingest thread stays near nothing.
    public func committed(
        _ messages: [(topic: String, payload: [UInt8], type: IngestMetrics.MessageType)], receivedAtMs: Int64
    ) {
        let watched = subscribers.withLock { !$0.isEmpty }
        var topics: Set<String> = []
        for (topic, payload, type) in messages where watched || type == .health {
            guard let (device, _) = Topics.parse(topic) else { continue }
            topics.insert(Topic.device(device))
            switch type {
            case .state: topics.insert(Topic.bins)
            case .status, .birth: topics.formUnion([Topic.bins, Topic.devices])
            case .deposit, .collection: topics.formUnion([Topic.ledger, Topic.events])
            case .load: topics.insert(Topic.ledger)
            case .fault: topics.formUnion([Topic.events, Topic.bins])
            case .health:
                if let report = try? WireCodec.decode(HealthPayload.self, from: payload, topicDevice: device) {
                    health.withLock { $0[device] = HealthReport(payload: report, receivedAtMs: receivedAtMs) }
                }
            }
        }
        if watched && !topics.isEmpty { publish(topics) }
    }

    /// An alert was raised, acknowledged or cleared.
    public func alertChanged() { publish([Topic.alerts]) }

    /// The last health message of `device` this instance received since it started (health is QoS 0
    /// and not stored: it is a live picture, not a record).
    public func lastHealth(device: String) -> HealthReport? { health.withLock { $0[device] } }
}

/// A device's health counters as last received.
public struct HealthReport: Sendable, Equatable {
    public var payload: HealthPayload
    public var receivedAtMs: Int64

    public init(payload: HealthPayload, receivedAtMs: Int64) {
        self.payload = payload
        self.receivedAtMs = receivedAtMs
    }
}
