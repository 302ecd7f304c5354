import Foundation

/// The route heuristic of the daily plan: nearest neighbour, then 2-opt until no exchange of two legs
/// shortens the tour. A district round has tens of points, where this lands within a few per cent of
/// the optimum, and the result depends only on the input order (ties go to the lower index), so the
/// same stops give the same route.
public enum RoutePlanner {
    /// The mean Earth radius (IUGG), km.
    static let earthRadiusKm = 6371.0088

    /// Great-circle (haversine) distance in km.
    public static func distanceKm(_ a: GeoLocation, _ b: GeoLocation) -> Double {
        let radians = Double.pi / 180
        let dLat = (b.latitude - a.latitude) * radians
        let dLon = (b.longitude - a.longitude) * radians
        let h =
            sin(dLat / 2) * sin(dLat / 2)
            + cos(a.latitude * radians) * cos(b.latitude * radians) * sin(dLon / 2) * sin(dLon / 2)
        return 2 * earthRadiusKm * asin(min(1, h.squareRoot()))
    }

    /// A closed tour from `depot` (or from the first stop when nil) through `stops`: nearest neighbour,
    /// improved by 2-opt until no move shortens it. Returns the visiting order (indices into stops; the
    /// first stop first when there is no depot) and the length, back to the start included.
    public static func tour(depot: GeoLocation?, stops: [GeoLocation]) -> (order: [Int], km: Double) {
        twoOpt(depot: depot, stops: stops, order: nearestNeighbour(depot: depot, stops: stops).order)
    }

    /// The greedy tour: always on to the closest stop not yet visited (the lower index on a tie).
    public static func nearestNeighbour(depot: GeoLocation?, stops: [GeoLocation]) -> (order: [Int], km: Double) {
        guard !stops.isEmpty else { return ([], 0) }
        let graph = Graph(depot: depot, stops: stops)
        var path = [0]
        var visited = [Bool](repeating: false, count: graph.count)
        visited[0] = true
        for _ in 1..<graph.count {
            let last = path[path.count - 1]
            var best = -1
            for candidate in 0..<graph.count where !visited[candidate] {
                if best < 0 || graph.d(last, candidate) < graph.d(last, best) { best = candidate }
            }
            visited[best] = true
            path.append(best)
        }
        return (graph.stopOrder(path), graph.length(path))
    }

    /// Improves a closed tour (a permutation of the stops' indices; without a depot it must start with
    /// stop 0, which stays first) by 2-opt until no exchange of two legs shortens it. Reversing
    /// `path[i...j]` replaces the legs (i-1, i) and (j, j+1) with (i-1, j) and (i, j+1); the first improving
    /// move in a fixed scan order is taken, and a move must gain more than rounding noise, so the loop
    /// ends and the result depends only on the input. Never longer than the tour it was given.
    public static func twoOpt(depot: GeoLocation?, stops: [GeoLocation], order: [Int]) -> (order: [Int], km: Double) {
        guard !stops.isEmpty else { return ([], 0) }
        precondition(order.sorted() == Array(stops.indices), "the order must visit every stop once")
        precondition(depot != nil || order.first == 0, "without a depot the tour starts at stop 0")
        let graph = Graph(depot: depot, stops: stops)
        let count = graph.count
        var path = depot == nil ? order : [0] + order.map { $0 + 1 }
        var improved = true
        while improved {
            improved = false
            for i in 1..<max(1, count - 1) {
                for j in (i + 1)..<count {
                    let a = path[i - 1]
                    let b = path[i]
                    let c = path[j]
                    let e = path[(j + 1) % count]
                    if graph.d(a, c) + graph.d(b, e) < graph.d(a, b) + graph.d(c, e) - 1e-9 {
                        path[i...j].reverse()
                        improved = true
                    }
                }
            }
        }
        return (graph.stopOrder(path), graph.length(path))
    }

    /// Distances between the depot (node 0, when there is one) and the stops, computed once.
    private struct Graph {
        let count: Int
        let offset: Int
        private var distances: [Double]

        init(depot: GeoLocation?, stops: [GeoLocation]) {
            let nodes = (depot.map { [$0] } ?? []) + stops
            count = nodes.count
            offset = depot == nil ? 0 : 1
            distances = [Double](repeating: 0, count: count * count)
            for i in 0..<count {
                for j in (i + 1)..<count {
                    let d = RoutePlanner.distanceKm(nodes[i], nodes[j])
                    distances[i * count + j] = d
                    distances[j * count + i] = d
                }
            }
        }

        func d(_ i: Int, _ j: Int) -> Double { distances[i * count + j] }

        func length(_ path: [Int]) -> Double {
            path.indices.reduce(0) { $0 + d(path[$1], path[($1 + 1) % path.count]) }
        }

        func stopOrder(_ path: [Int]) -> [Int] { path.dropFirst(offset).map { $0 - offset } }
    }

    /// The length of the open path through `points` in order, plus the legs from and back to `depot`.
    public static func lengthKm(depot: GeoLocation?, through points: [GeoLocation]) -> Double {
        let all = (depot.map { [$0] } ?? []) + points + (depot.map { [$0] } ?? [])
        guard all.count > 1 else { return 0 }
        return zip(all, all.dropFirst()).reduce(0) { $0 + distanceKm($1.0, $1.1) }
    }
}
