import BinProtocol

/// Every bin's learned fill rate, read from the store at once, and the forecasts made from it.
///
/// A bin's profile is learned from its own deposits' volumes over `history_days` (from its first deposit
/// when it is newer, so a bin installed last week is not diluted by three empty weeks); each community's
/// mean profile per stream stands in for a bin with too little history of its own. Capacities come from
/// the devices' birth messages: a bin whose capacity is unknown gets no forecast.
public struct BinForecasts: Sendable {
    public struct BinKey: Hashable, Sendable {
        public var device: String
        public var bin: String

        public init(device: String, bin: String) {
            self.device = device
            self.bin = bin
        }
    }

    struct StreamKey: Hashable {
        var community: String
        var stream: WasteStream
    }

    public let calendar: LedgerCalendar
    public let collectionFill: Double
    /// The end of the history learned from.
    public let learnedUntilMs: Int64
    let profiles: [BinKey: FillRateProfile]
    let fallbacks: [StreamKey: FillRateProfile]
    let bins: [BinKey: BinDescriptor]
    let communities: [String: String]

    /// Learns from the deposits booked on the local days of the `historyDays` before `untilMs` (deposits at
    /// or after `untilMs` are left out, so a plan for a past day uses only what was known by then).
    public static func learn(
        store: any AggregatorStore, registry: Registry, calendar: LedgerCalendar, collectionFill: Double,
        historyDays: Int, untilMs: Int64
    ) async throws(AggregatorError) -> BinForecasts {
        let lastDay = calendar.localDate(millisecondsSinceEpoch: untilMs)
        let firstDay = lastDay.adding(days: -Int64(historyDays))
        let windowStartMs = calendar.startOfDay(firstDay)
        var deposits: [BinKey: [(atMs: Int64, litres: Double?)]] = [:]
        for stored in try await store.events(from: firstDay, to: lastDay, types: [.deposit]) {
            guard case .deposit(let deposit) = stored.event.body else { continue }
            let atMs = stored.event.ts.millisecondsSinceEpoch
            guard atMs >= windowStartMs, atMs < untilMs else { continue }
            deposits[BinKey(device: stored.event.device, bin: deposit.bin), default: []].append((atMs, deposit.volumeL))
        }
        var bins: [BinKey: BinDescriptor] = [:]
        for device in try await store.devices() where registry.isKnown(device: device.device) {
            for bin in device.bins { bins[BinKey(device: device.device, bin: bin.id)] = bin }
        }
        var communities: [String: String] = [:]
        for point in registry.points { communities[point.device] = point.community }

        var profiles: [BinKey: FillRateProfile] = [:]
        var byStream: [StreamKey: [FillRateProfile]] = [:]
        for (key, list) in deposits {
            guard let descriptor = bins[key], let community = communities[key.device] else { continue }
            let firstMs = list.map(\.atMs).min() ?? windowStartMs
            let fromMs = max(windowStartMs, calendar.startOfDay(calendar.localDate(millisecondsSinceEpoch: firstMs)))
            let profile = FillRateProfile.learn(deposits: list, fromMs: fromMs, toMs: untilMs, calendar: calendar)
            profiles[key] = profile
            byStream[StreamKey(community: community, stream: descriptor.stream), default: []].append(profile)
        }
        return BinForecasts(
            calendar: calendar, collectionFill: collectionFill, learnedUntilMs: untilMs, profiles: profiles,
            fallbacks: byStream.compactMapValues(FillRateProfile.mean), bins: bins, communities: communities)
    }

    /// The bin's capacity and stream as its device announced them.
    public func descriptor(device: String, bin: String) -> BinDescriptor? { bins[BinKey(device: device, bin: bin)] }

    /// The forecast from a bin's reading (its state message); nil when the reading has no fill.
    public func forecast(from state: StatePayload, horizonMs: Int64) -> FillForecast? {
        guard let fill = state.fill else { return nil }
        return forecast(
            device: state.device, bin: state.bin, fill: fill, atMs: state.ts.millisecondsSinceEpoch,
            horizonMs: horizonMs)
    }

    /// When the bin, at `fill` at `atMs`, reaches the collection fill and full, looking `horizonMs` ahead;
    /// nil for a bin without a known capacity or any history to go by.
    public func forecast(device: String, bin: String, fill: Double, atMs: Int64, horizonMs: Int64) -> FillForecast? {
        let key = BinKey(device: device, bin: bin)
        guard let descriptor = bins[key] else { return nil }
        let fallback = communities[device].flatMap { fallbacks[StreamKey(community: $0, stream: descriptor.stream)] }
        return FillForecaster.forecast(
            fill: fill, atMs: atMs, capacityL: descriptor.capacityL, collectionFill: collectionFill,
            profile: profiles[key],
            fallback: fallback, calendar: calendar, horizonMs: horizonMs)
    }
}
