import BinProtocol

/// One alert and its lifecycle: raised → acknowledged → cleared (or raised → cleared). A value type:
/// the transitions are checked here, without I/O, and the store persists the result with a
/// compare-and-set on the previous state so two instances cannot both apply the same step.
public struct AlertRecord: Sendable, Equatable {
    public var id: String
    public var kind: AlertKind
    public var severity: AlertSeverity
    public var state: AlertState
    public var subject: String
    /// The observed value; a non-finite one (say, a rate over nothing) is kept, stored and published as none.
    public private(set) var value: Double?
    public var threshold: Double?
    public var message: String
    public var raisedAtMs: Int64
    public var acknowledgedAtMs: Int64?
    public var acknowledgedBy: String?
    public var clearedAtMs: Int64?

    public init(
        id: String, kind: AlertKind, severity: AlertSeverity, state: AlertState = .raised, subject: String,
        value: Double?,
        threshold: Double?, message: String, raisedAtMs: Int64, acknowledgedAtMs: Int64? = nil,
        acknowledgedBy: String? = nil,
        clearedAtMs: Int64? = nil
    ) {
        self.id = id
        self.kind = kind
        self.severity = severity
        self.state = state
        self.subject = subject
        self.value = Self.finite(value)
        self.threshold = threshold
        self.message = message
        self.raisedAtMs = raisedAtMs
        self.acknowledgedAtMs = acknowledgedAtMs
        self.acknowledgedBy = acknowledgedBy
        self.clearedAtMs = clearedAtMs
    }

    public var isOpen: Bool { state != .cleared }

    /// raised → acknowledged. Acknowledging an acknowledged alert again is an error only if someone else
    /// did it; the same acknowledger gets the same answer (an idempotent retry).
    public mutating func acknowledge(by who: String, atMs: Int64) throws(AggregatorError) {
        switch state {
        case .raised:
            state = .acknowledged
            acknowledgedAtMs = atMs
            acknowledgedBy = who
        case .acknowledged:
            guard acknowledgedBy == who else {
                throw AggregatorError(
                    .conflict, "alert \(id) was already acknowledged by \(acknowledgedBy ?? "someone")")
            }
        case .cleared:
            throw AggregatorError(.conflict, "alert \(id) is cleared and cannot be acknowledged")
        }
    }

    /// raised or acknowledged → cleared.
    public mutating func clear(atMs: Int64, value: Double?) throws(AggregatorError) {
        guard state != .cleared else { throw AggregatorError(.conflict, "alert \(id) is already cleared") }
        state = .cleared
        clearedAtMs = atMs
        self.value = Self.finite(value)
    }

    private static func finite(_ value: Double?) -> Double? {
        value.flatMap { $0.isFinite ? $0 : nil }
    }

    /// The lifecycle message for the current state, with times in `calendar`'s zone.
    public func payload(calendar: LedgerCalendar, nowMs: Int64) -> AlertPayload {
        AlertPayload(
            ts: calendar.timestamp(millisecondsSinceEpoch: nowMs), id: id, kind: kind, severity: severity, state: state,
            subject: subject, value: value, threshold: threshold, message: message,
            raisedAt: calendar.timestamp(millisecondsSinceEpoch: raisedAtMs),
            acknowledgedAt: acknowledgedAtMs.map { calendar.timestamp(millisecondsSinceEpoch: $0) },
            acknowledgedBy: acknowledgedBy,
            clearedAt: clearedAtMs.map { calendar.timestamp(millisecondsSinceEpoch: $0) })
    }
}

/// One change of an alert that the store applies with its deliveries.
public enum AlertStep: Sendable {
    /// Insert a raised alert; does not happen when an open alert of the same kind and subject exists.
    case raise(AlertRecord, deliveries: [DeliveryRequest])
    /// Write the alert's new state; happens only if the stored one is still in state `from` (another
    /// instance, or an operator's acknowledgement, may have moved it).
    case transition(AlertRecord, from: AlertState, deliveries: [DeliveryRequest])
}
