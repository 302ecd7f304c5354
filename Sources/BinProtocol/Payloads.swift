/// Payloads of the wire contract (DESIGN section 6). Every one is a JSON object with `schema`, `device`
/// and `ts`; field names are snake_case; masses in kg, volumes in litres, fill as a fraction 0...1.
/// Fields the contract calls nullable are written as an explicit `null`, never left out, so a receiver
/// can tell "no reading" from "old sender".

/// `bins/v1/{device}/status`, retained. The MQTT will carries the same payload with `online: false`.
public struct StatusPayload: Codable, Sendable, Equatable {
    public var schema: Int
    public var device: String
    public var ts: WireTimestamp
    public var online: Bool
    /// Increases by one at every start of the daemon, so a receiver can tell a restart from a blip.
    public var session: Int64

    public init(device: String, ts: WireTimestamp, online: Bool, session: Int64) {
        self.schema = WireSchema.version
        self.device = device
        self.ts = ts
        self.online = online
        self.session = session
    }
}

/// One bin as a device announces it in its birth message.
public struct BinDescriptor: Codable, Sendable, Equatable, Hashable {
    public var id: String
    public var stream: WasteStream
    public var capacityL: Double

    public init(id: String, stream: WasteStream, capacityL: Double) {
        self.id = id
        self.stream = stream
        self.capacityL = capacityL
    }

    enum CodingKeys: String, CodingKey {
        case id, stream
        case capacityL = "capacity_l"
    }
}

/// `bins/v1/{device}/birth`, retained: what the device is and how it is configured.
public struct BirthPayload: Codable, Sendable, Equatable {
    public var schema: Int
    public var device: String
    public var ts: WireTimestamp
    public var session: Int64
    public var version: String
    public var configHash: String
    public var board: String
    public var bins: [BinDescriptor]

    public init(
        device: String, ts: WireTimestamp, session: Int64, version: String, configHash: String, board: String,
        bins: [BinDescriptor]
    ) {
        self.schema = WireSchema.version
        self.device = device
        self.ts = ts
        self.session = session
        self.version = version
        self.configHash = configHash
        self.board = board
        self.bins = bins
    }

    enum CodingKeys: String, CodingKey {
        case schema, device, ts, session, version, board, bins
        case configHash = "config_hash"
    }
}

/// `bins/v1/{device}/state/{bin}`, retained: the latest trusted picture of one bin.
public struct StatePayload: Encodable, Sendable, Equatable {
    public var schema: Int
    public var device: String
    public var ts: WireTimestamp
    public var bin: String
    public var stream: WasteStream
    /// Fill fraction 0...1; `nil` while no trusted ranger reading exists (lid open, no echo).
    public var fill: Double?
    public var massKg: Double?
    public var lidOpen: Bool
    public var quality: ReadingQuality
    public var temperatureC: Double?

    public init(
        device: String, ts: WireTimestamp, bin: String, stream: WasteStream, fill: Double?, massKg: Double?,
        lidOpen: Bool, quality: ReadingQuality, temperatureC: Double?
    ) {
        self.schema = WireSchema.version
        self.device = device
        self.ts = ts
        self.bin = bin
        self.stream = stream
        self.fill = fill
        self.massKg = massKg
        self.lidOpen = lidOpen
        self.quality = quality
        self.temperatureC = temperatureC
    }

    enum CodingKeys: String, CodingKey {
        case schema, device, ts, bin, stream, fill, quality
        case massKg = "mass_kg"
        case lidOpen = "lid_open"
        case temperatureC = "temperature_c"
    }

