import Aggregator
import BinProtocol
import Foundation
import Metrics
import Synchronization
import Testing

/// The alert engine against a real SQLite store, fed observations as ingest would, with a settable
/// wall clock: each kind raises and clears on its own rule, raises once, and comes back after a restart.
@Suite("Alert engine")
struct AlertEngineTests {
    final class Clock: Sendable {
        let now = Mutex<Int64>(1_780_272_000_000)  // 2026-06-01T08:00+08:00
        func advance(seconds: Int64) { now.withLock { $0 += seconds * 1000 } }
        var read: @Sendable () -> Int64 { { self.now.withLock { $0 } } }
    }

    static let yaml = """
        time_zone: Asia/Shanghai
        instance: engine-test
        broker: {host: 127.0.0.1}
        storage: {sqlite: unused.sqlite}
        district: {id: d1}
        liveness: {stale_after_s: 60}
        streets:
          - id: s1
            communities:
              - {id: c1, kind: property, households: 10, points: [pt-1, pt-2]}
        alerts:
          bin_full: {raise: 0.8, clear: 0.6, for_s: 300}
          device_offline: {raise: 120, clear: 30}
          contamination: {raise: 0.3, clear: 0.1}
          contamination_min_kg: 2
        """

    static func engine(_ store: any AggregatorStore, clock: Clock) throws -> AlertEngine {
        let configuration = try AggregatorConfiguration.parse(yaml: yaml, source: "aggregator.yaml")
        return AlertEngine(
            configuration: configuration, registry: Registry(configuration), store: store,
            metricsFactory: NOOPMetricsHandler.instance,
            logger: Fixtures.logger, clock: clock.read)
    }

    static func state(fill: Double, minutes: Int64) -> AlertObservation {
        .binState(
            StatePayload(
                device: "pt-1", ts: Fixtures.time(minutes), bin: "wet", stream: .wet, fill: fill, massKg: 10,
                lidOpen: false,
                quality: .good, temperatureC: nil))
    }

