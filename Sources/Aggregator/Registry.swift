import BinProtocol

/// The district's hierarchy, indexed for lookups: which point a device is, which community and street
/// it belongs to, and which devices make up a community, street or the district. Ledgers are stored
/// per bin; every higher level is the sum over the devices the registry puts under it at query time.
///
/// A transfer station's own devices are not sorting points: they weigh what the points' collections bring,
/// waste the district's figures already counted when it was deposited at the points. So the district's and
/// the streets' figures, the communities reports list, coverage and the street review leave the stations
/// out (`sortingDevices`, `sortingCommunities`, `Street.devices`); the stations' devices count only in their
/// balance and in their own community, point and bin views.
public struct Registry: Sendable {
    public struct Point: Sendable, Hashable {
        public var device: String
        public var name: String
        public var demonstration: Bool
        public var community: String
        public var street: String
        /// From the configuration's optional `lat`/`lon`.
        public var location: GeoLocation?
        /// The transfer station the point's collections go to (the nearest `delivers_to` of point,
        /// community and street).
        public var deliversTo: String?
    }

    /// A transfer station: a community of kind `transfer_station`. Its own devices weigh what it receives;
    /// the points that deliver to it are the ones whose collections its intake must match.
    public struct Station: Sendable {
        public var id: String
        public var name: String
        public var street: String
        /// The station's own devices (their deposits are its intake).
        public var devices: [String]
        /// Devices of the points that deliver to the station.
        public var deliveringDevices: [String]
        public var receives: [WasteStream]
        /// The station's first located point, for routes.
        public var location: GeoLocation?
    }

    public struct Community: Sendable {
        public var id: String
        public var name: String
        public var kind: CommunityKind
        public var households: Int
        public var street: String
        public var devices: [String]
    }

    public struct Street: Sendable {
        public var id: String
        public var name: String
        /// The street's communities with sorting points (its transfer stations left out).
        public var communities: [String]
        /// The devices of those communities.
        public var devices: [String]
        public var households: Int
    }

    public let districtID: String
    public let districtName: String
    /// In configuration order.
    public let streets: [Street]
    public let communities: [Community]
    public let points: [Point]
    private let pointsByDevice: [String: Point]
    private let communitiesByID: [String: Community]
    private let streetsByID: [String: Street]
    /// In configuration order.
    public let stations: [Station]
    private let stationsByID: [String: Station]
    /// Station id of each device that belongs to a station.
    private let stationByDevice: [String: String]

    public init(_ configuration: AggregatorConfiguration) {
        districtID = configuration.district.id
        districtName = configuration.district.name
        var streets: [Street] = []
        var communities: [Community] = []
        var points: [Point] = []
        var stations: [Station] = []
        for street in configuration.streets {
            var streetDevices: [String] = []
            for community in street.communities where community.kind == .transferStation {
                stations.append(
                    Station(
                        id: community.id, name: community.name, street: street.id,
                        devices: community.points.map(\.device),
                        deliveringDevices: [], receives: community.receives,
                        location: community.points.lazy.compactMap(\.location).first))
            }
            var sortingCommunities: [String] = []
            for community in street.communities {
                let devices = community.points.map(\.device)
                if community.kind != .transferStation {
                    streetDevices += devices
                    sortingCommunities.append(community.id)
                }
                communities.append(
                    Community(
                        id: community.id, name: community.name, kind: community.kind, households: community.households,
                        street: street.id, devices: devices))
                points += community.points.map {
                    Point(
                        device: $0.device, name: $0.name, demonstration: $0.demonstration, community: community.id,
                        street: street.id,
                        location: $0.location,
                        deliversTo: community.kind == .transferStation
                            ? nil : $0.deliversTo ?? community.deliversTo ?? street.deliversTo)
                }
            }
            streets.append(
                Street(
                    id: street.id, name: street.name, communities: sortingCommunities, devices: streetDevices,
                    households: street.communities.reduce(0) { $0 + $1.households }))
        }
        self.streets = streets
        self.communities = communities
        self.points = points
        pointsByDevice = Dictionary(points.map { ($0.device, $0) }, uniquingKeysWith: { first, _ in first })
        communitiesByID = Dictionary(communities.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        streetsByID = Dictionary(streets.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        for point in points {
            guard let station = point.deliversTo, let index = stations.firstIndex(where: { $0.id == station }) else {
                continue
            }
            stations[index].deliveringDevices.append(point.device)
        }
        self.stations = stations
        stationsByID = Dictionary(stations.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        stationByDevice = Dictionary(
            stations.flatMap { station in station.devices.map { ($0, station.id) } },
            uniquingKeysWith: { first, _ in first })
    }

    public func station(_ id: String) -> Station? { stationsByID[id] }
    /// The station a device belongs to, if it is one of a station's own devices.
    public func station(ofDevice device: String) -> String? { stationByDevice[device] }

    public func point(device: String) -> Point? { pointsByDevice[device] }
    public func community(_ id: String) -> Community? { communitiesByID[id] }
    public func street(_ id: String) -> Street? { streetsByID[id] }
    public func isKnown(device: String) -> Bool { pointsByDevice[device] != nil }

    /// Every device, the stations' own included.
    public var allDevices: [String] { points.map(\.device) }
    /// The devices whose deposits make up the district's figures: every device but the stations' own.
    public var sortingDevices: [String] { points.map(\.device).filter(isSorting) }
    /// The communities with sorting points: every community but the transfer stations.
    public var sortingCommunities: [Community] { communities.filter { $0.kind != .transferStation } }
    /// False for a transfer station's own device.
    public func isSorting(device: String) -> Bool { stationByDevice[device] == nil }
    public var totalHouseholds: Int { streets.reduce(0) { $0 + $1.households } }

    /// The devices whose bins make up `level`/`id`; `nil` when the id is unknown. For `.bin` the id is
    /// `device/bin` and the answer is that one device.
    public func devices(level: LedgerLevel, id: String?) -> [String]? {
        switch level {
        case .district:
            guard id == nil || id == districtID else { return nil }
            return sortingDevices
        case .street:
            return id.flatMap { streetsByID[$0]?.devices }
        case .community:
            return id.flatMap { communitiesByID[$0]?.devices }
        case .point:
            return id.flatMap { pointsByDevice[$0] }.map { [$0.device] }
        case .bin:
            guard let id, let slash = id.firstIndex(of: "/") else { return nil }
            let device = String(id[..<slash])
            return pointsByDevice[device] != nil ? [device] : nil
        }
    }
}

/// Levels of the ledger hierarchy.
public enum LedgerLevel: String, Sendable, Codable, CaseIterable, Hashable {
    case bin, point, community, street, district
}
