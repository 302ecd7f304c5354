import BinProtocol

/// Why a bin is in the day's plan, in the order crews should care.
public enum PlanReason: String, Sendable, Codable {
    case overflowing
    case aboveCollectionFill = "above_collection_fill"
    case forecast
}

/// A bin the planner may send a crew to, with what is known of it on the planning day.
public struct PlanCandidate: Sendable, Equatable {
    public var device: String
    public var bin: String
    public var stream: WasteStream
    public var street: String
    public var community: String
    public var pointName: String
    public var location: GeoLocation?
    /// The last known fill; nil when the bin has reported none.
    public var fill: Double?
    /// When the bin is forecast to reach the collection fill; nil when not within the forecast's horizon.
    public var forecastCollectionAtMs: Int64?

    public init(
        device: String, bin: String, stream: WasteStream, street: String, community: String, pointName: String,
        location: GeoLocation?, fill: Double?, forecastCollectionAtMs: Int64?
    ) {
        self.device = device
        self.bin = bin
        self.stream = stream
        self.street = street
        self.community = community
        self.pointName = pointName
        self.location = location
        self.fill = fill
        self.forecastCollectionAtMs = forecastCollectionAtMs
    }
}

/// A bin to empty at a stop.
public struct PlanBin: Sendable, Equatable, Codable {
    public var bin: String
    public var stream: WasteStream
    public var fill: Double?
    public var forecastCollectionAtMs: Int64?
    public var reason: PlanReason

    public init(bin: String, stream: WasteStream, fill: Double?, forecastCollectionAtMs: Int64?, reason: PlanReason) {
        self.bin = bin
        self.stream = stream
        self.fill = fill
        self.forecastCollectionAtMs = forecastCollectionAtMs
        self.reason = reason
    }
}

/// One visit: a sorting point, where the crew empties every selected bin at once.
public struct PlanStop: Sendable, Equatable {
    /// 1-based position in the plan.
    public var order: Int
    public var device: String
    public var pointName: String
    public var street: String
    public var community: String
    public var location: GeoLocation?
    /// Sorted by bin id.
    public var bins: [PlanBin]
    /// From the previous stop (or the depot); nil for a stop without coordinates, or the first stop of a
    /// plan without a depot.
    public var legKm: Double?

    public init(
        order: Int, device: String, pointName: String, street: String, community: String, location: GeoLocation?,
        bins: [PlanBin], legKm: Double?
    ) {
        self.order = order
        self.device = device
        self.pointName = pointName
        self.street = street
        self.community = community
        self.location = location
        self.bins = bins
        self.legKm = legKm
    }

    /// Whether any of the stop's bins is overflowing.
    public var isOverflowing: Bool { bins.contains { $0.reason == .overflowing } }
}

/// The plan's stops and bins in one street.
public struct PlanStreet: Sendable, Equatable {
    public var street: String
    public var points: Int
    public var bins: Int

    public init(street: String, points: Int, bins: Int) {
        self.street = street
        self.points = points
        self.bins = bins
    }
}

/// A day's collection plan.
public struct CollectionPlan: Sendable, Equatable {
    /// Route order: the overflowing points first (their own sub-tour from the depot), then the rest
    /// continuing from the last of them, then the stops without coordinates.
    public var stops: [PlanStop]
    /// Sorted by street id, so that a printed plan lists the same street in the same place every day.
    public var streets: [PlanStreet]
    /// Depot → stops → depot (closed at the first stop without a depot); nil when no stop has coordinates.
    public var routeKm: Double?
    /// The same heuristic over every located point among the candidates: the fixed round visits them all.
    public var fixedRoundKm: Double?
    /// Point visits in the plan and in the fixed round.
    public var visits: Int
    public var fixedRoundVisits: Int
    /// Stops without coordinates (appended after the route, sorted by street then device).
    public var unlocatedStops: Int

    public init(
        stops: [PlanStop], streets: [PlanStreet], routeKm: Double?, fixedRoundKm: Double?, visits: Int,
        fixedRoundVisits: Int, unlocatedStops: Int
    ) {
        self.stops = stops
        self.streets = streets
        self.routeKm = routeKm
        self.fixedRoundKm = fixedRoundKm
        self.visits = visits
        self.fixedRoundVisits = fixedRoundVisits
        self.unlocatedStops = unlocatedStops
    }

    /// Bins to empty over all stops.
    public var binCount: Int { stops.reduce(0) { $0 + $1.bins.count } }
}

