#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Why a message was refused. The raw values are the bounded label set of the
/// `bins_ingest_rejected_total{reason}` metric, so they never carry message content.
public enum RejectReason: String, Sendable, CaseIterable, Hashable, Codable {
    case oversized
    case malformedJSON = "malformed_json"
    case schemaVersion = "schema_version"
    case invalidField = "invalid_field"
    case outOfRange = "out_of_range"
    case deviceMismatch = "device_mismatch"
    case unknownDevice = "unknown_device"
    case badTopic = "bad_topic"
    /// The device may not send this (a load from a device that is not one of the station's own).
    case notPermitted = "not_permitted"
}

/// A payload that does not satisfy the wire contract. `message` names the field and what was wrong
/// with it, but echoes at most a short prefix of the offending value.
public struct WireError: Error, Sendable, Equatable, CustomStringConvertible {
    public var reason: RejectReason
    public var message: String

    public init(_ reason: RejectReason, _ message: String) {
        self.reason = reason
        self.message = message
    }

    public var description: String { "\(reason.rawValue): \(message)" }
}

/// A payload that can check itself against the ranges of the contract.
public protocol WireValidatable {
    /// `topicDevice` is the device named by the topic the payload arrived on, if any; a payload naming
    /// another device is spoofed or misrouted.
    func validate(topicDevice: String?) throws(WireError)
}

/// JSON encoding and validated decoding of the wire contract, shared by the daemon, the aggregator and
/// the tests so there is one definition of what is valid.
public enum WireCodec {
    /// One encoder for every call (some paths encode per message): its options are set once here and
    /// never change, and encoding with it is safe from any thread.
    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    public static func encode(_ value: some Encodable) throws -> [UInt8] {
        Array(try encoder.encode(value))
    }

    public static func encodeString(_ value: some Encodable) throws -> String {
        String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// Decodes and validates: size, JSON syntax and shape (an object, no repeated key, no byte-order mark;
    /// see ``WireJSON``), field types, schema version, ranges, and that the payload names the same device as
    /// its topic.
    public static func decode<T: WireDecodable & WireValidatable>(
        _ type: T.Type, from bytes: [UInt8], topicDevice: String? = nil
    ) throws(WireError) -> T {
        guard bytes.count <= WireSchema.maxPayloadBytes else {
            throw WireError(.oversized, "payload of \(bytes.count) bytes exceeds \(WireSchema.maxPayloadBytes)")
        }
        let value = try T(wire: WireFields(document: try WireJSON(parsing: bytes)))
        try value.validate(topicDevice: topicDevice)
        return value
    }

    /// A coding path as a field name in a message: `bins.[2].id`, or `payload` for the whole.
    static func describe(_ codingPath: [any CodingKey]) -> String {
        codingPath.isEmpty
            ? "payload"
            : codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }

    static func describe(_ error: DecodingError) -> WireError {
        switch error {
        case .keyNotFound(let key, let context):
            return WireError(.invalidField, "missing field \(describe(context.codingPath + [key]))")
        case .typeMismatch(let type, let context):
            return WireError(.invalidField, "\(describe(context.codingPath)) is not a \(type)")
        case .valueNotFound(let type, let context):
            return WireError(.invalidField, "\(describe(context.codingPath)) is null, expected \(type)")
        case .dataCorrupted(let context):
            return WireError(.invalidField, "\(describe(context.codingPath)) has an invalid value")
        @unknown default:
            return WireError(.invalidField, "undecodable payload")
        }
    }
}

// MARK: - Validation

/// Range checks shared by the payload validators.
enum Check {
    static func schema(_ schema: Int) throws(WireError) {
        guard schema == WireSchema.version else {
            throw WireError(.schemaVersion, "schema \(schema) is not supported (expected \(WireSchema.version))")
        }
    }

    static func device(_ device: String, topicDevice: String?) throws(WireError) {
        guard Topics.isValidIdentifier(device) else {
            throw WireError(.invalidField, "device is not a valid identifier")
        }
        if let topicDevice, topicDevice != device {
            throw WireError(.deviceMismatch, "payload device \(device) differs from topic device \(topicDevice)")
        }
    }

    static func identifier(_ value: String, _ field: String) throws(WireError) {
        guard Topics.isValidIdentifier(value) else {
            throw WireError(.invalidField, "\(field) is not a valid identifier")
        }
    }

    static func range(_ value: Double, _ field: String, _ range: ClosedRange<Double>) throws(WireError) {
        guard value.isFinite, range.contains(value) else {
            throw WireError(.outOfRange, "\(field) = \(value) is outside \(range.lowerBound)...\(range.upperBound)")
        }
    }

    static func range(_ value: Double?, _ field: String, _ range: ClosedRange<Double>) throws(WireError) {
        if let value { try Check.range(value, field, range) }
    }

