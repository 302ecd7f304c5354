/// `bins/v1/{device}/load`, QoS 1, not retained: a load received at a transfer station, booked by a
/// device of that station (a weighbridge terminal, or the station's own `binsd`). The aggregator books
/// each `id` once, so a terminal may send a load again until it sees it acknowledged.
public struct LoadPayload: Codable, Sendable, Equatable {
    public var schema: Int
    public var device: String
    /// When the load was weighed.
    public var ts: WireTimestamp
    /// The idempotency key: the same load sent twice is booked once.
    public var id: String
    public var stream: WasteStream
    public var massKg: Double
    public var vehicle: String?
    public var round: String?

    public init(
        device: String, ts: WireTimestamp, id: String, stream: WasteStream, massKg: Double, vehicle: String? = nil,
        round: String? = nil
    ) {
        self.schema = WireSchema.version
        self.device = device
        self.ts = ts
        self.id = id
        self.stream = stream
        self.massKg = massKg
        self.vehicle = vehicle
        self.round = round
    }

    enum CodingKeys: String, CodingKey {
        case schema, device, ts, id, stream, vehicle, round
        case massKg = "mass_kg"
    }
}

extension LoadPayload: WireDecodable, WireValidatable {
    public func validate(topicDevice: String?) throws(WireError) {
        try Check.schema(schema)
        try Check.device(device, topicDevice: topicDevice)
        try Check.timestamp(ts)
        try Check.identifier(id, "id")
        try Check.range(massKg, "mass_kg", WireLimits.loadKg)
        if let vehicle { try Check.text(vehicle, "vehicle", maxBytes: 64) }
        if let round { try Check.text(round, "round", maxBytes: 64) }
    }
}
