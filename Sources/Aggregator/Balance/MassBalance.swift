import BinProtocol

/// One stream of a station's day: what its points collected against what the station received.
public struct StreamBalance: Sendable, Equatable {
    public var stream: WasteStream
    public var collectedKg: Double
    public var receivedKg: Double

    public init(stream: WasteStream, collectedKg: Double, receivedKg: Double) {
        self.stream = stream
        self.collectedKg = collectedKg
        self.receivedKg = receivedKg
    }

    public var differenceKg: Double { receivedKg - collectedKg }
    /// Received ÷ collected; `nil` when nothing was collected.
    public var ratio: Double? { collectedKg > 0 ? receivedKg / collectedKg : nil }
}

/// A transfer station's day: per stream it receives, the collections of the points that deliver to it
/// against the station's intake (its own devices' deposits into containers of that stream, plus the
/// loads booked for it), and the two judgements the district's assessment asks for.
public struct StationBalanceDay: Sendable, Equatable {
    public var station: String
    public var day: LocalDate
    /// In the order of the station's `receives`.
    public var streams: [StreamBalance]

    public init(station: String, day: LocalDate, streams: [StreamBalance]) {
        self.station = station
        self.day = day
        self.streams = streams
    }

    public var collectedKg: Double { streams.reduce(0) { $0 + $1.collectedKg } }
    public var receivedKg: Double { streams.reduce(0) { $0 + $1.receivedKg } }
    public var differenceKg: Double { receivedKg - collectedKg }
    public var ratio: Double? { collectedKg > 0 ? receivedKg / collectedKg : nil }

    /// Each stream's difference as a fraction of what it should have been: of its own collected mass, or,
    /// for a stream nothing was collected of, of the day's total (a station receiving wet on a day its
    /// points collected none is as suspicious as it is large against the day).
    func relativeDifferences() -> [(stream: WasteStream, relative: Double)] {
        let total = collectedKg
        guard total > 0 else { return [] }
        return streams.map { ($0.stream, $0.differenceKg / ($0.collectedKg > 0 ? $0.collectedKg : total)) }
    }

    /// The `stream_mixing` value: the smaller of the largest shortfall of one stream and the largest excess
    /// of another, as fractions. It is large only when one stream lost what another gained, which is
    /// what mixing on the way looks like; a day that merely lost weight (moisture, spillage) or gained in
    /// every stream (a load counted twice) stays near zero.
    public var mixing: Double {
        let relative = relativeDifferences()
        guard let shortfall = relative.min(by: { $0.relative < $1.relative }),
            let excess = relative.filter({ $0.stream != shortfall.stream }).max(by: { $0.relative < $1.relative })
        else { return 0 }
        return max(0, min(-shortfall.relative, excess.relative))
    }

    /// The `mass_missing` value: the share of the collected mass the station did not receive.
    public var missing: Double {
        guard collectedKg > 0 else { return 0 }
        return max(0, (collectedKg - receivedKg) / collectedKg)
    }

    /// The alert kinds the day's figures reach the raise threshold of (for the API and the reports; the
    /// alert engine judges the same values with hysteresis).
    public func flags(_ settings: AlertSettings, minimumKg: Double) -> [AlertKind] {
        guard collectedKg >= minimumKg else { return [] }
        var flags: [AlertKind] = []
        if settings.rule(.streamMixing).enabled, mixing >= settings.rule(.streamMixing).raise {
            flags.append(.streamMixing)
        }
        if settings.rule(.massMissing).enabled, missing >= settings.rule(.massMissing).raise {
            flags.append(.massMissing)
        }
        return flags
    }

    /// For alert messages: `wet 320.0 → 180.0 kg (-44%), dry 410.0 → 560.0 kg (+37%)`.
    public var summary: String {
        streams.map { stream in
            let change = stream.ratio.map { String(format: " (%+.0f%%)", ($0 - 1) * 100) } ?? ""
            return String(format: "%@ %.1f → %.1f kg", stream.stream.rawValue, stream.collectedKg, stream.receivedKg)
                + change
        }.joined(separator: ", ")
    }
}