    /// Sequence numbers are positive and at most ``WireLimits/maxSeq`` (`allowZero` for marks that
    /// start before the first event, like a receipt of nothing).
    static func sequence(_ value: Int64, _ field: String, allowZero: Bool = false) throws(WireError) {
        guard value >= (allowZero ? 0 : 1) else { throw WireError(.outOfRange, "\(field) \(value) is not positive") }
        guard value <= WireLimits.maxSeq else {
            throw WireError(.outOfRange, "\(field) \(value) exceeds the ceiling \(WireLimits.maxSeq)")
        }
    }

    static func text(_ value: String, _ field: String, maxBytes: Int) throws(WireError) {
        guard value.utf8.count <= maxBytes else {
            throw WireError(.outOfRange, "\(field) is longer than \(maxBytes) bytes")
        }
    }

    static func timestamp(_ ts: WireTimestamp) throws(WireError) {
        // 2000-01-01 ... 2100-01-01: anything outside is a device with an unset clock or garbage.
        guard (946_684_800_000...4_102_444_800_000).contains(ts.millisecondsSinceEpoch) else {
            throw WireError(.outOfRange, "ts \(ts) is outside 2000...2100")
        }
    }

    /// A lower-case word with underscores (a deposit's `reason`), at most 32 bytes.
    static func code(_ value: String, _ field: String) throws(WireError) {
        let valid =
            !value.isEmpty && value.utf8.count <= 32
            && value.utf8.allSatisfy { (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || $0 == UInt8(ascii: "_") }
        guard valid else { throw WireError(.invalidField, "\(field) is not a lower-case word") }
    }

    static func faultCode(_ code: String) throws(WireError) {
        let parts = code.split(separator: ".", omittingEmptySubsequences: false)
        let valid =
            code.utf8.count <= 64 && parts.count >= 2
            && parts.allSatisfy { part in
                !part.isEmpty
                    && part.utf8.allSatisfy {
                        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || $0 == UInt8(ascii: "_")
                            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0)
                    }
            }
        guard valid else { throw WireError(.invalidField, "code is not a dotted lower-case code") }
    }
}

/// Plausibility limits. A transfer-station container holds tonnes, so the mass ceilings are generous;
/// they exist to catch garbage, not to police operations.
public enum WireLimits {
    public static let massKg: ClosedRange<Double> = 0...50_000
    /// A truck's load at a transfer station: above zero, at most a heavy refuse truck's payload.
    public static let loadKg: ClosedRange<Double> = 0.001...60_000
    public static let volumeL: ClosedRange<Double> = 0...100_000
    public static let densityKgL: ClosedRange<Double> = 0...20
    /// A probability density per litre: the volume noise of any bin is well above 1e-6 L.
    public static let likelihood: ClosedRange<Double> = 0...1_000_000
    public static let fraction: ClosedRange<Double> = 0...1
    public static let temperatureC: ClosedRange<Double> = -60...100
    public static let capacityL: ClosedRange<Double> = 0.1...100_000
    /// The highest `seq` a receiver accepts: 2^53 − 1, the largest integer every JSON reader (JavaScript's
    /// numbers, SQLite's REAL, a double) represents exactly. A device recording an event every second
    /// reaches it after 285 million years; anything above is garbage or an attempt to pin the receiver's
    /// high mark.
    public static let maxSeq: Int64 = 9_007_199_254_740_991
    /// How far beyond the highest seq a receiver has booked for a device a new seq may be, at most
    /// (docs/aggregator.md). A busy point records about 400 events an hour, so even a point cut off for two
    /// years (its outbox dropping the oldest) jumps by less; a larger jump is garbage, and accepting it
    /// would pin the high mark and hide every later gap of that device.
    public static let maxSeqJump: Int64 = 10_000_000
    /// The most bins one device declares in its birth: a transfer station's container row, several times
    /// a sorting point's three to five.
    public static let maxBins = 32
}

extension StatusPayload: WireDecodable, WireValidatable {
    public func validate(topicDevice: String?) throws(WireError) {
        try Check.schema(schema)
        try Check.device(device, topicDevice: topicDevice)
        try Check.timestamp(ts)
        guard session >= 0 else { throw WireError(.outOfRange, "session is negative") }
    }
}

extension BirthPayload: WireDecodable, WireValidatable {
    public func validate(topicDevice: String?) throws(WireError) {
        try Check.schema(schema)
        try Check.device(device, topicDevice: topicDevice)
        try Check.timestamp(ts)
        guard session >= 0 else { throw WireError(.outOfRange, "session is negative") }
        try Check.text(version, "version", maxBytes: 64)
        try Check.text(configHash, "config_hash", maxBytes: 128)
        try Check.text(board, "board", maxBytes: 64)
        guard bins.count <= WireLimits.maxBins else {
            throw WireError(.outOfRange, "more than \(WireLimits.maxBins) bins")
        }
        var seen = Set<String>()
        for (index, bin) in bins.enumerated() {
            try Check.identifier(bin.id, "bins[\(index)].id")
            try Check.range(bin.capacityL, "bins[\(index)].capacity_l", WireLimits.capacityL)
            guard seen.insert(bin.id).inserted else {
                throw WireError(.invalidField, "bins[\(index)].id repeats \(bin.id)")
            }
        }
    }
}

extension StatePayload: WireDecodable, WireValidatable {
    public func validate(topicDevice: String?) throws(WireError) {
        try Check.schema(schema)
        try Check.device(device, topicDevice: topicDevice)
        try Check.timestamp(ts)
        try Check.identifier(bin, "bin")
        try Check.range(fill, "fill", WireLimits.fraction)
        try Check.range(massKg.map { abs($0) }, "mass_kg", WireLimits.massKg)
        try Check.range(temperatureC, "temperature_c", WireLimits.temperatureC)
    }
}

extension HealthPayload: WireDecodable, WireValidatable {
    public func validate(topicDevice: String?) throws(WireError) {
        try Check.schema(schema)
        try Check.device(device, topicDevice: topicDevice)
        try Check.timestamp(ts)
        try Check.range(uptimeS, "uptime_s", 0...1e10)
        if let receipts {
            try Check.sequence(receipts.through, "receipts.through", allowZero: true)
            guard receipts.unreceipted >= 0, receipts.resendsTotal >= 0 else {
                throw WireError(.outOfRange, "receipts counters are negative")
            }
        }
    }
}

extension CommandPayload: WireDecodable, WireValidatable {
    public func validate(topicDevice: String?) throws(WireError) {
        if let schema { try Check.schema(schema) }
        if let device { try Check.device(device, topicDevice: topicDevice) }
        try Check.text(id, "id", maxBytes: 128)
        if let bin { try Check.identifier(bin, "bin") }
        if let knownKg { try Check.range(knownKg, "known_kg", 0.001...10_000) }
        if op == .calibrate, knownKg == nil { throw WireError(.invalidField, "calibrate needs known_kg") }
        if op == .calibrate || op == .tare, bin == nil { throw WireError(.invalidField, "\(op.rawValue) needs bin") }
    }
}

extension CommandReplyPayload: WireDecodable, WireValidatable {
    public func validate(topicDevice: String?) throws(WireError) {
        try Check.schema(schema)
        try Check.device(device, topicDevice: topicDevice)
        try Check.text(id, "id", maxBytes: 128)
    }
}

extension EventPayload: WireValidatable {
    public func validate(topicDevice: String?) throws(WireError) {
        try Check.schema(schema)
        try Check.device(device, topicDevice: topicDevice)
        try Check.timestamp(ts)
        try Check.sequence(seq, "seq")
        switch body {
        case .deposit(let d):
            try Check.identifier(d.bin, "bin")
            try Check.range(d.massKg, "mass_kg", WireLimits.massKg)
            try Check.range(d.volumeL, "volume_l", WireLimits.volumeL)
            try Check.range(d.densityKgL, "density_kg_l", WireLimits.densityKgL)
            try Check.range(d.confidence, "confidence", WireLimits.fraction)
            if let evidence = d.evidence {
                try Check.code(evidence.reason, "reason")
                if let l = evidence.likelihoods {
                    for (value, name) in [(l.wet, "wet"), (l.dry, "dry"), (l.other, "other")] {
                        try Check.range(value, "likelihoods.\(name)", WireLimits.likelihood)
                    }
                }
                if let p = evidence.posterior {
                    for (value, name) in [(p.wet, "wet"), (p.dry, "dry"), (p.other, "other")] {
                        try Check.range(value, "posterior.\(name)", WireLimits.fraction)
                    }
                }
                try Check.range(evidence.volumeSigmaL, "volume_sigma_l", WireLimits.volumeL)
            }
        case .collection(let c):
            try Check.identifier(c.bin, "bin")
            try Check.range(c.massKg, "mass_kg", WireLimits.massKg)
            try Check.range(c.fillBefore, "fill_before", WireLimits.fraction)
        case .fault(let f):
            if let bin = f.bin { try Check.identifier(bin, "bin") }
            try Check.faultCode(f.code)
            try Check.text(f.detail, "detail", maxBytes: 1024)
            if let dropped = f.droppedSeqs {
                try Check.sequence(dropped.lowerBound, "first_seq")
                try Check.sequence(dropped.upperBound, "last_seq")
                guard dropped.upperBound < seq else {
                    throw WireError(
                        .outOfRange,
                        "dropped seqs \(dropped.lowerBound)-\(dropped.upperBound) are not before the report's seq \(seq)"
                    )
                }
            }
        }
    }
}

extension AlertPayload: WireDecodable, WireValidatable {
    public func validate(topicDevice: String?) throws(WireError) {
        try Check.schema(schema)
        try Check.text(subject, "subject", maxBytes: 256)
        try Check.text(message, "message", maxBytes: 2048)
    }
}

extension AggregatorStatusPayload: WireDecodable, WireValidatable {
    public func validate(topicDevice: String?) throws(WireError) {
        try Check.schema(schema)
    }
}