/// Decides which bins to empty on a day and in what order to visit their points.
public enum CollectionPlanner {
    /// Which bins to empty on a day: overflowing ones (fill >= `overflowFill`), those already at or above
    /// `collectionFill`, and those forecast to reach it before `nextRoundMs`. Stops are points (one visit
    /// empties all the point's selected bins); a point's name, street, community and location come from
    /// its first candidate by bin id. Deterministic: the same input in any order gives the same plan
    /// (candidates are sorted by device then bin before anything else, and every later tie is broken in
    /// that order).
    public static func plan(
        candidates: [PlanCandidate], collectionFill: Double, overflowFill: Double, nextRoundMs: Int64,
        depot: GeoLocation?
    ) -> CollectionPlan {
        let sorted = candidates.sorted { ($0.device, $0.bin) < ($1.device, $1.bin) }

        // Points, in device order, from the first candidate of each.
        var points: [PlanCandidate] = []
        var selected: [String: [PlanBin]] = [:]
        for candidate in sorted {
            if points.last?.device != candidate.device { points.append(candidate) }
            guard
                let reason = reason(
                    candidate, collectionFill: collectionFill, overflowFill: overflowFill, nextRoundMs: nextRoundMs)
            else { continue }
            selected[candidate.device, default: []].append(
                PlanBin(
                    bin: candidate.bin, stream: candidate.stream, fill: candidate.fill,
                    forecastCollectionAtMs: candidate.forecastCollectionAtMs, reason: reason))
        }
        let visited = points.filter { selected[$0.device] != nil }
        func isOverflowing(_ point: PlanCandidate) -> Bool {
            selected[point.device]!.contains { $0.reason == .overflowing }
        }

        // The route: overflowing points as a tour of their own from the depot, then the others from where
        // that tour ended, back to the depot. The others' order is the shortest of that drive among a tour
        // closed at the last overflowing point and a tour closed at the depot in either direction (a tour
        // closed at the point it starts from ignores the way home, which can cross the whole district).
        // The length counted is the path actually driven.
        let urgent = visited.filter { $0.location != nil && isOverflowing($0) }
        let others = visited.filter { $0.location != nil && !isOverflowing($0) }
        let urgentOrder = RoutePlanner.tour(depot: depot, stops: urgent.map { $0.location! }).order.map { urgent[$0] }
        let othersLocations = others.map { $0.location! }
        var othersOrder = RoutePlanner.tour(depot: urgentOrder.last?.location ?? depot, stops: othersLocations).order
        if let resume = urgentOrder.last?.location, let depot, others.count > 1 {
            func driven(_ order: [Int]) -> Double {
                RoutePlanner.lengthKm(depot: nil, through: [resume] + order.map { othersLocations[$0] } + [depot])
            }
            let fromDepot = RoutePlanner.tour(depot: depot, stops: othersLocations).order
            for alternative in [fromDepot, fromDepot.reversed()] where driven(alternative) < driven(othersOrder) - 1e-9
            {
                othersOrder = alternative
            }
        }
        let routedOthers = othersOrder.map { others[$0] }
        let routed = urgentOrder + routedOthers
        let unlocated = visited.filter { $0.location == nil }.sorted { ($0.street, $0.device) < ($1.street, $1.device) }

        var stops: [PlanStop] = []
        var previous = depot
        for point in routed + unlocated {
            var leg: Double?
            if let location = point.location, let from = previous { leg = RoutePlanner.distanceKm(from, location) }
            if point.location != nil { previous = point.location }
            stops.append(
                PlanStop(
                    order: stops.count + 1, device: point.device, pointName: point.pointName, street: point.street,
                    community: point.community, location: point.location, bins: selected[point.device]!, legKm: leg))
        }

        let routeKm: Double? =
            routed.isEmpty
            ? nil
            : RoutePlanner.lengthKm(depot: depot, through: routed.map { $0.location! })
                + (depot == nil && routed.count > 1
                    ? RoutePlanner.distanceKm(routed.last!.location!, routed[0].location!) : 0)
        let everyLocated = points.compactMap(\.location)
        let fixedRoundKm: Double? = everyLocated.isEmpty ? nil : RoutePlanner.tour(depot: depot, stops: everyLocated).km

        var streets: [String: PlanStreet] = [:]
        for stop in stops {
            streets[stop.street, default: PlanStreet(street: stop.street, points: 0, bins: 0)].points += 1
            streets[stop.street]!.bins += stop.bins.count
        }
        return CollectionPlan(
            stops: stops, streets: streets.values.sorted { $0.street < $1.street }, routeKm: routeKm,
            fixedRoundKm: fixedRoundKm,
            visits: stops.count, fixedRoundVisits: points.count, unlocatedStops: unlocated.count)
    }

    static func reason(_ candidate: PlanCandidate, collectionFill: Double, overflowFill: Double, nextRoundMs: Int64)
        -> PlanReason?
    {
        if let fill = candidate.fill {
            if fill >= overflowFill { return .overflowing }
            if fill >= collectionFill { return .aboveCollectionFill }
        }
        if let at = candidate.forecastCollectionAtMs, at < nextRoundMs { return .forecast }
        return nil
    }
}
