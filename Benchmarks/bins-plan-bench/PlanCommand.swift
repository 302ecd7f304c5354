import Aggregator
import ArgumentParser
import Foundation
import Simulation

/// The plan's saving: the demo district's points run the library's days as weeks of deposits, and a
/// crew goes out at 07:00 every day. FIXED empties every bin of every point; PLAN empties what
/// `CollectionPlanner` selects from each bin's fill and forecast. Counted per policy: bin visits, point
/// visits, route length and overflows, the figures the commercial platforms quote.
struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Bin visits, route km and overflows of the daily plan against a fixed daily round.")

    @OptionGroup var library: LibraryOptions

    @Option(help: "The demo district (points.tsv and aggregator.yaml.in): points, coordinates, depot.")
    var demo = "deploy/demo"

    @Option(help: "Bin capacity multipliers to run, comma-separated.")
    var capacityScales = "1,2"

    static let collectionFill = 0.8
    static let hourMs: Int64 = 3_600_000
    static let dayMs: Int64 = 86_400_000
    static let roundHour = 7

    enum Policy: String, CaseIterable {
        case fixed = "FIXED"
        case plan = "PLAN"
        /// PLAN's bins in one tour, without routing the overflowing points first: what that rule costs.
        case planOneTour = "PLAN*"
    }

    func run() throws {
        let district = try DemoDistrict.load(directory: demo)
        var scenarios: [String: Scenario] = [:]
        for profile in Set(district.points.map(\.profile)).sorted() {
            scenarios[profile] = try Scenario.load(path: "\(library.scenarios)/\(profile).yaml")
        }
        let clock = ScenarioClock(scenarios[district.points[0].profile]!)
        let scales = capacityScales.split(separator: ",").compactMap { Double($0.trimmingCharacters(in: .whitespaces)) }
        print(
            "bins-plan-bench plan: the \(district.points.count) points of \(demo) (profile and seed from points.tsv), "
                + "\(library.days) days, depot at the transfer station")
        print("  history: \(SimulatedHistory.variation)")
        print("  \(WeekPattern.description) (office and institution communities count as office and school)")
        print(
            "  a round leaves at 07:00 every day; FIXED empties every bin; PLAN empties the bins CollectionPlanner selects "
                + "(fill >= 1.0, fill >= \(Self.collectionFill), or forecast to reach \(Self.collectionFill) before the next round; "
                + "profiles learned from all earlier deposits, the community's stream average for a bin without a day of history)"
        )
        print(
            "  overflow = a bin above 1.0 fill before it is emptied, once per bin and day; waste keeps piling up until the "
                + "next visit; route km = depot -> stops -> depot (haversine), nearest neighbour + 2-opt; PLAN* = PLAN's bins in "
                + "one tour, without the overflowing points' own sub-tour first (same bins, so the same overflows)")
        print(
            "  the library's bins take 0.4-1.8 of their capacity a day (its days empty them several times), so at x1 they "
                + "overflow under a daily round whatever the policy; x2 is the size a daily round serves")
        for scale in scales {
            var bins: [(point: DemoDistrict.Point, bin: SimulatedBin)] = []
            for point in district.points {
                let pattern: WeekPattern =
                    ["office", "institution"].contains(point.communityKind) ? .weekdays : .forProfile(point.profile)
                var scenario = scenarios[point.profile]!
                scenario.device = point.device
                for bin in SimulatedHistory.bins(
                    scenario: scenario, pattern: pattern, seed: point.seed, days: library.days, startMs: clock.startMs,
                    calendar: clock.calendar, capacityScale: scale)
                {
                    bins.append((point, bin))
                }
            }
            print("")
            print(
                String(
                    format: "bins at x%.2f capacity (%d bins at %d points):", scale, bins.count, district.points.count))
            print(
                [
                    "policy".leftPadded(8), "bin visits".padded(11), "point visits".padded(13), "route km".padded(10),
                    "overflows".padded(10), "mean fill emptied".padded(18),
                ].joined(separator: " "))
            var results: [Policy: Totals] = [:]
            for policy in Policy.allCases {
                let totals = simulate(policy, bins: bins, depot: district.depot, clock: clock)
                results[policy] = totals
                print(
                    [
                        policy.rawValue.leftPadded(8), "\(totals.binVisits)".padded(11),
                        "\(totals.pointVisits)".padded(13),
                        String(format: "%.1f", totals.routeKm).padded(10), "\(totals.overflows)".padded(10),
                        String(format: "%.2f", totals.emptiedFill / Double(max(1, totals.binVisits))).padded(18),
                    ].joined(separator: " "))
            }
            let fixed = results[.fixed]!
            let plan = results[.plan]!
            func saving(_ a: Double, _ b: Double) -> String {
                b > 0 ? String(format: "%.0f %%", 100 * (1 - a / b)) : "-"
            }
            print(
                "PLAN against FIXED: \(saving(Double(plan.binVisits), Double(fixed.binVisits))) fewer bin visits, "
                    + "\(saving(Double(plan.pointVisits), Double(fixed.pointVisits))) fewer point visits, "
                    + String(format: "route km %.1f against %.1f", plan.routeKm, fixed.routeKm)
                    + "; overflows \(plan.overflows) against \(fixed.overflows)")
        }
    }

    struct Totals {
        var binVisits = 0
        var pointVisits = 0
        var routeKm = 0.0
        var overflows = 0
        var emptiedFill = 0.0
    }

    func simulate(
        _ policy: Policy, bins: [(point: DemoDistrict.Point, bin: SimulatedBin)], depot: GeoLocation?,
        clock: ScenarioClock
    ) -> Totals {
        var totals = Totals()
        var litres = [Double](repeating: 0, count: bins.count)
        var next = [Int](repeating: 0, count: bins.count)
        var overflowDay = [Int](repeating: -1, count: bins.count)
        for day in 0..<library.days {
            for hour in 0..<24 {
                let atMs = clock.startMs + Int64(day * 24 + hour) * Self.hourMs
                if hour == Self.roundHour {
                    let emptied = round(
                        policy, bins: bins, litres: litres, next: next, depot: depot, atMs: atMs, clock: clock)
                    totals.pointVisits += emptied.points
                    totals.routeKm += emptied.km
                    for index in emptied.bins {
                        totals.binVisits += 1
                        totals.emptiedFill += litres[index] / bins[index].bin.capacityL
                        litres[index] = 0
                    }
                }
                for index in bins.indices {
                    let deposits = bins[index].bin.deposits
                    while next[index] < deposits.count && deposits[next[index]].atMs < atMs + Self.hourMs {
                        litres[index] += deposits[next[index]].litres ?? 0
                        next[index] += 1
                        if litres[index] > bins[index].bin.capacityL && overflowDay[index] != day {
                            overflowDay[index] = day
                            totals.overflows += 1
                        }
                    }
                }
            }
        }
        return totals
    }

    /// The bins a round empties, the points it visits and the km it drives.
    func round(
        _ policy: Policy, bins: [(point: DemoDistrict.Point, bin: SimulatedBin)], litres: [Double], next: [Int],
        depot: GeoLocation?,
        atMs: Int64, clock: ScenarioClock
    ) -> (bins: [Int], points: Int, km: Double) {
        var forecasts = [Int64?](repeating: nil, count: bins.count)
        if policy != .fixed {
            let profiles = bins.indices.map { index in
                FillRateProfile.learn(
                    deposits: Array(bins[index].bin.deposits[..<next[index]]), fromMs: clock.startMs, toMs: atMs,
                    calendar: clock.calendar)
            }
            for index in bins.indices {
                let (point, bin) = bins[index]
                let neighbours = bins.indices.filter {
                    bins[$0].point.community == point.community && bins[$0].bin.stream == bin.stream
                }
                forecasts[index] =
                    FillForecaster.forecast(
                        fill: litres[index] / bin.capacityL, atMs: atMs, capacityL: bin.capacityL,
                        collectionFill: Self.collectionFill,
                        profile: profiles[index], fallback: FillRateProfile.mean(neighbours.map { profiles[$0] }),
                        calendar: clock.calendar, horizonMs: 2 * Self.dayMs)?.collectionAtMs
            }
        }
        let candidates = bins.indices.map { index in
            let (point, bin) = bins[index]
            return PlanCandidate(
                device: point.device, bin: bin.id, stream: bin.stream, street: point.street, community: point.community,
                pointName: point.name, location: point.location, fill: litres[index] / bin.capacityL,
                forecastCollectionAtMs: forecasts[index])
        }
        let plan = CollectionPlanner.plan(
            candidates: candidates, collectionFill: Self.collectionFill,
            overflowFill: policy == .planOneTour ? .infinity : 1.0,
            nextRoundMs: atMs + Self.dayMs, depot: depot)
        switch policy {
        case .fixed:
            return (Array(bins.indices), plan.fixedRoundVisits, plan.fixedRoundKm ?? 0)
        case .plan, .planOneTour:
            var index: [String: Int] = [:]
            for (position, entry) in bins.enumerated() { index["\(entry.point.device)/\(entry.bin.id)"] = position }
            let emptied = plan.stops.flatMap { stop in stop.bins.map { index["\(stop.device)/\($0.bin)"]! } }
            return (emptied, plan.visits, plan.routeKm ?? 0)
        }
    }
}
