import Foundation

/// The answer of `GET /api/v1/ledger` (docs/aggregator.md, HTTP API).
struct Ledger: Decodable, Sendable {
    struct Period: Decodable, Sendable {
        var period: String
        var streams: [String: Figures]
        var total: Figures
    }

    var level: String
    var id: String
    var rows: [Period]
    var total: Period

    /// The whole range's figures of one stream.
    func stream(_ name: String) -> Figures { total.streams[name] ?? Figures() }
}

/// What the ledger keeps per bin, local day and stream, and what every rollup sums.
struct Figures: Decodable, Sendable, CustomStringConvertible {
    var depositedKg = 0.0
    var collectedKg = 0.0
    var deposits = 0
    var collections = 0
    var contaminatedKg = 0.0
    var unknownKg = 0.0
    var depositedL = 0.0

    static let streams = ["wet", "dry", "recyclable", "hazardous"]

    static func + (lhs: Figures, rhs: Figures) -> Figures {
        Figures(
            depositedKg: lhs.depositedKg + rhs.depositedKg, collectedKg: lhs.collectedKg + rhs.collectedKg,
            deposits: lhs.deposits + rhs.deposits, collections: lhs.collections + rhs.collections,
            contaminatedKg: lhs.contaminatedKg + rhs.contaminatedKg, unknownKg: lhs.unknownKg + rhs.unknownKg,
            depositedL: lhs.depositedL + rhs.depositedL)
    }

    /// Counts equal and every quantity within `tolerance` (sums of the same doubles in another order
    /// differ in the last bits, so "the same" ledger is compared to 1e-9).
    func matches(_ other: Figures, tolerance: Double = 1e-9) -> Bool {
        deposits == other.deposits && collections == other.collections
            && [
                (depositedKg, other.depositedKg), (collectedKg, other.collectedKg),
                (contaminatedKg, other.contaminatedKg),
                (unknownKg, other.unknownKg), (depositedL, other.depositedL),
            ].allSatisfy { abs($0.0 - $0.1) <= tolerance * max(1, abs($0.0)) }
    }

    var description: String {
        String(
            format: "%d deposits %.3f kg (%.1f L, contaminated %.3f kg, unknown %.3f kg), %d collections %.3f kg",
            deposits, depositedKg, depositedL, contaminatedKg, unknownKg, collections, collectedKg)
    }
}

/// Figures per stream, summed.
func sumStreams(_ ledgers: [Ledger]) -> [String: Figures] {
    var sums: [String: Figures] = [:]
    for ledger in ledgers {
        for stream in Figures.streams {
            sums[stream, default: Figures()] = sums[stream, default: Figures()] + ledger.stream(stream)
        }
    }
    return sums
}
