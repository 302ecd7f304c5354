import Aggregator
import BinProtocol

/// Everything the console shows about the district's bins at one moment, read once per page: the
/// registry joined with the devices' last status and birth, the bins' last state, active faults and open
/// alerts.
struct DistrictSnapshot: Sendable {
    /// One bin as it stands now.
    struct Bin: Sendable {
        var point: Registry.Point
        var pointName: String { point.name }
        var bin: String
        var stream: WasteStream?
        var capacityL: Double?
        var state: StatePayload?
        var stateReceivedMs: Int64?
        /// The device is live (status online and heard from recently).
        var live: Bool
        var lastSeenMs: Int64?
        /// Open alerts about this bin (`bin:{device}/{bin}`) or its whole device (`device:{device}`).
        var alerts: [AlertRecord]
        /// Active faults of this bin or of its whole device.
        var faults: [FaultRecord]
        var isFull: Bool
        var isOffline: Bool { !live }
        var isFaulty: Bool
    }

    /// One sorting point.
    struct Point: Sendable {
        var point: Registry.Point
        var device: DeviceRecord?
        var live: Bool
        var bins: [Bin]
        var alerts: [AlertRecord]
        var faults: [FaultRecord]

        /// The worst thing about the point, for the map's marker: offline, fault, full, or well.
        var condition: Condition {
            if device?.lastSeenMs == nil { return .unknown }
            if !live { return .offline }
            if !faults.isEmpty || bins.contains(where: \.isFaulty) { return .fault }
            if bins.contains(where: \.isFull) { return .full }
            return .ok
        }
    }

    enum Condition: String, Sendable {
        case ok, full, fault, offline, unknown
    }

    var registry: Registry
    var nowMs: Int64
    var devices: [String: DeviceRecord]
    var bins: [Bin]
    var points: [Point]
    var openAlerts: [AlertRecord]

    static func load(runtime: AggregatorRuntime, nowMs: Int64) async throws -> DistrictSnapshot {
        let store = runtime.store
        async let deviceList = store.devices()
        async let stateList = store.binStates()
        async let faultList = store.faults(activeOnly: true)
        async let alertList = store.openAlerts()
        let devices = Dictionary(try await deviceList.map { ($0.device, $0) }, uniquingKeysWith: { first, _ in first })
        var states: [String: [String: BinStateRecord]] = [:]
        for record in try await stateList { states[record.device, default: [:]][record.state.bin] = record }
        var faultsByDevice: [String: [FaultRecord]] = [:]
        for fault in try await faultList { faultsByDevice[fault.device, default: []].append(fault) }
        let alerts = try await alertList
        var alertsBySubject: [String: [AlertRecord]] = [:]
        for alert in alerts { alertsBySubject[alert.subject, default: []].append(alert) }

        let staleAfterMs = Int64(runtime.configuration.liveness.staleAfterSeconds) * 1000
        let fullAt = runtime.configuration.alerts.rule(.binFull).raise
        var bins: [Bin] = []
        var points: [Point] = []
        bins.reserveCapacity(runtime.registry.points.count * 4)
        for point in runtime.registry.points {
            let device = devices[point.device]
            let live = device?.isLive(nowMs: nowMs, staleAfterMs: staleAfterMs) ?? false
            let deviceStates = states[point.device] ?? [:]
            var binIDs = device?.bins.map(\.id) ?? []
            for id in deviceStates.keys.sorted() where !binIDs.contains(id) { binIDs.append(id) }
            let deviceAlerts = alertsBySubject["device:\(point.device)"] ?? []
            let deviceFaults = faultsByDevice[point.device] ?? []
            var pointBins: [Bin] = []
            for binID in binIDs {
                let descriptor = device?.bins.first { $0.id == binID }
                let record = deviceStates[binID]
                let binAlerts = alertsBySubject["bin:\(point.device)/\(binID)"] ?? []
                let binFaults = deviceFaults.filter { $0.bin == binID || $0.bin.isEmpty }
                let full =
                    (record?.state.fill).map { $0 >= fullAt } ?? false
                    || binAlerts.contains { $0.kind == .binFull || $0.kind == .binOverflow }
                let faulty =
                    !binFaults.isEmpty || binAlerts.contains { $0.kind == .sensorFault }
                    || deviceAlerts.contains { $0.kind == .sensorFault }
                pointBins.append(
                    Bin(
                        point: point, bin: binID, stream: descriptor?.stream ?? record?.state.stream,
                        capacityL: descriptor?.capacityL,
                        state: record?.state, stateReceivedMs: record?.receivedAtMs, live: live,
                        lastSeenMs: device?.lastSeenMs,
                        alerts: binAlerts + deviceAlerts, faults: binFaults, isFull: full, isFaulty: faulty))
            }
            bins += pointBins
            let pointAlerts = alerts.filter {
                $0.subject == "device:\(point.device)" || $0.subject.hasPrefix("bin:\(point.device)/")
            }
            points.append(
                Point(
                    point: point, device: device, live: live, bins: pointBins, alerts: pointAlerts, faults: deviceFaults
                ))
        }
        return DistrictSnapshot(
            registry: runtime.registry, nowMs: nowMs, devices: devices, bins: bins, points: points, openAlerts: alerts)
    }
}
