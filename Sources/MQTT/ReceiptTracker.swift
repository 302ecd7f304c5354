/// How the outbox publisher waits for end-to-end receipts, and when it gives up on them.
public struct ReceiptSettings: Sendable, Equatable {
    public enum Mode: String, Sendable, Equatable, CaseIterable {
        /// Wait for receipts once a receiver has announced them (a receipt arrived, or the aggregator's
        /// status said `receipts: true`; remembered in the outbox), PUBACK before that, and fall back to
        /// PUBACK when an announced receiver stops sending receipts for `fallbackAfter`.
        case auto
        /// Always wait for receipts, never fall back: the outbox fills up (and drops its oldest, reported)
        /// rather than trusting a PUBACK.
        case required
    }

    public var mode: Mode
    /// Quiet time (no receipt progress while acknowledged records wait) before they are sent again; it
    /// doubles after every resend that brought no progress, up to `maximumResendInterval`.
    public var resendAfter: Duration
    public var maximumResendInterval: Duration
    /// The quiet time when the last receipt shows a gap (`highest > through`): the receiver saw later
    /// events but not these, so they were lost on the way and waiting longer gains nothing.
    public var gapResendAfter: Duration
    /// After a new connection, how long to wait for the retained receipt and aggregator status before
    /// sending again what the broker acknowledged on an earlier connection and no receipt covers (a broker
    /// that crashed lost it).
    public var reconnectSettle: Duration
    /// `auto` only: no receipt for this long while the receiver is online and records wait, or a
    /// receiver that announces no receipts for this long, and the publisher falls back to PUBACK.
    public var fallbackAfter: Duration

    public init(
        mode: Mode = .auto, resendAfter: Duration = .seconds(60), maximumResendInterval: Duration = .seconds(900),
        gapResendAfter: Duration = .seconds(5), reconnectSettle: Duration = .seconds(3),
        fallbackAfter: Duration = .seconds(900)
    ) {
        self.mode = mode
        self.resendAfter = resendAfter
        self.maximumResendInterval = maximumResendInterval
        self.gapResendAfter = gapResendAfter
        self.reconnectSettle = reconnectSettle
        self.fallbackAfter = fallbackAfter
    }
}

/// Whether the receiver (the aggregator) is there, from its retained status message.
public enum ReceiverPresence: Sendable, Equatable {
    case unknown
    case online(announcesReceipts: Bool)
    case offline
}

/// The decisions about end-to-end receipts, as a value type tested without I/O: how far the outbox may be
/// deleted, when to send again what no receipt covers, and when to fall back to the broker's PUBACK.
///
/// Inputs are the publisher's acknowledgements (the contiguous PUBACKed prefix), receipts, the receiver's
/// presence, new connections and the passing of time. Time is a `ContinuousClock.Instant` handed in, so
/// tests drive it.
struct ReceiptTracker: Sendable {
    typealias Mode = OutboxReceipts.Mode

    let settings: ReceiptSettings?
    /// A receiver with receipts has been seen (persisted by the caller): from then on `auto` waits for them.
    private(set) var receiverAnnounced: Bool
    /// The highest seq a receipt covered.
    private(set) var receiptedThrough: Int64
    /// The highest seq the receiver said it has seen (`highest` of the last receipt).
    private(set) var receiverHighest: Int64 = 0
    /// A receipt showed a gap and nothing has been sent again since: the one case for the short wait. Once
    /// the missing records went out, the same old receipt is no reason to send them again so soon; a
    /// new receipt that still shows the gap is.
    private var gapReported = false
    /// Every record through this seq was acknowledged by the broker (in this process).
    private(set) var acknowledgedThrough: Int64 = 0
    private(set) var presence = ReceiverPresence.unknown
    private(set) var resends = 0
    private(set) var fallingBack = false
    /// Since when the records waiting for a receipt have had no progress: the last receipt that moved
    /// the mark, the acknowledgement that made the first of them wait, the last resend or connection.
    private var quietSince: ContinuousClock.Instant
    private var resendInterval: Duration
    private var lastReceiptAt: ContinuousClock.Instant?
    /// Since when acknowledged records have waited for a receipt without one arriving (the fallback's clock).
    private var waitingSince: ContinuousClock.Instant?
    /// Since when the receiver has been online without announcing receipts.
    private var unannouncedSince: ContinuousClock.Instant?
    /// A connection came up at this time; records acknowledged before it are sent again after the settle
    /// time unless a receipt covers them by then.
    private var reconnectedAt: ContinuousClock.Instant?
    private var acknowledgedBeforeReconnect: Int64 = 0

    init(settings: ReceiptSettings?, receiverAnnounced: Bool, receiptedThrough: Int64 = 0, now: ContinuousClock.Instant)
    {
        self.settings = settings
        self.receiverAnnounced = receiverAnnounced
        self.receiptedThrough = receiptedThrough
        self.quietSince = now
        self.resendInterval = settings?.resendAfter ?? .seconds(60)
    }

    var mode: Mode {
        guard let settings else { return .puback }
        if settings.mode == .auto && !receiverAnnounced { return .puback }
        return fallingBack ? .fallback : .receipts
    }

    /// Records through this seq may be deleted from the outbox.
    var deletableThrough: Int64 {
        mode == .receipts ? receiptedThrough : max(receiptedThrough, acknowledgedThrough)
    }

    /// Acknowledged by the broker, not yet covered by a receipt.
    var unreceipted: Int64 { max(0, acknowledgedThrough - receiptedThrough) }

