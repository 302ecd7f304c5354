/// `bins/v1/{device}/events`: deposits, collections and faults, each with a per-device `seq` that
/// increases strictly across restarts, so `(device, seq)` names an event forever and a receiver can
/// drop duplicates and see gaps.
public struct EventPayload: Sendable, Equatable {
    public var schema: Int
    public var device: String
    public var ts: WireTimestamp
    public var seq: Int64
    /// True when the event left the device's outbox after a reconnect rather than when it happened.
    public var historical: Bool
    public var body: EventBody

    public init(device: String, ts: WireTimestamp, seq: Int64, historical: Bool = false, body: EventBody) {
        self.schema = WireSchema.version
        self.device = device
        self.ts = ts
        self.seq = seq
        self.historical = historical
        self.body = body
    }

    /// The `type` field on the wire.
    public var type: EventType { body.type }

    /// The bin the event concerns, if any (device-wide faults have none).
    public var bin: String? {
        switch body {
        case .deposit(let deposit): deposit.bin
        case .collection(let collection): collection.bin
        case .fault(let fault): fault.bin
        }
    }
}

public enum EventType: String, Codable, Sendable, CaseIterable, Hashable {
    case deposit, collection, fault
}

public enum EventBody: Sendable, Equatable {
    case deposit(Deposit)
    case collection(Collection)
    case fault(Fault)

    public var type: EventType {
        switch self {
        case .deposit: .deposit
        case .collection: .collection
        case .fault: .fault
        }
    }
}

/// Waste put into a bin between two stable weighings.
public struct Deposit: Sendable, Equatable {
    public var bin: String
    /// The stream the bin is declared for.
    public var stream: WasteStream
    public var massKg: Double
    /// Change of filled volume; `nil` when the ranger gave no trusted reading before or after.
    public var volumeL: Double?
    /// `massKg / volumeL`, when the volume is known and large enough to divide by.
    public var densityKgL: Double?
    /// What the density says the deposit is.
    public var observed: ObservedStream
    /// Probability, given the measurement uncertainty, that `observed` is right.
    public var confidence: Double
    /// The deposit is judged to be of the class opposite to the declared `stream` (wet or dry bins only).
    public var contaminated: Bool
    public var quality: ReadingQuality
    /// Why `observed` is what it is, and the evidence behind it: an optional addition to the contract
    /// (docs/contracts.md), absent from senders that do not give it.
    public var evidence: DepositEvidence?

    public init(
        bin: String, stream: WasteStream, massKg: Double, volumeL: Double?, densityKgL: Double?,
        observed: ObservedStream, confidence: Double, contaminated: Bool, quality: ReadingQuality,
        evidence: DepositEvidence? = nil
    ) {
        self.bin = bin
        self.stream = stream
        self.massKg = massKg
        self.volumeL = volumeL
        self.densityKgL = densityKgL
        self.observed = observed
        self.confidence = confidence
        self.contaminated = contaminated
        self.quality = quality
        self.evidence = evidence
    }
}

/// What led to a deposit's class: the reason (`classified`, or why it is `unknown`), and for deposits with a
/// volume the likelihood of the measured volume change under each hypothesis, their posterior, and the σ of
/// the volume change assumed. On the wire these are the deposit's `reason`, `likelihoods`, `posterior` and
/// `volume_sigma_l` (docs/contracts.md).
public struct DepositEvidence: Sendable, Equatable {
    /// `classified`, `no_volume`, `unsettled`, `sensor_fault`, `outside_ranges` or `low_confidence`
    /// (docs/binsd.md section 5); a receiver must accept others.
    public var reason: String
    /// p(ΔV | Δm, hypothesis), per litre.
    public var likelihoods: HypothesisValues?
    /// P(hypothesis | Δm, ΔV), summing to 1.
    public var posterior: HypothesisValues?
    public var volumeSigmaL: Double?

    public init(
        reason: String, likelihoods: HypothesisValues? = nil, posterior: HypothesisValues? = nil,
        volumeSigmaL: Double? = nil
    ) {
        self.reason = reason
        self.likelihoods = likelihoods
        self.posterior = posterior
        self.volumeSigmaL = volumeSigmaL
    }
}

/// One value per hypothesis of the classifier: wet, dry, and `other` (a density outside both).
public struct HypothesisValues: Sendable, Equatable, Codable {
    public var wet: Double
    public var dry: Double
    public var other: Double

