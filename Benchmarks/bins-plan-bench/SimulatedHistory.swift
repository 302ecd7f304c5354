import Aggregator
import BinProtocol
import Foundation
import Simulation

/// How a kind of point's week departs from its scenario day.
enum WeekPattern: String {
    /// Households: weekends 15 % busier, and their mornings an hour later.
    case residential
    /// Offices, canteens and schools: weekends keep a quarter of the deposits.
    case weekdays
    /// Transfer stations: weekends keep 60 % of the carts.
    case station

    static func forProfile(_ profile: String) -> WeekPattern {
        switch profile {
        case "office": .weekdays
        case "transfer-station": .station
        default: .residential
        }
    }

    static let description = """
        weekends: residential profiles x1.15 volume and deposits before 12:00 an hour later; office and \
        school points keep 25 % of their deposits; the transfer station keeps 60 %
        """
}

/// A scenario bin replayed as a multi-week deposit history.
struct SimulatedBin {
    var device: String
    var id: String
    var stream: WasteStream
    var capacityL: Double
    /// Sorted by time.
    var deposits: [(atMs: Int64, litres: Double?)]
}

/// Turns one scenario day into `days` days of deposits. Day k replays the file's deposits (its
/// collections are ignored: collections are what the planner decides) with a seeded variation:
/// - the whole day's volumes times a log-normal factor (median 1, sd of the log 0.2) and all its times
///   shifted by up to ±15 minutes;
/// - each deposit's volume times a uniform 0.7-1.3 and its time moved by up to ±5 minutes;
/// - the week pattern on Saturdays and Sundays (`WeekPattern`).
/// The same scenario, seed and day always give the same deposits.
enum SimulatedHistory {
    static let dayMs: Int64 = 86_400_000
    static let variation = """
        day k = the file's deposits (its collections ignored), volumes x a daily log-normal factor (sd of log 0.2) \
        and x U(0.7,1.3) per deposit, times shifted by U(-15,15) min per day and U(-5,5) min per deposit
        """

    static func bins(
        scenario: Scenario, pattern: WeekPattern, seed: UInt64, days: Int, startMs: Int64, calendar: LedgerCalendar,
        capacityScale: Double = 1
    ) -> [SimulatedBin] {
        var byBin: [String: [(atMs: Int64, litres: Double?)]] = [:]
        let startWeekday = calendar.localDate(millisecondsSinceEpoch: startMs).weekday
        for day in 0..<days {
            var random = SeededRandomGenerator(seed: seed, stream: "day-\(day)")
            let factor = exp(random.nextGaussian(standardDeviation: 0.2))
            let shiftMs = Int64(random.nextDouble(in: -900...900) * 1000)
            let weekday = (startWeekday - 1 + day) % 7 + 1
            let weekend = weekday >= 6
            let dayStart = startMs + Int64(day) * dayMs
            for event in scenario.events {
                guard case .deposit(let deposit) = event.action else { continue }
                var litres = deposit.volumeL * factor * random.nextDouble(in: 0.7...1.3)
                var atMs = dayStart + Int64(event.at * 1000) + shiftMs + Int64(random.nextDouble(in: -300...300) * 1000)
                let keep = random.nextUnit()
                if weekend {
                    switch pattern {
                    case .residential:
                        litres *= 1.15
                        if event.at < 12 * 3600 { atMs += 3_600_000 }
                    case .weekdays:
                        if keep >= 0.25 { continue }
                    case .station:
                        if keep >= 0.6 { continue }
                    }
                }
                byBin[deposit.bin, default: []].append((atMs, litres))
            }
        }
        return scenario.bins.map { bin in
            SimulatedBin(
                device: scenario.device, id: bin.id, stream: bin.stream, capacityL: bin.shape.capacityL * capacityScale,
                deposits: (byBin[bin.id] ?? []).sorted { $0.atMs < $1.atMs })
        }
    }
}
