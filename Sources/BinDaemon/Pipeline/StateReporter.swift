import BinProtocol

/// What a bin's retained state message says (DESIGN section 6), without the envelope.
public struct BinStateSnapshot: Sendable, Equatable {
    public var fill: Double?
    public var massKg: Double?
    public var lidOpen: Bool
    public var quality: ReadingQuality
    public var temperatureC: Double?

    public init(fill: Double?, massKg: Double?, lidOpen: Bool, quality: ReadingQuality, temperatureC: Double?) {
        self.fill = fill
        self.massKg = massKg
        self.lidOpen = lidOpen
        self.quality = quality
        self.temperatureC = temperatureC
    }

    /// The wire payload for this snapshot.
    public func payload(device: String, bin: String, stream: WasteStream, at time: WireTimestamp) -> StatePayload {
        StatePayload(
            device: device, ts: time, bin: bin, stream: stream, fill: fill.map { min(max($0, 0), 1) },
            massKg: massKg.map { max($0, 0) }, lidOpen: lidOpen, quality: quality, temperatureC: temperatureC)
    }
}

/// Decides when a bin's retained state is worth publishing: on a change that matters (lid, quality, a
/// value appearing or vanishing, fill or mass or temperature moving past a step) and on a heartbeat, so
/// an idle bin costs one message every few minutes and a busy one is not republished on every reading.
public struct StateReporter: Sendable, Equatable {
    public struct Policy: Sendable, Equatable {
        public var fillStep: Double = 0.02
        public var massStepKg: Double = 0.05
        public var temperatureStepC: Double = 1.0
        public var heartbeatS: Double = 300
        /// Value-only changes are not published more often than this (lid and quality changes are).
        public var minIntervalS: Double = 5

        public init(heartbeatS: Double = 300) {
            self.heartbeatS = heartbeatS
        }
    }

    public var policy: Policy
    public private(set) var lastPublished: BinStateSnapshot?
    public private(set) var lastPublishedAt: WireTimestamp?

    public init(policy: Policy = Policy()) {
        self.policy = policy
    }

    /// Whether `snapshot` should be published now; if so it is recorded as published.
    public mutating func shouldPublish(_ snapshot: BinStateSnapshot, at time: WireTimestamp) -> Bool {
        guard let last = lastPublished, let lastAt = lastPublishedAt else { return record(snapshot, time) }
        let elapsed = lastAt.seconds(to: time)
        if elapsed >= policy.heartbeatS { return record(snapshot, time) }
        if snapshot.lidOpen != last.lidOpen || snapshot.quality != last.quality { return record(snapshot, time) }
        guard elapsed >= policy.minIntervalS else { return false }
        if Self.moved(last.fill, snapshot.fill, by: policy.fillStep)
            || Self.moved(last.massKg, snapshot.massKg, by: policy.massStepKg)
            || Self.moved(last.temperatureC, snapshot.temperatureC, by: policy.temperatureStepC)
        {
            return record(snapshot, time)
        }
        return false
    }

    /// Forgets what was published, so the next snapshot goes out (after `rebirth` or a reconnect).
    public mutating func reset() {
        lastPublished = nil
        lastPublishedAt = nil
    }

    /// When the heartbeat next falls due.
    public var nextHeartbeat: WireTimestamp? { lastPublishedAt?.adding(seconds: policy.heartbeatS) }

    private mutating func record(_ snapshot: BinStateSnapshot, _ time: WireTimestamp) -> Bool {
        lastPublished = snapshot
        lastPublishedAt = time
        return true
    }

    private static func moved(_ old: Double?, _ new: Double?, by step: Double) -> Bool {
        switch (old, new) {
        case (nil, nil): false
        case (nil, _), (_, nil): true
        case (let a?, let b?): abs(a - b) >= step
        }
    }
}