    /// Read directly from the parsed payload, like events: a fleet's states are the other half of what an
    /// aggregator ingests.
    public init(wire f: WireFields) throws(WireError) {
        schema = try f.integer(CodingKeys.schema)
        device = try f.string(CodingKeys.device)
        ts = try f.timestamp(CodingKeys.ts)
        bin = try f.string(CodingKeys.bin)
        stream = try f.enumeration(CodingKeys.stream)
        fill = try f.optionalDouble(CodingKeys.fill)
        massKg = try f.optionalDouble(CodingKeys.massKg)
        lidOpen = try f.bool(CodingKeys.lidOpen)
        quality = try f.enumeration(CodingKeys.quality)
        temperatureC = try f.optionalDouble(CodingKeys.temperatureC)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(schema, forKey: .schema)
        try c.encode(device, forKey: .device)
        try c.encode(ts, forKey: .ts)
        try c.encode(bin, forKey: .bin)
        try c.encode(stream, forKey: .stream)
        try c.encode(fill, forKey: .fill)
        try c.encode(massKg, forKey: .massKg)
        try c.encode(lidOpen, forKey: .lidOpen)
        try c.encode(quality, forKey: .quality)
        try c.encode(temperatureC, forKey: .temperatureC)
    }
}

/// `bins/v1/{device}/health`, QoS 0: counters for operators; losing one is harmless.
public struct HealthPayload: Codable, Sendable, Equatable {
    public var schema: Int
    public var device: String
    public var ts: WireTimestamp
    public var session: Int64
    public var uptimeS: Double
    public var samplesTotal: Int64
    public var sampleErrorsTotal: Int64
    public var hx711RetriesTotal: Int64
    public var publishFailuresTotal: Int64
    public var reconnectsTotal: Int64
    public var outboxDepth: Int64
    public var droppedTotal: Int64
    public var activeFaults: [String]
    /// How the device decides that an event may leave its outbox (absent from devices that predate
    /// end-to-end receipts).
    public var receipts: ReceiptStatus?

    public init(
        device: String, ts: WireTimestamp, session: Int64, uptimeS: Double, samplesTotal: Int64,
        sampleErrorsTotal: Int64, hx711RetriesTotal: Int64, publishFailuresTotal: Int64, reconnectsTotal: Int64,
        outboxDepth: Int64, droppedTotal: Int64, activeFaults: [String], receipts: ReceiptStatus? = nil
    ) {
        self.schema = WireSchema.version
        self.device = device
        self.ts = ts
        self.session = session
        self.uptimeS = uptimeS
        self.samplesTotal = samplesTotal
        self.sampleErrorsTotal = sampleErrorsTotal
        self.hx711RetriesTotal = hx711RetriesTotal
        self.publishFailuresTotal = publishFailuresTotal
        self.reconnectsTotal = reconnectsTotal
        self.outboxDepth = outboxDepth
        self.droppedTotal = droppedTotal
        self.activeFaults = activeFaults
        self.receipts = receipts
    }

    enum CodingKeys: String, CodingKey {
        case schema, device, ts, session, receipts
        case uptimeS = "uptime_s"
        case samplesTotal = "samples_total"
        case sampleErrorsTotal = "sample_errors_total"
        case hx711RetriesTotal = "hx711_retries_total"
        case publishFailuresTotal = "publish_failures_total"
        case reconnectsTotal = "reconnects_total"
        case outboxDepth = "outbox_depth"
        case droppedTotal = "dropped_total"
        case activeFaults = "active_faults"
    }
}

/// The `receipts` object of a health message.
public struct ReceiptStatus: Codable, Sendable, Equatable {
    public enum Mode: String, Codable, Sendable, CaseIterable {
        /// Events stay in the outbox until the aggregator's receipt covers them.
        case receipts
        /// Events leave the outbox at the broker's PUBACK: no aggregator has announced receipts yet, or
        /// the configuration says `receipts: off`.
        case puback
        /// The aggregator announced receipts before but none came for `receipt_fallback_s` while it
        /// was online (an older aggregator was deployed): PUBACK until a receipt arrives again.
        case fallback
    }

    public var mode: Mode
    /// The highest seq a receipt has covered (0 before the first).
    public var through: Int64
    /// Events sent and acknowledged by the broker but not yet covered by a receipt.
    public var unreceipted: Int64
    /// Times the outbox sent again what no receipt covered.
    public var resendsTotal: Int64