    init(wire f: WireFields) throws(WireError) {
        wet = try f.double(CodingKeys.wet)
        dry = try f.double(CodingKeys.dry)
        other = try f.double(CodingKeys.other)
    }

    public init(wet: Double, dry: Double, other: Double) {
        self.wet = wet
        self.dry = dry
        self.other = other
    }
}

/// A bin emptied by a crew.
public struct Collection: Sendable, Equatable {
    public var bin: String
    public var stream: WasteStream
    /// Mass taken away: the drop in scale reading.
    public var massKg: Double
    /// Fill fraction just before emptying, when it was known.
    public var fillBefore: Double?

    public init(bin: String, stream: WasteStream, massKg: Double, fillBefore: Double?) {
        self.bin = bin
        self.stream = stream
        self.massKg = massKg
        self.fillBefore = fillBefore
    }
}

/// A fault raised (`active: true`) or cleared (`active: false`).
public struct Fault: Sendable, Equatable {
    /// `nil` for device-wide faults (outbox, system).
    public var bin: String?
    public var sensor: FaultSensor
    /// Dotted code, e.g. `scale.not_ready`, `ranger.no_echo`, `outbox.dropped`.
    public var code: String
    public var active: Bool
    public var detail: String
    /// `outbox.dropped` only: the seqs the device's outbox dropped (`first_seq`, `last_seq` on the wire),
    /// so a receiver can tell a reported loss from a gap still to be filled (the receipts' rule).
    public var droppedSeqs: ClosedRange<Int64>?

    public init(
        bin: String?, sensor: FaultSensor, code: String, active: Bool, detail: String,
        droppedSeqs: ClosedRange<Int64>? = nil
    ) {
        self.bin = bin
        self.sensor = sensor
        self.code = code
        self.active = active
        self.detail = detail
        self.droppedSeqs = droppedSeqs
    }
}

extension EventPayload: Encodable, WireDecodable {
    enum CodingKeys: String, CodingKey {
        case schema, device, ts, seq, historical, type
        case bin, stream, observed, confidence, contaminated, quality, sensor, code, active, detail
        case reason, likelihoods, posterior
        case volumeSigmaL = "volume_sigma_l"
        case firstSeq = "first_seq"
        case lastSeq = "last_seq"
        case massKg = "mass_kg"
        case volumeL = "volume_l"
        case densityKgL = "density_kg_l"
        case fillBefore = "fill_before"
    }

    /// Read directly from the parsed payload rather than through `Decodable`: events are nearly all of what
    /// an aggregator ingests, and this is the part of booking one that `Codable` made the most expensive.
    public init(wire f: WireFields) throws(WireError) {
        schema = try f.integer(CodingKeys.schema)
        device = try f.string(CodingKeys.device)
        ts = try f.timestamp(CodingKeys.ts)
        seq = try f.integer(CodingKeys.seq)
        historical = try f.optionalBool(CodingKeys.historical) ?? false
        switch try f.enumeration(CodingKeys.type, as: EventType.self) {
        case .deposit:
            body = .deposit(
                Deposit(
                    bin: try f.string(CodingKeys.bin),
                    stream: try f.enumeration(CodingKeys.stream),
                    massKg: try f.double(CodingKeys.massKg),
                    volumeL: try f.optionalDouble(CodingKeys.volumeL),
                    densityKgL: try f.optionalDouble(CodingKeys.densityKgL),
                    observed: try f.enumeration(CodingKeys.observed),
                    confidence: try f.double(CodingKeys.confidence),
                    contaminated: try f.bool(CodingKeys.contaminated),
                    quality: try f.enumeration(CodingKeys.quality),
                    evidence: try Self.evidence(f)))
        case .collection:
            body = .collection(
                Collection(
                    bin: try f.string(CodingKeys.bin),
                    stream: try f.enumeration(CodingKeys.stream),
                    massKg: try f.double(CodingKeys.massKg),
                    fillBefore: try f.optionalDouble(CodingKeys.fillBefore)))
        case .fault:
            body = .fault(
                Fault(
                    bin: try f.optionalString(CodingKeys.bin),
                    sensor: try f.enumeration(CodingKeys.sensor),
                    code: try f.string(CodingKeys.code),
                    active: try f.bool(CodingKeys.active),
                    detail: try f.string(CodingKeys.detail),
                    droppedSeqs: try Self.droppedSeqs(f)))
        }
    }

