import BinProtocol

/// Everything the aggregator keeps, behind one protocol with two implementations: ``SQLiteStore`` (one
/// file, the default) and ``PostgresStore`` (a server shared by several instances). The guarantees that
/// make scale-out safe live in the database, not in any one process:
///
/// - an event `(device, seq)` is booked at most once, and its ledger change is committed in the same
///   transaction as the dedupe record (a unique key, not a check-then-insert);
/// - at most one open alert exists per `(kind, subject)` (a partial unique index);
/// - alert lifecycle steps are compare-and-set on the previous state, and their deliveries are
///   enqueued in the same transaction.
public protocol AggregatorStore: Sendable {
    /// Creates or upgrades the schema. Safe to run from several instances at once.
    func migrate() async throws(AggregatorError)
    func close() async
    /// A cheap round trip, for health checks.
    func ping() async throws(AggregatorError)

    // MARK: Ingest

    /// Applies a batch of ingest items in one transaction, in order, all or nothing, and returns one outcome
    /// per item. Events are booked exactly once (dedupe, ledger row, sequence tracking, fault state) also
    /// within the batch: a repeat of an earlier item is a duplicate, a seq that fills a gap opened earlier
    /// in the batch fills it. A status, birth or state applies unless an equal or newer one is stored.
    /// Accounting notes seqs that will never be booked (refused as invalid, or reported dropped), so the
    /// device's receipt can move past them; it is idempotent.
    func commit(_ batch: [IngestItem]) async throws(AggregatorError) -> [IngestItemOutcome]
    /// The receipt marks of `devices` (those with nothing booked or accounted are left out).
    func receiptMarks(devices: [String]) async throws(AggregatorError) -> [String: ReceiptMark]

    // MARK: Queries

    /// The devices of `ids` that have been heard from (all when `nil`), in id order. Ingest's alert
    /// evaluation reads one device per status message: at city scale a full read each time is the
    /// aggregator's largest cost.
    func devices(ids: [String]?) async throws(AggregatorError) -> [DeviceRecord]
    func binStates() async throws(AggregatorError) -> [BinStateRecord]
    /// Ledger rows of `devices` (all when `nil`) from `from` through `to`.
    func ledger(devices: [String]?, from: LocalDate, to: LocalDate) async throws(AggregatorError) -> [LedgerRow]
    /// Events booked on local days `from` through `to`, optionally of some types only, in `(device, seq)` order.
    func events(from: LocalDate, to: LocalDate, types: Set<EventType>?) async throws(AggregatorError) -> [StoredEvent]
    func faults(activeOnly: Bool) async throws(AggregatorError) -> [FaultRecord]
    func sequenceGaps(device: String?) async throws(AggregatorError) -> [SequenceGap]
    func bookedEventCount() async throws(AggregatorError) -> Int
    /// The newest `limit` events of `device`, newest (highest seq) first: a point's recent history.
    func recentEvents(device: String, limit: Int) async throws(AggregatorError) -> [StoredEvent]
    /// The ledger of `devices` (all when `nil`) summed per local day and stream by the database, for
    /// rollups over many bins and long ranges.
    func dailyTotals(devices: [String]?, from: LocalDate, to: LocalDate) async throws(AggregatorError)
        -> [LedgerDayTotal]

    // MARK: Transfer stations

    /// Books a load unless its key is booked already (see ``LoadBookingOutcome``).
    func bookLoad(_ load: StationLoad) async throws(AggregatorError) -> LoadBookingOutcome
    /// Loads of `stations` (all when `nil`) on local days `from` through `to`, in time order.
    func loads(stations: [String]?, from: LocalDate, to: LocalDate) async throws(AggregatorError) -> [StationLoad]

    // MARK: Alerts

    /// Applies alert steps in order, in one transaction, each with its deliveries; returns for each whether
    /// it happened (see ``AlertStep``). One transaction for a burst of decisions: one at a time, each
    /// waits its turn behind ingest's commits and the alerts fall behind at a city's rate.
    func applyAlertSteps(_ steps: [AlertStep]) async throws(AggregatorError) -> [Bool]
    func alert(id: String) async throws(AggregatorError) -> AlertRecord?
    /// Alerts newest first, in `state` (any when nil).
    func alerts(state: AlertState?, limit: Int) async throws(AggregatorError) -> [AlertRecord]
    func openAlerts() async throws(AggregatorError) -> [AlertRecord]
    /// Alerts that were open at some time in `[fromMs, toMs)`.
    func alerts(openBetween fromMs: Int64, and toMs: Int64) async throws(AggregatorError) -> [AlertRecord]