    public init(mode: Mode, through: Int64, unreceipted: Int64, resendsTotal: Int64) {
        self.mode = mode
        self.through = through
        self.unreceipted = unreceipted
        self.resendsTotal = resendsTotal
    }

    enum CodingKeys: String, CodingKey {
        case mode, through, unreceipted
        case resendsTotal = "resends_total"
    }
}

/// Operations accepted on `bins/v1/{device}/cmd`.
public enum CommandOp: String, Codable, Sendable, CaseIterable {
    /// Zero the scale of `bin` (it must be empty).
    case tare
    /// Scale `bin` from a reference mass `known_kg` lying on it (after a tare).
    case calibrate
    /// Publish birth, status and every state again.
    case rebirth
    /// Take one reading of every sensor and return it in the reply.
    case read
}

/// `bins/v1/{device}/cmd`. `schema`, `device` and `ts` are optional here: the sender is an operator
/// tool, and the topic already names the device.
public struct CommandPayload: Codable, Sendable, Equatable {
    public var schema: Int?
    public var device: String?
    public var ts: WireTimestamp?
    public var id: String
    public var op: CommandOp
    public var bin: String?
    public var knownKg: Double?

    public init(id: String, op: CommandOp, bin: String? = nil, knownKg: Double? = nil) {
        self.schema = WireSchema.version
        self.id = id
        self.op = op
        self.bin = bin
        self.knownKg = knownKg
    }

    enum CodingKeys: String, CodingKey {
        case schema, device, ts, id, op, bin
        case knownKg = "known_kg"
    }
}

/// One bin's sensors as a `read` command returns them.
public struct SensorReading: Codable, Sendable, Equatable {
    public var bin: String
    public var massKg: Double?
    public var rawCounts: Int32?
    public var distanceMm: Double?
    public var fill: Double?
    public var lidOpen: Bool?
    public var temperatureC: Double?
    public var quality: ReadingQuality
    public var errors: [String]

    public init(
        bin: String, massKg: Double?, rawCounts: Int32?, distanceMm: Double?, fill: Double?, lidOpen: Bool?,
        temperatureC: Double?, quality: ReadingQuality, errors: [String]
    ) {
        self.bin = bin
        self.massKg = massKg
        self.rawCounts = rawCounts
        self.distanceMm = distanceMm
        self.fill = fill
        self.lidOpen = lidOpen
        self.temperatureC = temperatureC
        self.quality = quality
        self.errors = errors
    }

    enum CodingKeys: String, CodingKey {
        case bin, fill, quality, errors
        case massKg = "mass_kg"
        case rawCounts = "raw_counts"
        case distanceMm = "distance_mm"
        case lidOpen = "lid_open"
        case temperatureC = "temperature_c"
    }
}

/// A scale calibration as a `tare` or `calibrate` command leaves it.
public struct CalibrationSummary: Codable, Sendable, Equatable {
    public var bin: String
    public var offsetCounts: Double
    public var countsPerKg: Double?

    public init(bin: String, offsetCounts: Double, countsPerKg: Double?) {
        self.bin = bin
        self.offsetCounts = offsetCounts
        self.countsPerKg = countsPerKg
    }

    enum CodingKeys: String, CodingKey {
        case bin
        case offsetCounts = "offset_counts"
        case countsPerKg = "counts_per_kg"
    }
}

/// `bins/v1/{device}/cmd/reply`: `{id, ok, error?, ...}`.
public struct CommandReplyPayload: Codable, Sendable, Equatable {
    public var schema: Int
    public var device: String
    public var ts: WireTimestamp
    public var id: String
    public var ok: Bool
    public var error: String?
    public var readings: [SensorReading]?
    public var calibration: CalibrationSummary?

    public init(
        device: String, ts: WireTimestamp, id: String, ok: Bool, error: String? = nil,
        readings: [SensorReading]? = nil, calibration: CalibrationSummary? = nil
    ) {
        self.schema = WireSchema.version
        self.device = device
        self.ts = ts
        self.id = id
        self.ok = ok
        self.error = error
        self.readings = readings
        self.calibration = calibration
    }
}