    @Test("bin_full raises after five minutes at 80 % by the device's clock, once, and clears at 60 %")
    func binFull() async throws {
        try await Fixtures.withStore(.sqlite) { store async throws in
            let engine = try Self.engine(store, clock: Clock())
            await engine.observe(Self.state(fill: 0.85, minutes: 0))
            await engine.observe(Self.state(fill: 0.9, minutes: 4))
            #expect(try await store.openAlerts().isEmpty)
            await engine.observe(Self.state(fill: 0.9, minutes: 5))
            let open = try await store.openAlerts()
            #expect(open.map(\.kind) == [.binFull])
            #expect(open.first?.raisedAtMs == Fixtures.time(5).millisecondsSinceEpoch)
            await engine.observe(Self.state(fill: 0.95, minutes: 6))
            await engine.observe(Self.state(fill: 0.7, minutes: 7))
            #expect(try await store.openAlerts().count == 1)
            await engine.observe(Self.state(fill: 0.5, minutes: 8))
            #expect(try await store.openAlerts().isEmpty)
            #expect(
                try await store.alerts(state: .cleared, limit: 10).first?.clearedAtMs
                    == Fixtures.time(8).millisecondsSinceEpoch)
            // raised and cleared, each to MQTT (no webhooks configured).
            #expect(try await store.pendingDeliveries().count == 2)
        }
    }

    @Test(
        "a batch is decided in order and written at once: raise, clear and raise again of one bin in one batch",
        arguments: StoreKind.allCases)
    func batchInOrder(kind: StoreKind) async throws {
        try await Fixtures.withStore(kind) { store async throws in
            let engine = try Self.engine(store, clock: Clock())
            await engine.observe([
                Self.state(fill: 0.85, minutes: 0), Self.state(fill: 0.9, minutes: 5),  // raised at minute 5
                Self.state(fill: 0.5, minutes: 6),  // cleared
                Self.state(fill: 0.9, minutes: 7), Self.state(fill: 0.95, minutes: 12),  // raised again at minute 12
            ])
            let open = try await store.openAlerts()
            #expect(open.map(\.raisedAtMs) == [Fixtures.time(12).millisecondsSinceEpoch])
            let cleared = try await store.alerts(state: .cleared, limit: 10)
            #expect(cleared.map(\.raisedAtMs) == [Fixtures.time(5).millisecondsSinceEpoch])
            #expect(cleared.map(\.clearedAtMs) == [Fixtures.time(6).millisecondsSinceEpoch])
            // Each step's delivery, the first alert's in order (raised before cleared).
            let deliveries = try await store.pendingDeliveries()
            #expect(deliveries.count == 3)
            let first = deliveries.filter { $0.alertID == cleared.first?.id }.map(\.body)
            #expect(
                first.count == 2 && first[0].contains(#""state":"raised""#) && first[1].contains(#""state":"cleared""#))
            // The second alert clears on its own later.
            await engine.observe([Self.state(fill: 0.5, minutes: 13)])
            #expect(try await store.openAlerts().isEmpty)
            #expect(try await store.pendingDeliveries().count == 4)
        }
    }

    @Test("an open alert survives a restart: the new engine clears it instead of raising a second")
    func survivesRestart() async throws {
        try await Fixtures.withStore(.sqlite) { store async throws in
            let clock = Clock()
            let first = try Self.engine(store, clock: clock)
            await first.observe(Self.state(fill: 0.9, minutes: 0))
            await first.observe(Self.state(fill: 0.9, minutes: 10))
            #expect(try await store.openAlerts().count == 1)
            let second = try Self.engine(store, clock: clock)
            try await second.load()
            #expect(await second.condition(kind: .binFull, subject: "bin:pt-1/wet")?.isActive == true)
            await second.observe(Self.state(fill: 0.95, minutes: 20))
            await second.observe(Self.state(fill: 0.95, minutes: 30))
            #expect(try await store.alerts(state: nil, limit: 10).count == 1)
            await second.observe(Self.state(fill: 0.2, minutes: 40))
            #expect(try await store.openAlerts().isEmpty)
        }
    }

    @Test("sensor_fault follows the device's active faults")
    func sensorFault() async throws {
        try await Fixtures.withStore(.sqlite) { store async throws in
            let engine = try Self.engine(store, clock: Clock())
            _ = try await store.book(
                Fixtures.booking(Fixtures.fault("pt-1", seq: 1, at: Fixtures.time(0), active: true)))
            await engine.observe(.fault(device: "pt-1", bin: "wet", at: Fixtures.time(0)))
            let open = try await store.openAlerts()
            #expect(open.map(\.kind) == [.sensorFault])
            #expect(open.first?.subject == "bin:pt-1/wet")
            #expect(open.first?.message.contains("ranger.no_echo") == true)
            _ = try await store.book(
                Fixtures.booking(Fixtures.fault("pt-1", seq: 2, at: Fixtures.time(5), active: false)))
            await engine.observe(.fault(device: "pt-1", bin: "wet", at: Fixtures.time(5)))
            #expect(try await store.openAlerts().isEmpty)
        }
    }

    @Test("contamination is judged on the bin's local day once enough was deposited")
    func contamination() async throws {
        try await Fixtures.withStore(.sqlite) { store async throws in
            let engine = try Self.engine(store, clock: Clock())
            let day = Fixtures.date("2026-06-01")
            func deposit(_ seq: Int64, kg: Double, contaminated: Bool) async throws {
                let event = Fixtures.deposit(
                    "pt-1", seq: seq, at: Fixtures.time(seq), bin: "dry", stream: .dry, kg: kg,
                    observed: contaminated ? .wet : .dry,
                    contaminated: contaminated)
                _ = try await store.book(Fixtures.booking(event))
                let observation = AlertObservation.deposit(
                    device: "pt-1", bin: "dry", day: day, at: event.ts, contaminated: contaminated)
                // Ingest hands over only what can matter; the engine says which.
                if engine.wants(observation) { await engine.observe(observation) }
            }
            try await deposit(1, kg: 1, contaminated: true)  // 1 kg: below the 2 kg minimum
            #expect(try await store.openAlerts().isEmpty)
            try await deposit(2, kg: 1, contaminated: false)
            #expect(
                !engine.wants(.deposit(device: "pt-1", bin: "dry", day: day, at: Fixtures.time(3), contaminated: false))
            )
            try await deposit(3, kg: 1, contaminated: true)  // 2 of 3 kg mis-sorted
            #expect(try await store.openAlerts().map(\.kind) == [.contamination])
            #expect(
                engine.wants(.deposit(device: "pt-1", bin: "dry", day: day, at: Fixtures.time(4), contaminated: false)))
            try await deposit(4, kg: 20, contaminated: false)  // 2 of 23 kg: below the clear level
            #expect(try await store.openAlerts().isEmpty)
        }
    }

    @Test("device_offline by wall clock: silence past the raise level, the will, and recovery")
    func deviceOffline() async throws {
        try await Fixtures.withStore(.sqlite) { store async throws in
            let clock = Clock()
            let engine = try Self.engine(store, clock: clock)
            let online = StatusPayload(device: "pt-1", ts: Fixtures.time(0), online: true, session: 1)
            try await store.recordStatus(online, receivedAtMs: clock.read())
            await engine.tick()
            #expect(try await store.openAlerts().isEmpty)
            clock.advance(seconds: 121)
            await engine.tick()
            #expect(try await store.openAlerts().map(\.subject) == ["device:pt-1"])
            // It comes back: heard from again, the alert clears.
            try await store.recordStatus(
                StatusPayload(device: "pt-1", ts: Fixtures.time(3), online: true, session: 2),
                receivedAtMs: clock.read())
            await engine.observe(.status(device: "pt-1"))
            #expect(try await store.openAlerts().isEmpty)
            // The will: offline at once, raised once the offline status is 120 s old.
            try await store.recordStatus(
                StatusPayload(device: "pt-1", ts: Fixtures.time(3), online: false, session: 2),
                receivedAtMs: clock.read())
            clock.advance(seconds: 60)
            await engine.tick()
            #expect(try await store.openAlerts().isEmpty)
            clock.advance(seconds: 61)
            await engine.tick()
            #expect(try await store.openAlerts().count == 1)
            // pt-2 was never heard from: not judged.
            #expect(try await store.openAlerts().allSatisfy { $0.subject == "device:pt-1" })
        }
    }
}