    // MARK: Deliveries

    /// Claims up to `limit` deliveries due at `nowMs` for `leaseMs` (so another instance does not send
    /// them at the same time) and returns them. A delivery waits while an earlier one of the same alert to
    /// the same target is pending, so a receiver sees an alert's lifecycle steps in order even across
    /// retries.
    func claimDeliveries(nowMs: Int64, limit: Int, leaseMs: Int64) async throws(AggregatorError) -> [Delivery]
    /// Removes delivered deliveries, in one transaction.
    func completeDeliveries(ids: [Int64]) async throws(AggregatorError)
    func retryDelivery(id: Int64, attempts: Int, nextAttemptMs: Int64, error: String) async throws(AggregatorError)
    func pendingDeliveries() async throws(AggregatorError) -> [Delivery]
}

/// A store that can commit a batch on the caller's own thread. The MQTT batch handler runs on
/// libmosquitto's thread, which may block, so with such a store (SQLite) it commits right there; a store
/// without it (PostgreSQL, whose client is asynchronous) commits on the ingest committer's task while the
/// network thread waits (``IngestCommitter``).
public protocol SynchronousCommit: Sendable {
    func commitBlocking(_ batch: [IngestItem]) throws(AggregatorError) -> [IngestItemOutcome]
}

/// The single-message forms, for tests and tools: each is a batch of one.
extension AggregatorStore {
    /// Every device heard from, in id order.
    public func devices() async throws(AggregatorError) -> [DeviceRecord] { try await devices(ids: nil) }

    /// Inserts a raised alert and its deliveries; `false` (and nothing written) when an open alert of the
    /// same kind and subject exists already.
    public func raiseAlert(_ alert: AlertRecord, deliveries: [DeliveryRequest]) async throws(AggregatorError) -> Bool {
        try await applyAlertSteps([.raise(alert, deliveries: deliveries)]).first ?? false
    }

    /// Writes `alert` if the stored one is still in state `expected`; enqueues the deliveries with it.
    public func transitionAlert(_ alert: AlertRecord, from expected: AlertState, deliveries: [DeliveryRequest])
        async throws(AggregatorError) -> Bool
    {
        try await applyAlertSteps([.transition(alert, from: expected, deliveries: deliveries)]).first ?? false
    }

    public func completeDelivery(id: Int64) async throws(AggregatorError) { try await completeDeliveries(ids: [id]) }

    /// Books one event exactly once.
    public func book(_ booking: EventBooking) async throws(AggregatorError) -> BookingOutcome {
        guard case .event(let outcome)? = try await commit([.event(booking)]).first else {
            throw AggregatorError(
                .storage, "book: the store returned no outcome for event \(booking.event.device)/\(booking.event.seq)")
        }
        return outcome
    }

    @discardableResult
    public func recordStatus(_ status: StatusPayload, receivedAtMs: Int64) async throws(AggregatorError) -> Bool {
        try await applied(.status(status, receivedAtMs: receivedAtMs))
    }

    @discardableResult
    public func recordBirth(_ birth: BirthPayload, receivedAtMs: Int64) async throws(AggregatorError) -> Bool {
        try await applied(.birth(birth, receivedAtMs: receivedAtMs))
    }

    @discardableResult
    public func recordState(_ state: StatePayload, receivedAtMs: Int64) async throws(AggregatorError) -> Bool {
        try await applied(.state(state, receivedAtMs: receivedAtMs))
    }

    public func recordHealth(_ health: HealthPayload, receivedAtMs: Int64) async throws(AggregatorError) {
        _ = try await commit([.health(health, receivedAtMs: receivedAtMs)])
    }

    public func account(device: String, seqs: ClosedRange<Int64>, reason: AccountedReason, receivedAtMs: Int64)
        async throws(AggregatorError)
    {
        _ = try await commit([.account(device: device, seqs: seqs, reason: reason, receivedAtMs: receivedAtMs)])
    }

    private func applied(_ item: IngestItem) async throws(AggregatorError) -> Bool {
        guard case .applied(let applied)? = try await commit([item]).first else {
            throw AggregatorError(.storage, "the store returned no outcome for a message of \(item.device)")
        }
        return applied
    }
}