    private static func evidence(_ f: WireFields) throws(WireError) -> DepositEvidence? {
        guard let reason = try f.optionalString(CodingKeys.reason) else { return nil }
        var evidence = DepositEvidence(reason: reason, volumeSigmaL: try f.optionalDouble(CodingKeys.volumeSigmaL))
        if let likelihoods = try f.optionalObject(CodingKeys.likelihoods) {
            evidence.likelihoods = try HypothesisValues(wire: likelihoods)
        }
        if let posterior = try f.optionalObject(CodingKeys.posterior) {
            evidence.posterior = try HypothesisValues(wire: posterior)
        }
        return evidence
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(schema, forKey: .schema)
        try c.encode(device, forKey: .device)
        try c.encode(ts, forKey: .ts)
        try c.encode(seq, forKey: .seq)
        try c.encode(type, forKey: .type)
        if historical { try c.encode(true, forKey: .historical) }
        switch body {
        case .deposit(let d):
            try c.encode(d.bin, forKey: .bin)
            try c.encode(d.stream, forKey: .stream)
            try c.encode(d.massKg, forKey: .massKg)
            try c.encode(d.volumeL, forKey: .volumeL)
            try c.encode(d.densityKgL, forKey: .densityKgL)
            try c.encode(d.observed, forKey: .observed)
            try c.encode(d.confidence, forKey: .confidence)
            try c.encode(d.contaminated, forKey: .contaminated)
            try c.encode(d.quality, forKey: .quality)
            if let evidence = d.evidence {
                try c.encode(evidence.reason, forKey: .reason)
                try c.encodeIfPresent(evidence.likelihoods, forKey: .likelihoods)
                try c.encodeIfPresent(evidence.posterior, forKey: .posterior)
                try c.encodeIfPresent(evidence.volumeSigmaL, forKey: .volumeSigmaL)
            }
        case .collection(let col):
            try c.encode(col.bin, forKey: .bin)
            try c.encode(col.stream, forKey: .stream)
            try c.encode(col.massKg, forKey: .massKg)
            try c.encode(col.fillBefore, forKey: .fillBefore)
        case .fault(let f):
            try c.encode(f.bin, forKey: .bin)
            try c.encode(f.sensor, forKey: .sensor)
            try c.encode(f.code, forKey: .code)
            try c.encode(f.active, forKey: .active)
            try c.encode(f.detail, forKey: .detail)
            if let dropped = f.droppedSeqs {
                try c.encode(dropped.lowerBound, forKey: .firstSeq)
                try c.encode(dropped.upperBound, forKey: .lastSeq)
            }
        }
    }

    /// `first_seq` and `last_seq` come together or not at all, in order.
    private static func droppedSeqs(_ f: WireFields) throws(WireError) -> ClosedRange<Int64>? {
        let first = try f.optionalInteger(CodingKeys.firstSeq, as: Int64.self)
        let last = try f.optionalInteger(CodingKeys.lastSeq, as: Int64.self)
        switch (first, last) {
        case (nil, nil): return nil
        case (let first?, let last?) where first <= last: return first...last
        default: throw WireError(.invalidField, "first_seq and last_seq must both be given, first <= last")
        }
    }
}

extension EventPayload {
    /// An encoded event with `"historical":true` added, composed rather than decoded and encoded again: the
    /// outbox publisher marks every record that waited out a disconnection, and a drain after an outage
    /// must not cost a JSON round trip per event. The member goes first (JSON object members are
    /// unordered). Anything that is not a non-empty JSON object, or that already has the member, is
    /// returned as it is.
    public static func markingHistorical(_ encoded: [UInt8]) -> [UInt8] {
        guard encoded.count > 2, encoded.first == UInt8(ascii: "{"), encoded.last == UInt8(ascii: "}"),
            encoded.firstRange(of: historicalKey) == nil
        else { return encoded }
        var marked: [UInt8] = []
        marked.reserveCapacity(encoded.count + historicalMember.count)
        marked.append(UInt8(ascii: "{"))
        marked += historicalMember
        marked += encoded.dropFirst()
        return marked
    }

    private static let historicalKey = Array(#""historical":"#.utf8)
    private static let historicalMember = Array(#""historical":true,"#.utf8)
}
