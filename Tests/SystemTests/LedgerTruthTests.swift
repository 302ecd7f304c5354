import BinsTestSupport
import Foundation
import Simulation
import Testing

/// Scenario → `binsd simulate` → mosquitto (shipped configuration, TLS, per-device account) →
/// `bins-aggregator` → ledger: what the aggregator books per bin and stream is what the simulated world
/// really received, within the accuracy the daemon documents.
@Suite("Ledger against the world's truth")
struct LedgerTruthTests {
    /// docs/accuracy.md: every deposit's reported mass within 20 g of the truth (the accuracy table's
    /// worst case is 13 g, on the cold, noisy point; BinDaemonTests hold binsd to 20 g). A bin's booked
    /// total may therefore be off by at most 20 g per deposit.
    static let depositToleranceKg = 0.020
    /// A collection's reported mass (the drop from the full to the emptied scale) against the mass that was
    /// in the bin: 50 g per collection, as BinDaemonTests hold binsd to (the accuracy table's worst is 9 g).
    static let collectionToleranceKg = 0.050
    /// Share of the mis-sorted mass that must be booked as contaminated (the rest may be `unknown`).
    static let minimumFlaggedShare = 0.7

    /// Three bins, a deposit every two minutes in turn for four hours, every bin emptied once; a seventh of
    /// the wet bin's deposits are residual (dry) waste and a ninth of the dry bin's are kitchen (wet) waste,
    /// each several times the smallest classifiable deposit (docs/binsd.md section 5).
    static func scenario() -> ScenarioWriter {
        var writer = ScenarioWriter(
            device: "pt-ledger",
            bins: [
                .box240("wet", stream: "wet"), .box240("dry", stream: "dry", countsPerKg: 19_800, offset: 91_000),
                .round360("recyclable", stream: "recyclable"),
            ], end: 4 * 3600)
        var random = SplitMix64(seed: 2026)
        let order = ["wet", "dry", "recyclable"]
        var perBin: [String: Int] = [:]
        for (index, at) in stride(from: 300, to: 4 * 3600 - 600, by: 120).enumerated() {
            let bin = order[index % 3]
            let count = perBin[bin, default: 0] + 1
            perBin[bin] = count
            switch bin {
            case "wet" where count % 7 == 3:
                let kg = random.nextDouble(in: 1.2...1.8)
                writer.deposit(
                    at: at, bin: bin, kg: kg, litres: kg / random.nextDouble(in: BulkDensity.dry), material: "dry")
            case "wet":
                let kg = random.nextDouble(in: 0.4...2.4)
                writer.deposit(at: at, bin: bin, kg: kg, litres: kg / random.nextDouble(in: BulkDensity.wet))
            case "dry" where count % 9 == 4:
                let kg = random.nextDouble(in: 2.5...3.5)
                writer.deposit(at: at, bin: bin, kg: kg, litres: kg / random.nextDouble(in: 0.5...0.7), material: "wet")
            case "dry":
                let kg = random.nextDouble(in: 0.3...1.0)
                writer.deposit(at: at, bin: bin, kg: kg, litres: kg / random.nextDouble(in: BulkDensity.dry))
            default:
                let kg = random.nextDouble(in: 0.1...0.4)
                writer.deposit(at: at, bin: bin, kg: kg, litres: kg / random.nextDouble(in: BulkDensity.recyclable))
            }
        }
        // Each bin emptied a minute after its last deposit before the two-hour mark.
        writer.collect(at: 7200, bin: "wet")
        writer.collect(at: 7320, bin: "dry")
        writer.collect(at: 7440, bin: "recyclable")
        return writer
    }

