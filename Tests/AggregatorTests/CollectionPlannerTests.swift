import Aggregator
import BinProtocol
import Simulation
import Testing

/// The day's plan and its route are pure functions of the candidates: which bins, in which order, how
/// far, and the same answer for the same input however it arrives.
@Suite("Collection planner")
struct CollectionPlannerTests {
    static let nextRoundMs: Int64 = 1_000_000
    static let depot = GeoLocation(latitude: 31.2200, longitude: 121.4700)

    /// A point of a 4 × 4 grid with about 500 m between neighbours.
    static func grid(_ index: Int) -> GeoLocation {
        GeoLocation(latitude: 31.2250 + Double(index / 4) * 0.0045, longitude: 121.4750 + Double(index % 4) * 0.0052)
    }

    static func candidate(
        _ device: String, _ bin: String, fill: Double?, forecast: Int64? = nil, location: GeoLocation?,
        street: String = "st-a"
    ) -> PlanCandidate {
        PlanCandidate(
            device: device, bin: bin, stream: bin == "dry" ? .dry : .wet, street: street, community: "c-1",
            pointName: "point \(device)",
            location: location, fill: fill, forecastCollectionAtMs: forecast)
    }

    static func plan(_ candidates: [PlanCandidate], depot: GeoLocation? = depot) -> CollectionPlan {
        CollectionPlanner.plan(
            candidates: candidates, collectionFill: 0.8, overflowFill: 1.0, nextRoundMs: nextRoundMs, depot: depot)
    }

