/// Alert kinds the aggregator raises (DESIGN section 7).
public enum AlertKind: String, Codable, Sendable, CaseIterable, Hashable {
    case binFull = "bin_full"
    case binOverflow = "bin_overflow"
    case deviceOffline = "device_offline"
    case sensorFault = "sensor_fault"
    case contamination
    case targetOffTrack = "target_off_track"
    case coverageBehind = "coverage_behind"
    /// A transfer station received less of one stream than its points collected and more of another
    /// (混装混运: streams sorted at the points and mixed on the way).
    case streamMixing = "stream_mixing"
    /// A transfer station received less in total than its points collected.
    case massMissing = "mass_missing"
    /// A bin is forecast to be full within the configured horizon.
    case binFullSoon = "bin_full_soon"
}

public enum AlertSeverity: String, Codable, Sendable, CaseIterable, Hashable, Comparable {
    case info, warning, critical

    public static func < (lhs: Self, rhs: Self) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

/// raised -> acknowledged -> cleared (an alert may also clear without being acknowledged).
public enum AlertState: String, Codable, Sendable, CaseIterable, Hashable {
    case raised, acknowledged, cleared
}

/// `sanitation/v1/alerts`: one message per lifecycle step of an alert, not retained.
public struct AlertPayload: Codable, Sendable, Equatable {
    public var schema: Int
    public var ts: WireTimestamp
    /// Stable id of the alert, the same in all its lifecycle messages.
    public var id: String
    public var kind: AlertKind
    public var severity: AlertSeverity
    public var state: AlertState
    /// What the alert is about, e.g. `bin:pt-0001/wet`, `device:pt-0001`, `community:c-01`, `district`.
    public var subject: String
    public var value: Double?
    public var threshold: Double?
    public var message: String
    public var raisedAt: WireTimestamp
    public var acknowledgedAt: WireTimestamp?
    public var acknowledgedBy: String?
    public var clearedAt: WireTimestamp?

    public init(
        ts: WireTimestamp, id: String, kind: AlertKind, severity: AlertSeverity, state: AlertState,
        subject: String, value: Double?, threshold: Double?, message: String, raisedAt: WireTimestamp,
        acknowledgedAt: WireTimestamp? = nil, acknowledgedBy: String? = nil, clearedAt: WireTimestamp? = nil
    ) {
        self.schema = WireSchema.version
        self.ts = ts
        self.id = id
        self.kind = kind
        self.severity = severity
        self.state = state
        self.subject = subject
        self.value = value
        self.threshold = threshold
        self.message = message
        self.raisedAt = raisedAt
        self.acknowledgedAt = acknowledgedAt
        self.acknowledgedBy = acknowledgedBy
        self.clearedAt = clearedAt
    }

    enum CodingKeys: String, CodingKey {
        case schema, ts, id, kind, severity, state, subject, value, threshold, message
        case raisedAt = "raised_at"
        case acknowledgedAt = "acknowledged_at"
        case acknowledgedBy = "acknowledged_by"
        case clearedAt = "cleared_at"
    }
}

/// `sanitation/v1/aggregator/status`, retained; the will carries `online: false`.
public struct AggregatorStatusPayload: Codable, Sendable, Equatable {
    public var schema: Int
    public var ts: WireTimestamp
    public var instance: String
    public var online: Bool
    /// This aggregator publishes end-to-end receipts on `bins/v1/{device}/receipt` (absent from
    /// aggregators that predate them): a device that sees it keeps its events until a receipt covers
    /// them, and one that later sees an aggregator without it falls back to the broker's PUBACK.
    public var receipts: Bool?

    public init(ts: WireTimestamp, instance: String, online: Bool, receipts: Bool? = true) {
        self.schema = WireSchema.version
        self.ts = ts
        self.instance = instance
        self.online = online
        self.receipts = receipts
    }
}