    @Test("booked tonnage, deposits, collections and contamination per bin and stream equal the truth")
    func ledgerEqualsTruth() async throws {
        let run = try await OnePointDistrict.start(Self.scenario(), prefix: "system-ledger")
        let (directory, device, aggregator, scenario) = (run.directory, run.device, run.aggregator, run.scenario)
        let point = try run.startPoint()
        let summary = try await run.finish(point)

        // Every event the point sent is booked once: seqs 1...last, no gap, nothing twice.
        let booked = try #require(try await aggregator.bookedEvents(in: directory)[device])
        #expect(
            booked.count == summary.lastSeq && booked.firstSeq == 1 && booked.lastSeq == summary.lastSeq,
            "\(booked.summary)")

        let truth = try point.truth().totals(streams: scenario.streams)
        var bins: [Ledger] = []
        for (bin, stream) in scenario.streams.sorted(by: { $0.key < $1.key }) {
            let expected = try #require(truth[bin])
            let ledger = try await aggregator.ledger(
                level: "bin", id: "\(device)/\(bin)", from: "2026-06-01", to: "2026-06-01")
            bins.append(ledger)
            let figures = ledger.stream(stream)
            print("\(device)/\(bin): booked \(figures); truth \(expected)")
            #expect(
                figures.deposits == expected.deposits,
                "\(bin): booked \(figures.deposits) deposits, truth \(expected.deposits)")
            #expect(
                abs(figures.depositedKg - expected.depositedKg) <= Double(expected.deposits) * Self.depositToleranceKg,
                "\(bin): booked \(figures.depositedKg) kg deposited, truth \(expected.depositedKg) kg")
            #expect(
                figures.collections == expected.collections && expected.collections == 1,
                "\(bin): \(figures) vs \(expected)")
            #expect(
                abs(figures.collectedKg - expected.collectedKg) <= Double(expected.collections)
                    * Self.collectionToleranceKg,
                "\(bin): booked \(figures.collectedKg) kg collected, truth \(expected.collectedKg) kg")
            // Contamination: found where the scenario mis-sorts, and only there. The daemon never guesses: a
            // deposit is flagged only when the posterior that it does not belong in its bin reaches 0.99, so
            // not every mis-sort is flagged (docs/accuracy.md; BinDaemonTests expect 8 of the 9 of 0.5 kg and
            // more on the baseline point), but no correctly sorted deposit may be booked as contaminated.
            // Recyclable bins are never judged by density.
            if stream == "recyclable" {
                #expect(figures.contaminatedKg == 0, "\(bin): \(figures.contaminatedKg) kg contaminated")
            } else {
                #expect(expected.misSorted >= 3, "the scenario mis-sorts into \(bin)")
                #expect(
                    figures.contaminatedKg <= expected.misSortedKg + Double(expected.misSorted)
                        * Self.depositToleranceKg,
                    "\(bin): booked \(figures.contaminatedKg) kg contaminated, more than the \(expected.misSortedKg) kg mis-sorted"
                )
                #expect(
                    figures.contaminatedKg >= Self.minimumFlaggedShare * expected.misSortedKg,
                    "\(bin): booked \(figures.contaminatedKg) kg contaminated of \(expected.misSortedKg) kg mis-sorted")
            }
            // A bin books only into its declared stream.
            for other in Figures.streams where other != stream {
                #expect(
                    ledger.stream(other).deposits == 0 && ledger.stream(other).collections == 0,
                    "\(bin) booked into \(other)")
            }
        }

        // The point and the district (one street, one community, this point) are the sums of the bins.
        let sums = sumStreams(bins)
        let pointLedger = try await aggregator.ledger(level: "point", id: device, from: "2026-06-01", to: "2026-06-01")
        let whole = try await aggregator.ledger(level: "district", id: "d-test", from: "2026-06-01", to: "2026-06-01")
        for stream in Figures.streams {
            let sum = sums[stream] ?? Figures()
            #expect(
                pointLedger.stream(stream).matches(sum), "point \(stream): \(pointLedger.stream(stream)) vs bins \(sum)"
            )
            #expect(whole.stream(stream).matches(sum), "district \(stream): \(whole.stream(stream)) vs bins \(sum)")
        }
        await aggregator.stop()
    }
}