    @Test("selects overflowing, above-level and forecast bins, and nothing else")
    func selection() throws {
        let candidates = [
            Self.candidate("pt-01", "wet", fill: 1.05, location: Self.grid(0)),
            Self.candidate("pt-01", "dry", fill: 0.2, location: Self.grid(0)),
            Self.candidate("pt-02", "wet", fill: 0.8, location: Self.grid(1)),
            Self.candidate("pt-03", "wet", fill: 0.5, forecast: Self.nextRoundMs - 1, location: Self.grid(2)),
            Self.candidate("pt-04", "wet", fill: 0.5, forecast: Self.nextRoundMs, location: Self.grid(3)),
            Self.candidate("pt-05", "wet", fill: 0.79, location: Self.grid(4)),
            Self.candidate("pt-06", "wet", fill: nil, forecast: 10, location: Self.grid(5)),
            Self.candidate("pt-07", "wet", fill: nil, location: Self.grid(6)),
        ]
        let plan = Self.plan(candidates)
        let chosen = Dictionary(
            uniqueKeysWithValues: plan.stops.flatMap { stop in stop.bins.map { ("\(stop.device)/\($0.bin)", $0.reason) }
            })
        #expect(
            chosen == [
                "pt-01/wet": .overflowing, "pt-02/wet": .aboveCollectionFill, "pt-03/wet": .forecast,
                "pt-06/wet": .forecast,
            ])
        #expect(plan.visits == 4)
        #expect(plan.fixedRoundVisits == 7)
        #expect(plan.binCount == 4)
        #expect(plan.stops.map(\.order) == [1, 2, 3, 4])
        #expect(plan.streets == [PlanStreet(street: "st-a", points: 4, bins: 4)])
    }

    @Test("overflowing points come first, even when they are the farthest")
    func overflowingFirst() throws {
        let candidates = [
            Self.candidate("pt-near-1", "wet", fill: 0.9, location: Self.grid(0)),
            Self.candidate("pt-near-2", "wet", fill: 0.9, location: Self.grid(1)),
            Self.candidate("pt-far", "wet", fill: 1.3, location: Self.grid(15)),
            Self.candidate("pt-far-2", "wet", fill: 1.0, location: Self.grid(14)),
        ]
        let plan = Self.plan(candidates)
        // From the depot (south-west of the grid) the nearer overflowing point first, then on to the others.
        #expect(plan.stops.map(\.device) == ["pt-far-2", "pt-far", "pt-near-2", "pt-near-1"])
        #expect(plan.stops.prefix(2).allSatisfy { $0.isOverflowing })
        #expect(!plan.stops[2].isOverflowing)
        // The legs add up to the route, back to the depot included.
        let legs = plan.stops.compactMap(\.legKm).reduce(0, +)
        let back = RoutePlanner.distanceKm(plan.stops.last!.location!, Self.depot)
        #expect(abs(legs + back - plan.routeKm!) < 1e-9)
        #expect(plan.stops.allSatisfy { $0.legKm != nil })
    }

    @Test("the same candidates in any order give the same plan")
    func shuffledInput() {
        var candidates: [PlanCandidate] = []
        for index in 0..<16 {
            for bin in ["wet", "dry"] {
                let fill = Double((index * 7 + (bin == "wet" ? 3 : 0)) % 12) / 10
                let street = index < 8 ? "st-b" : "st-a"
                candidates.append(
                    Self.candidate(
                        "pt-\(index)", bin, fill: fill, forecast: index % 3 == 0 ? Self.nextRoundMs / 2 : nil,
                        location: Self.grid(index),
                        street: street))
            }
        }
        let reference = Self.plan(candidates)
        #expect(reference.visits > 4)
        var random = SplitMix64(seed: 7)
        for _ in 0..<20 {
            var shuffled = candidates
            for index in shuffled.indices.reversed() {
                shuffled.swapAt(index, Int(random.next() % UInt64(index + 1)))
            }
            #expect(Self.plan(shuffled) == reference)
        }
        #expect(reference.streets.map(\.street) == ["st-a", "st-b"])
        #expect(reference.streets.reduce(0) { $0 + $1.points } == reference.visits)
    }

    @Test("on a grid the plan's route is no longer than the fixed round of every point")
    func gridSaving() throws {
        var candidates: [PlanCandidate] = []
        for index in 0..<16 {
            candidates.append(
                Self.candidate(
                    "pt-\(index)", "wet", fill: [2, 5, 9, 11, 12].contains(index) ? 0.9 : 0.3,
                    location: Self.grid(index)))
        }
        let plan = Self.plan(candidates)
        let route = try #require(plan.routeKm)
        let fixed = try #require(plan.fixedRoundKm)
        #expect(plan.visits == 5)
        #expect(plan.fixedRoundVisits == 16)
        #expect(route <= fixed)
        // The fixed round over a 4 × 4 grid with 500 m spacing: at least the 15 legs between the points.
        #expect(fixed > 15 * 0.45)
        #expect(route < fixed * 0.8)
    }

    @Test("stops without coordinates come after the route, by street then device")
    func unlocatedStops() throws {
        let candidates = [
            Self.candidate("pt-3", "wet", fill: 0.9, location: nil, street: "st-b"),
            Self.candidate("pt-1", "wet", fill: 0.9, location: nil, street: "st-b"),
            Self.candidate("pt-2", "wet", fill: 1.2, location: nil, street: "st-a"),
            Self.candidate("pt-9", "wet", fill: 0.9, location: Self.grid(3), street: "st-c"),
            Self.candidate("pt-8", "wet", fill: 0.9, location: Self.grid(0), street: "st-c"),
        ]
        let plan = Self.plan(candidates)
        #expect(plan.stops.map(\.device) == ["pt-8", "pt-9", "pt-2", "pt-1", "pt-3"])
        #expect(plan.unlocatedStops == 3)
        #expect(plan.stops.suffix(3).allSatisfy { $0.legKm == nil })
        let route = try #require(plan.routeKm)
        let expected = RoutePlanner.lengthKm(depot: Self.depot, through: [Self.grid(0), Self.grid(3)])
        #expect(abs(route - expected) < 1e-9)

        let nowhere = Self.plan(candidates.filter { $0.location == nil })
        #expect(nowhere.routeKm == nil)
        #expect(nowhere.fixedRoundKm == nil)
        #expect(nowhere.stops.map(\.device) == ["pt-2", "pt-1", "pt-3"])
    }

    @Test("without a depot the route is closed at its first stop")
    func noDepot() throws {
        let candidates = (0..<4).map {
            Self.candidate("pt-\($0)", "wet", fill: 0.9, location: Self.grid([0, 3, 15, 12][$0]))
        }
        let plan = Self.plan(candidates, depot: nil)
        #expect(plan.stops.first?.legKm == nil)
        let route = try #require(plan.routeKm)
        let perimeter = RoutePlanner.tour(depot: nil, stops: [0, 3, 15, 12].map(Self.grid)).km
        #expect(abs(route - perimeter) < 1e-9)
    }

    @Test("haversine: one degree of latitude is about 111.2 km, and a point is 0 km from itself")
    func distance() {
        let a = GeoLocation(latitude: 31, longitude: 121)
        #expect(abs(RoutePlanner.distanceKm(a, GeoLocation(latitude: 32, longitude: 121)) - 111.195) < 0.01)
        #expect(RoutePlanner.distanceKm(a, a) == 0)
        // A degree of longitude shrinks with the cosine of the latitude.
        let east = RoutePlanner.distanceKm(a, GeoLocation(latitude: 31, longitude: 122))
        #expect(abs(east - 111.195 * 0.857_17) < 0.05)
    }

    @Test("2-opt removes a crossing from a hand-made tour")
    func twoOptUncrosses() {
        // A square visited corner, opposite corner, corner, opposite corner: the two diagonals cross.
        let square = [Self.grid(0), Self.grid(3), Self.grid(15), Self.grid(12)]
        let crossed = [0, 2, 1, 3]
        let crossedKm =
            RoutePlanner.lengthKm(depot: nil, through: crossed.map { square[$0] })
            + RoutePlanner.distanceKm(square[3], square[0])
        let fixed = RoutePlanner.twoOpt(depot: nil, stops: square, order: crossed)
        let perimeter =
            RoutePlanner.distanceKm(square[0], square[1]) + RoutePlanner.distanceKm(square[1], square[2])
            + RoutePlanner.distanceKm(square[2], square[3]) + RoutePlanner.distanceKm(square[3], square[0])
        #expect(abs(fixed.km - perimeter) < 1e-9)
        #expect(fixed.km < crossedKm - 1)
        #expect(fixed.order == [0, 1, 2, 3] || fixed.order == [0, 3, 2, 1])
    }

    @Test("2-opt never lengthens the nearest-neighbour tour, and visits every stop once")
    func twoOptNeverWorse() {
        var random = SplitMix64(seed: 2026)
        var strictlyBetter = 0
        for round in 0..<30 {
            let count = 3 + round % 25
            let stops = (0..<count).map { _ in
                GeoLocation(latitude: 31.2 + 0.05 * random.nextUnit(), longitude: 121.45 + 0.05 * random.nextUnit())
            }
            let depot = round % 2 == 0 ? Self.depot : nil
            let greedy = RoutePlanner.nearestNeighbour(depot: depot, stops: stops)
            let tour = RoutePlanner.tour(depot: depot, stops: stops)
            #expect(tour.km <= greedy.km + 1e-9)
            #expect(tour.order.sorted() == Array(0..<count))
            if depot == nil { #expect(tour.order.first == 0) }
            if tour.km < greedy.km - 1e-6 { strictlyBetter += 1 }
            let walked =
                RoutePlanner.lengthKm(depot: depot, through: tour.order.map { stops[$0] })
                + (depot == nil ? RoutePlanner.distanceKm(stops[tour.order.last!], stops[tour.order[0]]) : 0)
            #expect(abs(walked - tour.km) < 1e-9)
        }
        #expect(strictlyBetter > 5)
    }
}
