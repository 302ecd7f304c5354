import Synchronization

/// The channel between whoever reads the receiver's receipts (the daemon decodes them; this module knows
/// no payload schema) and the ``OutboxPublisher`` that deletes records by them. Give the same instance to
/// both. Without one, the publisher deletes at the broker's PUBACK.
///
/// End-to-end receipts close the last gap of the no-loss chain: mosquitto acknowledges a QoS 1 message
/// once it holds it in memory and saves to disk only every `autosave_interval`, so a broker crash can lose
/// acknowledged messages. With receipts the device keeps every record until the receiver has committed
/// it, and sends again what no receipt covers (docs/mqtt.md).
public final class OutboxReceipts: Sendable {
    /// How the publisher currently decides that a record may be deleted.
    public enum Mode: String, Sendable, Equatable, CaseIterable {
        /// When a receipt covers it.
        case receipts
        /// At the broker's PUBACK: no receiver has announced receipts yet.
        case puback
        /// At the PUBACK, because an announced receiver stopped sending receipts (`ReceiptSettings.fallbackAfter`).
        case fallback
    }

    /// What health reports show.
    public struct Status: Sendable, Equatable {
        public var mode: Mode
        /// The highest seq a receipt covered.
        public var through: Int64
        /// Acknowledged by the broker, not yet covered by a receipt.
        public var unreceipted: Int64
        /// How many times unreceipted records were sent again.
        public var resends: Int
    }

    enum Input: Sendable {
        case receipt(through: Int64, highest: Int64)
        case receiver(ReceiverPresence)
    }

    public let settings: ReceiptSettings
    private let inputs: AsyncStream<Input>
    private let continuation: AsyncStream<Input>.Continuation
    private let snapshot: Mutex<Status>
    private let consumed = Atomic<Bool>(false)

    public init(settings: ReceiptSettings = ReceiptSettings()) {
        self.settings = settings
        (inputs, continuation) = AsyncStream.makeStream(of: Input.self)
        snapshot = Mutex(Status(mode: .puback, through: 0, unreceipted: 0, resends: 0))
    }

    /// A receipt from the receiver: every record through `through` is committed; `highest` is the highest
    /// seq it has seen. Safe from any thread.
    public func receipt(through: Int64, highest: Int64) {
        continuation.yield(.receipt(through: through, highest: highest))
    }

    /// The receiver's announced presence changed (its retained status message). Safe from any thread.
    public func receiver(_ presence: ReceiverPresence) {
        continuation.yield(.receiver(presence))
    }

    /// As of the publisher's last step.
    public var status: Status { snapshot.withLock { $0 } }

    func update(_ status: Status) { snapshot.withLock { $0 = status } }

    /// The inputs, for the one publisher that uses this channel.
    func takeInputs() -> AsyncStream<Input>? {
        consumed.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged ? inputs : nil
    }
}
