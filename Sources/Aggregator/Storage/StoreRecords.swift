import BinProtocol

/// An event ready to be booked: validated, its local day computed, its receipt time noted.
public struct EventBooking: Sendable {
    public var event: EventPayload
    public var day: LocalDate
    public var receivedAtMs: Int64
    /// The event as it arrived, kept with the ledger as evidence.
    public var payload: String

    public init(event: EventPayload, day: LocalDate, receivedAtMs: Int64, payload: String) {
        self.event = event
        self.day = day
        self.receivedAtMs = receivedAtMs
        self.payload = payload
    }
}

/// What booking an event did.
public enum BookingOutcome: Sendable, Equatable {
    /// Booked for the first time. `gap` is the range of sequence numbers this event revealed as missing
    /// (it jumped ahead), `filledGap` tells that it arrived late into a known gap.
    case booked(gap: ClosedRange<Int64>?, filledGap: Bool)
    /// `(device, seq)` was booked before; nothing changed.
    case duplicate
    /// The seq is more than ``WireLimits/maxSeqJump`` beyond the highest booked for the device: refused
    /// as `out_of_range`, nothing changed (the high mark in particular).
    case tooFarAhead(highest: Int64)
}

/// One validated message of an ingest batch, as the store applies it.
public enum IngestItem: Sendable {
    case event(EventBooking)
    case status(StatusPayload, receivedAtMs: Int64)
    case birth(BirthPayload, receivedAtMs: Int64)
    case state(StatePayload, receivedAtMs: Int64)
    case health(HealthPayload, receivedAtMs: Int64)
    /// Seqs that will never be booked (an event refused for its content).
    case account(device: String, seqs: ClosedRange<Int64>, reason: AccountedReason, receivedAtMs: Int64)
    /// A load booked by `device`, one of the station's own devices. Applied unless its key is booked.
    case load(StationLoad, device: String)

    /// The device the item is about: a batch locks these rows first, in one order, on PostgreSQL.
    var device: String {
        switch self {
        case .event(let booking): booking.event.device
        case .status(let status, _): status.device
        case .birth(let birth, _): birth.device
        case .state(let state, _): state.device
        case .health(let health, _): health.device
        case .account(let device, _, _, _): device
        case .load(_, let device): device
        }
    }
}

/// What applying one ``IngestItem`` did.
public enum IngestItemOutcome: Sendable, Equatable {
    case event(BookingOutcome)
    /// A status, birth or state: whether it changed what was stored (an older one does not). Health and
    /// accounting always apply.
    case applied(Bool)
}

/// How far a device's events are booked, for its end-to-end receipt (``StoreRules/receiptMark``).
public struct ReceiptMark: Sendable, Equatable {
    public var through: Int64
    public var highest: Int64

    public init(through: Int64, highest: Int64) {
        self.through = through
        self.highest = highest
    }
}

/// Why seqs of a device will never be booked, though the receipt counts them as handled.
public enum AccountedReason: String, Sendable, Equatable, CaseIterable {
    /// The device's outbox dropped them and said so (`outbox.dropped` with `first_seq`/`last_seq`).
    case dropped
    /// The event arrived and was refused as invalid (sending it again would not change that).
    case rejected
}

/// A range of sequence numbers not (yet) received from a device.
public struct SequenceGap: Sendable, Equatable, Codable {
    public var device: String
    public var first: Int64
    public var last: Int64
    public var detectedAtMs: Int64

    public init(device: String, first: Int64, last: Int64, detectedAtMs: Int64) {
        self.device = device
        self.first = first
        self.last = last
        self.detectedAtMs = detectedAtMs
    }

    public var count: Int64 { last - first + 1 }
}

/// What the aggregator knows about one device from its status, birth, health and events.
public struct DeviceRecord: Sendable, Equatable {
    public var device: String
    /// Last status payload's `online`; the will sets it false.
    public var online: Bool?
    public var session: Int64?
    public var statusAt: WireTimestamp?
    /// Receipt (wall) time of the last status message.
    public var statusReceivedMs: Int64?
    /// Receipt (wall) time of the last message of any kind: the basis of staleness.
    public var lastSeenMs: Int64?
    public var version: String?
    public var board: String?
    public var configHash: String?
    public var birthSession: Int64?
    public var bins: [BinDescriptor]
    public var highestSeq: Int64?
    public var outboxDepth: Int64?
    public var droppedTotal: Int64?

    public init(device: String) {
        self.device = device
        bins = []
    }

    /// A device is live when its last status said online and it was heard from within `staleAfterMs`.
    public func isLive(nowMs: Int64, staleAfterMs: Int64) -> Bool {
        guard online == true, let lastSeenMs else { return false }
        return nowMs - lastSeenMs <= staleAfterMs
    }

    /// Seconds the device has been silent or offline: the value `device_offline` alerts compare.
    public func silentSeconds(nowMs: Int64) -> Double {
        guard let lastSeenMs else { return .infinity }
        if online == false {
            return Double(nowMs - (statusReceivedMs ?? lastSeenMs)) / 1000
        }
        return Double(max(0, nowMs - lastSeenMs)) / 1000
    }
}

/// The latest state message of one bin.
public struct BinStateRecord: Sendable, Equatable {
    public var device: String
    public var state: StatePayload
    public var receivedAtMs: Int64

    public init(device: String, state: StatePayload, receivedAtMs: Int64) {
        self.device = device
        self.state = state
        self.receivedAtMs = receivedAtMs
    }
}

/// A fault as last reported (raised or cleared) by its device.
public struct FaultRecord: Sendable, Equatable {
    public var device: String
    /// Empty for device-wide faults.
    public var bin: String
    public var code: String
    public var sensor: FaultSensor
    public var active: Bool
    public var detail: String
    public var at: WireTimestamp

    public init(
        device: String, bin: String, code: String, sensor: FaultSensor, active: Bool, detail: String, at: WireTimestamp
    ) {
        self.device = device
        self.bin = bin
        self.code = code
        self.sensor = sensor
        self.active = active
        self.detail = detail
        self.at = at
    }
}

/// A booked event as stored.
public struct StoredEvent: Sendable, Equatable {
    public var event: EventPayload
    public var day: LocalDate
    public var receivedAtMs: Int64

    public init(event: EventPayload, day: LocalDate, receivedAtMs: Int64) {
        self.event = event
        self.day = day
        self.receivedAtMs = receivedAtMs
    }
}

/// A message waiting to go out (an alert on MQTT or to a webhook), kept in the database so nothing is
/// lost across restarts.
public struct Delivery: Sendable, Equatable {
    public var id: Int64
    /// `mqtt` or `webhook:{name}`.
    public var target: String
    public var alertID: String
    public var body: String
    public var attempts: Int
    public var nextAttemptMs: Int64
    public var lastError: String?

    public init(
        id: Int64, target: String, alertID: String, body: String, attempts: Int, nextAttemptMs: Int64,
        lastError: String?
    ) {
        self.id = id
        self.target = target
        self.alertID = alertID
        self.body = body
        self.attempts = attempts
        self.nextAttemptMs = nextAttemptMs
        self.lastError = lastError
    }

    public static let mqttTarget = "mqtt"
    public static func webhookTarget(_ name: String) -> String { "webhook:\(name)" }
}

/// A new delivery to enqueue together with an alert change.
public struct DeliveryRequest: Sendable, Equatable {
    public var target: String
    public var body: String

    public init(target: String, body: String) {
        self.target = target
        self.body = body
    }
}