    // MARK: Inputs

    /// The broker acknowledged every record through `seq`.
    mutating func acknowledged(through seq: Int64, now: ContinuousClock.Instant) {
        guard seq > acknowledgedThrough else { return }
        if acknowledgedThrough <= receiptedThrough {
            quietSince = now
            waitingSince = now
        }
        acknowledgedThrough = seq
    }

    /// What a receipt means. `ignoredAhead`: it covers seqs this device never recorded (its outbox was
    /// replaced while the receiver remembers an older sequence); such a receipt must not delete anything.
    enum ReceiptOutcome: Equatable {
        case advanced
        case unchanged
        case ignoredAhead
    }

    /// A receipt arrived: everything through `through` is committed. `lastRecorded` is the outbox's highest
    /// seq. Returns whether the receipt is news and whether the caller must persist `receiverAnnounced`.
    mutating func receipt(through: Int64, highest: Int64, lastRecorded: Int64, now: ContinuousClock.Instant)
        -> ReceiptOutcome
    {
        guard through <= lastRecorded else { return .ignoredAhead }
        lastReceiptAt = now
        receiverAnnounced = true
        fallingBack = false
        receiverHighest = max(receiverHighest, highest)
        if highest > through { gapReported = true }
        waitingSince = now
        guard through > receiptedThrough else { return .unchanged }
        receiptedThrough = through
        quietSince = now
        resendInterval = settings?.resendAfter ?? resendInterval
        return .advanced
    }

    /// The receiver's retained status changed.
    mutating func receiver(_ presence: ReceiverPresence, now: ContinuousClock.Instant) {
        let wasOnline: Bool = if case .online = self.presence { true } else { false }
        self.presence = presence
        switch presence {
        case .online(let announces):
            if announces {
                receiverAnnounced = true
                unannouncedSince = nil
            } else if unannouncedSince == nil {
                unannouncedSince = now
            }
            // A receiver that just came back first drains what the broker kept for it: waiting starts now.
            if !wasOnline {
                quietSince = max(quietSince, now)
                if waitingSince != nil { waitingSince = now }
            }
        case .offline, .unknown:
            unannouncedSince = nil
        }
    }

    /// A new connection to the broker was accepted.
    mutating func connected(now: ContinuousClock.Instant) {
        reconnectedAt = now
        acknowledgedBeforeReconnect = acknowledgedThrough
    }

    /// What the publisher should do now.
    enum Action: Equatable {
        /// Send again every record after `after` (the receiver drops duplicates).
        case resend(after: Int64)
    }

    /// Called when the time from ``nextDeadline`` has come (and after any input): resends and fallback.
    mutating func tick(now: ContinuousClock.Instant) -> Action? {
        guard let settings else { return nil }
        updateFallback(settings, now: now)
        guard mode == .receipts, unreceipted > 0 else {
            reconnectedAt = nil
            return nil
        }
        if let reconnectedAt, now >= reconnectedAt + settings.reconnectSettle {
            self.reconnectedAt = nil
            if acknowledgedBeforeReconnect > receiptedThrough, presence != .offline {
                return resend(now: now)
            }
        }
        guard now >= quietSince + quietNeeded(settings) else { return nil }
        // A receiver that said it is offline gets what the broker kept for it when it returns; sending
        // copies into its queue now would only double the backlog. A receipt within the interval shows
        // that some instance is up even if the retained status says otherwise (several instances).
        if presence == .offline, lastReceiptAt.map({ now - $0 > resendInterval }) ?? true { return nil }
        return resend(now: now)
    }

    /// When `tick` should run next, if anything is waiting on time.
    func nextDeadline() -> ContinuousClock.Instant? {
        guard let settings, settings.mode == .required || receiverAnnounced else { return nil }
        var deadlines: [ContinuousClock.Instant] = []
        if let reconnectedAt { deadlines.append(reconnectedAt + settings.reconnectSettle) }
        if unreceipted > 0 {
            deadlines.append(quietSince + quietNeeded(settings))
            if settings.mode == .auto, !fallingBack, let waitingSince {
                deadlines.append(waitingSince + settings.fallbackAfter)
            }
        }
        if let unannouncedSince, settings.mode == .auto, !fallingBack {
            deadlines.append(unannouncedSince + settings.fallbackAfter)
        }
        return deadlines.min()
    }

    // MARK: Rules

    private func quietNeeded(_ settings: ReceiptSettings) -> Duration {
        gapReported && receiverHighest > receiptedThrough
            ? min(settings.gapResendAfter, resendInterval) : resendInterval
    }

    private mutating func resend(now: ContinuousClock.Instant) -> Action {
        resends += 1
        gapReported = false
        quietSince = now
        if let settings { resendInterval = min(resendInterval * 2, settings.maximumResendInterval) }
        return .resend(after: receiptedThrough)
    }

    /// `auto` falls back to PUBACK when an online receiver announces no receipts, or sends none while
    /// records wait, for `fallbackAfter`.
    private mutating func updateFallback(_ settings: ReceiptSettings, now: ContinuousClock.Instant) {
        guard settings.mode == .auto, receiverAnnounced, !fallingBack else { return }
        if let unannouncedSince, now >= unannouncedSince + settings.fallbackAfter {
            fallingBack = true
            return
        }
        guard case .online = presence, unreceipted > 0, let waitingSince else { return }
        if now >= waitingSince + settings.fallbackAfter { fallingBack = true }
    }
}