/// A station and its days.
public struct StationBalance: Sendable, Equatable {
    public var station: String
    public var name: String
    public var days: [StationBalanceDay]
}

/// The arithmetic of the balance, without I/O: sums ledger rows and loads into station days.
public enum MassBalance {
    /// The days from `from` through `to` on which the station's points collected or the station received
    /// anything, in day order. `ledger` may hold rows of any devices: only the station's delivering points'
    /// collections and its own devices' deposits count, and only of the streams it receives.
    public static func days(
        station: Registry.Station, from: LocalDate, to: LocalDate, ledger: [LedgerRow], loads: [StationLoad]
    ) -> [StationBalanceDay] {
        struct Key: Hashable {
            var day: LocalDate
            var stream: WasteStream
        }
        let receives = Set(station.receives)
        let delivering = Set(station.deliveringDevices)
        let own = Set(station.devices)
        var collected: [Key: Double] = [:]
        var received: [Key: Double] = [:]
        var days = Set<LocalDate>()
        for row in ledger where row.day >= from && row.day <= to && receives.contains(row.stream) {
            let key = Key(day: row.day, stream: row.stream)
            if delivering.contains(row.device), row.figures.collectedKg > 0 {
                collected[key, default: 0] += row.figures.collectedKg
                days.insert(row.day)
            }
            if own.contains(row.device), row.figures.depositedKg > 0 {
                received[key, default: 0] += row.figures.depositedKg
                days.insert(row.day)
            }
        }
        for load in loads
        where load.station == station.id && load.day >= from && load.day <= to && receives.contains(load.stream) {
            received[Key(day: load.day, stream: load.stream), default: 0] += load.massKg
            days.insert(load.day)
        }
        return days.sorted().map { day in
            StationBalanceDay(
                station: station.id, day: day,
                streams: station.receives.map {
                    StreamBalance(
                        stream: $0, collectedKg: collected[Key(day: day, stream: $0)] ?? 0,
                        receivedKg: received[Key(day: day, stream: $0)] ?? 0)
                })
        }
    }
}

/// Reads what the balance needs from the store: one ledger read over the stations' points and devices and
/// one read of their loads.
public struct BalanceReader: Sendable {
    public let registry: Registry
    public let store: any AggregatorStore

    public init(registry: Registry, store: any AggregatorStore) {
        self.registry = registry
        self.store = store
    }

    /// The balances of `stations` (all when `nil`; unknown ids are left out) from `from` through `to`.
    /// `ledger`: rows the caller has read already that cover the stations' devices over the range (a
    /// report reads the whole district's); read here when nil.
    public func balances(
        stations ids: [String]?, from: LocalDate, to: LocalDate, ledger rows: [LedgerRow]? = nil
    ) async throws(AggregatorError) -> [StationBalance] {
        let stations = ids.map { $0.compactMap(registry.station) } ?? registry.stations
        guard !stations.isEmpty else { return [] }
        let devices = Array(Set(stations.flatMap { $0.devices + $0.deliveringDevices })).sorted()
        var ledger = rows ?? []
        if rows == nil, !devices.isEmpty { ledger = try await store.ledger(devices: devices, from: from, to: to) }
        let loads = try await store.loads(stations: stations.map(\.id), from: from, to: to)
        return stations.map { station in
            StationBalance(
                station: station.id, name: station.name,
                days: MassBalance.days(station: station, from: from, to: to, ledger: ledger, loads: loads))
        }
    }

    /// One station's day, with zero figures when nothing happened.
    public func day(station: Registry.Station, day: LocalDate) async throws(AggregatorError) -> StationBalanceDay {
        let balance = try await balances(stations: [station.id], from: day, to: day).first
        return balance?.days.first
            ?? StationBalanceDay(
                station: station.id, day: day,
                streams: station.receives.map { StreamBalance(stream: $0, collectedKg: 0, receivedKg: 0) })
    }
}
