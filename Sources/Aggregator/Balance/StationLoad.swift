import BinProtocol

/// A load received at a transfer station, booked by a weighbridge or a person through the API, or by a
/// station device over MQTT. Its `id` is the idempotency key: a load is booked once however often it is
/// sent, and a different load under a used key is refused rather than silently dropped.
public struct StationLoad: Sendable, Equatable {
    public var id: String
    public var station: String
    public var stream: WasteStream
    public var massKg: Double
    public var vehicle: String?
    public var round: String?
    /// When it was weighed.
    public var atMs: Int64
    /// The local day of `atMs`: the balance day it counts towards.
    public var day: LocalDate
    /// `http:{token name}` or `mqtt:{device}`: who booked it (an API token cannot book as a device).
    public var bookedBy: String
    public var receivedAtMs: Int64

    public init(
        id: String, station: String, stream: WasteStream, massKg: Double, vehicle: String? = nil, round: String? = nil,
        atMs: Int64,
        day: LocalDate, bookedBy: String, receivedAtMs: Int64
    ) {
        self.id = id
        self.station = station
        self.stream = stream
        self.massKg = massKg
        self.vehicle = vehicle
        self.round = round
        self.atMs = atMs
        self.day = day
        self.bookedBy = bookedBy
        self.receivedAtMs = receivedAtMs
    }

    /// Whether `other` is this load sent again: the same weighing, whoever relayed it and whenever.
    public func isSameLoad(as other: StationLoad) -> Bool {
        id == other.id && station == other.station && stream == other.stream && massKg == other.massKg
            && vehicle == other.vehicle
            && round == other.round && atMs == other.atMs
    }
}

/// What booking a load did.
public enum LoadBookingOutcome: Sendable, Equatable {
    case booked
    /// The same load was booked before under this key: nothing changed.
    case duplicate
    /// Another load is booked under this key: nothing changed.
    case conflict(StationLoad)
}
