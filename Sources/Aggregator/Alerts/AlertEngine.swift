import BinProtocol
import Foundation
import Logging
import Metrics
import Synchronization

/// Decides when alerts raise and clear, and applies lifecycle steps to the store with their deliveries.
///
/// Subjects: `bin:{device}/{bin}` (bin_full, bin_overflow, contamination, sensor_fault on a bin),
/// `device:{device}` (device_offline, device-wide sensor_fault), `target:{id}` (target_off_track),
/// `milestone:{id}` (coverage_behind), `station:{id}/{day}` (stream_mixing, mass_missing: a balance is about
/// one day, so each day is its own subject and a late load that corrects a day clears that day's alert).
///
/// Raise and clear times are the observation's time: the payload's `ts` for device-derived conditions
/// (so a replayed day's alerts land on that day in the daily inspection), wall time for liveness and
/// targets. Acknowledgements are wall time.
///
/// Several instances may run engines against one database: each keeps its own conditions, the
/// database's one-open-alert index makes sure a raise happens once, and compare-and-set transitions make
/// sure a clear or acknowledgement is applied (and delivered) once.
public actor AlertEngine {
    public struct Key: Hashable, Sendable {
        public var kind: AlertKind
        public var subject: String
    }

    private let settings: AlertSettings
    private let webhooks: [WebhookSettings]
    private let store: any AggregatorStore
    private let registry: Registry
    private let calendar: LedgerCalendar
    private let targets: TargetEvaluator
    private let livenessStaleAfterMs: Int64
    private let logger: Logger
    private let raisedCounters: [AlertKind: Counter]
    private let clock: @Sendable () -> Int64
    private let deliveriesEnqueued: @Sendable () -> Void
    private var conditions: [Key: AlertCondition] = [:]
    private var loaded = false
    /// Decisions taken and not yet written: a batch of observations is decided in memory and written in
    /// one transaction (``flush()``).
    private var pendingSteps: [PendingStep] = []

    private enum PendingStep {
        case raise(AlertRecord, deliveries: [DeliveryRequest])
        case clear(Key, value: Double, atMs: Int64)
    }
    /// Bins whose contamination condition is not at rest: only for them does an ordinary deposit matter.
    private let watchedBins = Mutex<Set<String>>([])
    private let balance: BalanceReader
    private let balanceSettings: BalanceSettings
    /// Station days with bookings not yet judged, and the wall time of the latest booking.
    private var unjudgedStationDays: [StationDay: Int64] = [:]
    /// The latest time a station's own devices have reported: a station that reports the next day has
    /// finished receiving the day before.
    private var stationClock: [String: Int64] = [:]
    private var lookbackQueued = false
    /// The learned fill rates, for `bin_full_soon` (nil: not judged).
    private let forecasts: ForecastSnapshot?
    private let fullSoonHorizonHours: Double

    struct StationDay: Hashable {
        var station: String
        var day: LocalDate
    }

    public init(
        configuration: AggregatorConfiguration, registry: Registry, store: any AggregatorStore,
        metricsFactory: any MetricsFactory,
        logger: Logger, clock: @escaping @Sendable () -> Int64 = AlertEngine.wallClock,
        forecasts: ForecastSnapshot? = nil,
        deliveriesEnqueued: @escaping @Sendable () -> Void = {}
    ) {
        self.forecasts = forecasts
        fullSoonHorizonHours = configuration.forecast.fullSoonHorizonHours
        settings = configuration.alerts
        webhooks = configuration.webhooks
        self.store = store
        self.registry = registry
        calendar = LedgerCalendar(timeZone: configuration.timeZone)
        targets = TargetEvaluator(settings: configuration.targets, registry: registry)
        balance = BalanceReader(registry: registry, store: store)
        balanceSettings = configuration.balance
        livenessStaleAfterMs = Int64(configuration.liveness.staleAfterSeconds) * 1000
        self.logger = logger
        self.clock = clock
        self.deliveriesEnqueued = deliveriesEnqueued
        raisedCounters = Dictionary(
            uniqueKeysWithValues: AlertKind.allCases.map {
                (
                    $0,
                    Counter(
                        label: "bins_alerts_raised_total", dimensions: [("kind", $0.rawValue)], factory: metricsFactory)
                )
            })
    }

    public static let wallClock: @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) }

    /// Rebuilds the conditions of open alerts from the store, so state survives restarts.
    public func load() async throws(AggregatorError) {
        for alert in try await store.openAlerts() {
            conditions[Key(kind: alert.kind, subject: alert.subject)] = AlertCondition(active: true)
            if alert.kind == .contamination { watchedBins.withLock { _ = $0.insert(alert.subject) } }
        }
        loaded = true
    }

    // MARK: Observations

    /// Whether `observation` can change anything, so ingest can skip handing over the many that cannot
    /// (an ordinary deposit into a bin with no contamination condition in progress). Safe to call from
    /// ingest's thread.
    public nonisolated func wants(_ observation: AlertObservation) -> Bool {
        guard case .deposit(let device, let bin, _, _, let contaminated) = observation else { return true }
        return contaminated || watchedBins.withLock { $0.contains("bin:\(device)/\(bin)") }
    }

    public func observe(_ observation: AlertObservation) async {
        await observe([observation])
    }

    /// Decides on each observation in order, then writes every resulting raise and clear in one
    /// transaction.
    public func observe(_ observations: [AlertObservation]) async {
        do {
            if !loaded { try await load() }
            for observation in observations { try await decide(observation) }
            try await flush()
        } catch {
            // A shutdown cancels the evaluation in flight; that is not a failure worth reporting.
            guard !Task.isCancelled else { return }
            logger.error("alerts.evaluation_failed", metadata: ["alerts.error": "\(error)"])
        }
    }

    private func decide(_ observation: AlertObservation) async throws(AggregatorError) {
        switch observation {
        case .binState(let state):
            guard let fill = state.fill else { return }
            let subject = "bin:\(state.device)/\(state.bin)"
            let at = state.ts.millisecondsSinceEpoch
            try await evaluate(
                .binFull, subject: subject, value: fill, atMs: at, message: Self.fillMessage(state, kind: .binFull))
            try await evaluate(
                .binOverflow, subject: subject, value: fill, atMs: at,
                message: Self.fillMessage(state, kind: .binOverflow))
            try await evaluateFullSoon(state, fill: fill, subject: subject, atMs: at)
        case .fault(let device, let bin, let at):
            let active = try await store.faults(activeOnly: true).filter {
                $0.device == device && $0.bin == (bin ?? "")
            }
            let subject = bin.map { "bin:\(device)/\($0)" } ?? "device:\(device)"
            let codes = active.map(\.code).joined(separator: ", ")
            try await evaluate(
                .sensorFault, subject: subject, value: Double(active.count), atMs: at.millisecondsSinceEpoch,
                message: active.isEmpty ? "no active faults on \(subject)" : "active faults on \(subject): \(codes)")
        case .deposit(let device, let bin, let day, let at, let contaminated):
            // The bin's rate can only rise with a mis-sorted deposit, and only matters for clearing
            // while an alert is open: other deposits need no query.
            let subject = "bin:\(device)/\(bin)"
            guard contaminated || conditions[Key(kind: .contamination, subject: subject)]?.isActive == true else {
                return
            }
            let rows = try await store.ledger(devices: [device], from: day, to: day).filter { $0.bin == bin }
            let figures = rows.reduce(LedgerFigures.zero) { $0 + $1.figures }
            guard figures.depositedKg >= settings.contaminationMinimumKg, figures.depositedKg > 0 else { return }
            let rate = figures.contaminatedKg / figures.depositedKg
            try await evaluate(
                .contamination, subject: subject, value: rate, atMs: at.millisecondsSinceEpoch,
                message: String(
                    format: "bin:%@/%@: %.0f%% of %.1f kg deposited on %@ looks mis-sorted", device, bin, rate * 100,
                    figures.depositedKg, day.description))
        case .status(let device):
            try await evaluateLiveness(devices: try await store.devices(ids: [device]))
        case .stationActivity(let station, let day, let atMs, let fromStation):
            unjudgedStationDays[StationDay(station: station, day: day)] = clock()
            if fromStation { stationClock[station] = max(stationClock[station] ?? .min, atMs) }
        }
    }

    /// The periodic (wall-clock) evaluation: liveness of every device, targets and coverage.
    public func tick() async {
        do {
            if !loaded { try await load() }
            let devices = try await store.devices()
            try await evaluateLiveness(devices: devices)
            let nowMs = clock()
            for status in try await targets.evaluate(store: store, calendar: calendar, nowMs: nowMs, devices: devices) {
                let isCoverage = status.id.hasPrefix("coverage.")
                let kind: AlertKind = isCoverage ? .coverageBehind : .targetOffTrack
                let subject = isCoverage ? "milestone:\(status.id.dropFirst("coverage.".count))" : "target:\(status.id)"
                let current = status.current.map { String(format: "%.3f", $0) } ?? "no data"
                let projected = status.projected.map { String(format: "%.3f", $0) } ?? "none"
                try await evaluate(
                    kind, subject: subject, value: status.status.severityValue, atMs: nowMs,
                    message:
                        "\(status.name) is \(status.status.rawValue): current \(current), projected \(projected), target \(status.target) by \(status.deadline) (\(status.detail))"
                )
            }
            try await judgeBalances()
            try await flush()
        } catch {
            // A shutdown cancels the evaluation in flight; that is not a failure worth reporting.
            guard !Task.isCancelled else { return }
            logger.error("alerts.evaluation_failed", metadata: ["alerts.error": "\(error)"])
        }
    }

    /// Judges the station days that are settled: the day is over and either the station itself has
    /// reported from a later day, or nothing touching the day has been booked for `settle_s` (collections
    /// are booked in the morning, the loads they become arrive later, and a day judged half-way would
    /// raise `mass_missing` on every honest morning). A day is judged again when a late booking touches
    /// it. Alerts carry the end of the day as their time, so they land on that day's inspection.
    private func judgeBalances() async throws(AggregatorError) {
        let nowMs = clock()
        let today = calendar.today(nowMilliseconds: nowMs)
        if !lookbackQueued {
            // After a restart, the last days are judged again (their conditions were lost with the process).
            lookbackQueued = true
            for station in registry.stations {
                for back in 1...Int64(balanceSettings.lookbackDays) {
                    let key = StationDay(station: station.id, day: today.adding(days: -back))
                    unjudgedStationDays[key] = unjudgedStationDays[key] ?? .min / 2
                }
            }
        }
        let settleMs = Int64(balanceSettings.settleSeconds) * 1000
        let due = unjudgedStationDays.filter { key, lastBookedMs in
            let stationMovedOn = (stationClock[key.station] ?? .min) >= calendar.startOfDay(key.day.adding(days: 1))
            return stationMovedOn || (key.day < today && nowMs - lastBookedMs >= settleMs)
        }.keys.sorted { ($0.station, $0.day) < ($1.station, $1.day) }
        for key in due {
            unjudgedStationDays[key] = nil
            guard let station = registry.station(key.station) else { continue }
            let figures = try await balance.day(station: station, day: key.day)
            let judged = figures.collectedKg >= balanceSettings.minimumKg
            let subject = "station:\(key.station)/\(key.day)"
            let atMs = calendar.startOfDay(key.day.adding(days: 1)) - 1
            try await evaluate(
                .streamMixing, subject: subject, value: judged ? figures.mixing : 0, atMs: atMs,
                message: String(
                    format: "%@ on %@: streams mixed on the way (%@)", station.name, key.day.description,
                    figures.summary))
            try await evaluate(
                .massMissing, subject: subject, value: judged ? figures.missing : 0, atMs: atMs,
                message: String(
                    format: "%@ on %@: received %.1f of %.1f kg collected (%.0f%% missing)", station.name,
                    key.day.description,
                    figures.receivedKg, figures.collectedKg, figures.missing * 100))
        }
    }

    /// Devices never heard from are not judged: an uninstalled point is a coverage matter, not an outage.
    private func evaluateLiveness(devices: [DeviceRecord]) async throws(AggregatorError) {
        let nowMs = clock()
        for device in devices where registry.isKnown(device: device.device) && device.lastSeenMs != nil {
            let silent = device.silentSeconds(nowMs: nowMs)
            let reason =
                device.online == false
                ? "reported offline"
                : device.isLive(nowMs: nowMs, staleAfterMs: livenessStaleAfterMs) ? "online" : "silent"
            try await evaluate(
                .deviceOffline, subject: "device:\(device.device)", value: silent, atMs: nowMs,
                message: String(format: "device:%@ %@ for %.0f s", device.device, reason, silent))
        }
    }

    /// `bin_full_soon`: the horizon divided by the forecast hours until full, so 1 means full right at the
    /// horizon and more means sooner; 0 when the forecast does not see it full within four horizons.
    private func evaluateFullSoon(_ state: StatePayload, fill: Double, subject: String, atMs: Int64)
        async throws(AggregatorError)
    {
        guard settings.rule(.binFullSoon).enabled, let forecasts = forecasts?.forecasts else { return }
        let horizonMs = Int64(fullSoonHorizonHours * 4 * 3_600_000)
        guard let forecast = forecasts.forecast(from: state, horizonMs: horizonMs) else { return }
        var value = 0.0
        var message =
            "bin:\(state.device)/\(state.bin) (\(state.stream.rawValue)) is not forecast to be full within \(Int(fullSoonHorizonHours * 4)) h"
        if let fullAtMs = forecast.fullAtMs {
            let hours = max(Double(fullAtMs - atMs) / 3_600_000, 0.01)
            value = fullSoonHorizonHours / hours
            message = String(
                format: "bin:%@/%@ (%@) is %d%% full and forecast full at %@ (in %.1f h)", state.device, state.bin,
                state.stream.rawValue,
                Int((fill * 100).rounded()), calendar.minutes(millisecondsSinceEpoch: fullAtMs), hours)
        }
        try await evaluate(.binFullSoon, subject: subject, value: value, atMs: atMs, message: message)
    }

    static func fillMessage(_ state: StatePayload, kind: AlertKind) -> String {
        let percent = Int(((state.fill ?? 0) * 100).rounded())
        return
            "bin:\(state.device)/\(state.bin) (\(state.stream.rawValue)) is \(percent)% full\(kind == .binOverflow ? ", overflowing" : "")"
    }

    // MARK: Decisions

    private func evaluate(_ kind: AlertKind, subject: String, value: Double, atMs: Int64, message: String)
        async throws(AggregatorError)
    {
        let rule = settings.rule(kind)
        guard rule.enabled else { return }
        let key = Key(kind: kind, subject: subject)
        var condition = conditions[key] ?? AlertCondition()
        let decision = condition.observe(value: value, atMs: atMs, rule: rule)
        conditions[key] = condition
        if kind == .contamination {
            let atRest = condition.phase == .normal
            watchedBins.withLock { bins in
                if atRest { bins.remove(subject) } else { bins.insert(subject) }
            }
        }
        switch decision {
        case .raise?:
            let alert = AlertRecord(
                id: UUID().uuidString.lowercased(), kind: kind, severity: rule.severity, subject: subject,
                value: value, threshold: rule.raise, message: message, raisedAtMs: atMs)
            pendingSteps.append(.raise(alert, deliveries: deliveries(for: alert)))
        case .clear?:
            pendingSteps.append(.clear(key, value: value, atMs: atMs))
        case nil:
            break
        }
    }

    /// Writes the pending decisions in order in one transaction. A clear refers to the open alert of its
    /// kind and subject: one raised earlier in the same batch, or one read from the store (one read for
    /// the batch). A clear whose compare-and-set fails (another instance or an operator moved the alert)
    /// is retried on its own with a fresh read. When the write fails, the decisions stay pending for the
    /// next flush.
    private func flush() async throws(AggregatorError) {
        guard !pendingSteps.isEmpty else { return }
        let pending = pendingSteps
        pendingSteps = []
        do {
            try await write(pending)
        } catch {
            pendingSteps = pending + pendingSteps
            throw error
        }
    }

    private func write(_ pending: [PendingStep]) async throws(AggregatorError) {
        var open: [Key: AlertRecord] = [:]
        if pending.contains(where: { if case .clear = $0 { true } else { false } }) {
            for alert in try await store.openAlerts() { open[Key(kind: alert.kind, subject: alert.subject)] = alert }
        }
        var steps: [AlertStep] = []
        var clears: [Int: (key: Key, value: Double, atMs: Int64)] = [:]
        for step in pending {
            switch step {
            case .raise(let alert, let deliveries):
                open[Key(kind: alert.kind, subject: alert.subject)] = alert
                steps.append(.raise(alert, deliveries: deliveries))
            case .clear(let key, let value, let atMs):
                guard var alert = open.removeValue(forKey: key) else { continue }
                let previous = alert.state
                try alert.clear(atMs: max(atMs, alert.raisedAtMs), value: value)
                clears[steps.count] = (key, value, atMs)
                steps.append(.transition(alert, from: previous, deliveries: deliveries(for: alert)))
            }
        }
        let applied = try await store.applyAlertSteps(steps)
        var retries: [(key: Key, value: Double, atMs: Int64)] = []
        for (index, (step, done)) in zip(steps, applied).enumerated() {
            switch step {
            case .raise(let alert, _) where done:
                raisedCounters[alert.kind]?.increment()
                logger.notice(
                    "alerts.raised",
                    metadata: [
                        "alert.id": "\(alert.id)", "alert.kind": "\(alert.kind.rawValue)",
                        "alert.subject": "\(alert.subject)",
                    ])
            case .transition(let alert, _, _) where done:
                logger.notice(
                    "alerts.cleared", metadata: ["alert.id": "\(alert.id)", "alert.kind": "\(alert.kind.rawValue)"])
            case .transition:
                if let clear = clears[index] { retries.append(clear) }
            case .raise:
                break
            }
        }
        if applied.contains(true) { deliveriesEnqueued() }
        for retry in retries { try await clear(retry.key, value: retry.value, atMs: retry.atMs) }
    }

    private func clear(_ key: Key, value: Double, atMs: Int64) async throws(AggregatorError) {
        // Another instance may acknowledge or clear it meanwhile; a failed compare-and-set re-reads.
        for _ in 0..<3 {
            guard
                var alert = try await store.openAlerts().first(where: {
                    $0.kind == key.kind && $0.subject == key.subject
                })
            else {
                return
            }
            let previous = alert.state
            try alert.clear(atMs: max(atMs, alert.raisedAtMs), value: value)
            if try await store.transitionAlert(alert, from: previous, deliveries: deliveries(for: alert)) {
                deliveriesEnqueued()
                logger.notice(
                    "alerts.cleared", metadata: ["alert.id": "\(alert.id)", "alert.kind": "\(key.kind.rawValue)"])
                return
            }
        }
    }

    /// raised → acknowledged, by the named API token. Returns the alert as stored afterwards.
    public func acknowledge(id: String, by who: String) async throws(AggregatorError) -> AlertRecord {
        for _ in 0..<3 {
            guard var alert = try await store.alert(id: id) else {
                throw AggregatorError(.notFound, "no alert with id \(id)")
            }
            let previous = alert.state
            try alert.acknowledge(by: who, atMs: clock())
            if previous == .acknowledged { return alert }
            if try await store.transitionAlert(alert, from: previous, deliveries: deliveries(for: alert)) {
                deliveriesEnqueued()
                logger.notice("alerts.acknowledged", metadata: ["alert.id": "\(id)", "alert.by": "\(who)"])
                return alert
            }
        }
        throw AggregatorError(.conflict, "alert \(id) changed while it was being acknowledged; try again")
    }

    /// One delivery to MQTT and one to every webhook that wants this kind and severity.
    func deliveries(for alert: AlertRecord) -> [DeliveryRequest] {
        let payload = alert.payload(calendar: calendar, nowMs: clock())
        guard let body = try? WireCodec.encodeString(payload) else { return [] }
        var requests = [DeliveryRequest(target: Delivery.mqttTarget, body: body)]
        for webhook in webhooks
        where (webhook.kinds.isEmpty || webhook.kinds.contains(alert.kind)) && alert.severity >= webhook.minimumSeverity
        {
            requests.append(DeliveryRequest(target: Delivery.webhookTarget(webhook.name), body: body))
        }
        return requests
    }

    /// For tests and diagnostics: the condition of one subject.
    public func condition(kind: AlertKind, subject: String) -> AlertCondition? {
        conditions[Key(kind: kind, subject: subject)]
    }
}
