import BinProtocol
import BinsTestSupport
import Foundation
import GPIO
import MQTT
import Sensors
import SimulatedPoint
import Simulation
import Testing

@testable import BinDaemon

#if canImport(Glibc)
import Glibc
#endif

@Suite struct SimulatedBoardTests {
    @Test("boards/sim.yaml and the built-in sim board are the same board, on BinWorld's chip")
    func builtInMatchesFile() throws {
        let file = try BoardLoader.load(path: "\(boardsDirectory)/sim.yaml")
        let builtIn = BoardDefinition.simulated
        #expect(file.name == builtIn.name)
        #expect(file.chips == builtIn.chips)
        #expect(file.pins == builtIn.pins)
        let world = try BinWorld(scenario: try Scenario.load(path: scenarioFile("daemon-smoke.yaml")))
        #expect(world.chip.info.label == BoardDefinition.simulatedChipLabel)
        #expect(world.chip.info.lineCount == builtIn.chips[0].lineCount)
    }

    @Test("board: sim resolves without a board file; simulation: is refused on other boards")
    func simBoardWithoutFile() throws {
        let yaml = replacing("board: raspberry-pi", with: "board: sim")
            .replacingOccurrences(of: "GPIO23", with: "GPIO30").replacingOccurrences(of: "GPIO24", with: "GPIO31")
            .replacingOccurrences(of: "pin36", with: "GPIO36").replacingOccurrences(of: "P1-37", with: "GPIO37")
            .replacingOccurrences(of: "{chip: pinctrl-bcm2711, line: 20}", with: "GPIO20")
        let config = try ConfigLoader.parse(
            yaml: yaml, file: "binsd.yaml",
            options: ConfigLoader.Options(boardSearchPaths: [], checkReferencedFiles: false))
        #expect(config.board.name == "sim")
        #expect(config.bins[0].scale.dout == LineAddress(chipLabels: ["bins-sim"], line: 5, pinName: "GPIO5"))
        let withSimulation = validConfigYAML + "simulation: {scenario: /tmp/x.yaml}\n"
        #expect(
            configErrors(withSimulation) == [
                "binsd.yaml:29:13: simulation: only the sim board runs a simulation (board is raspberry-pi)"
            ])
    }

    @Test("the simulated installer's config is valid and carries none of the simulator's hidden constants")
    func installerConfig() throws {
        let scenario = try Scenario.load(path: scenarioFile("daemon-smoke.yaml"))
        let world = try BinWorld(scenario: scenario)
        let yaml = ScenarioInstallation.configYAML(
            scenario: scenario, scenarioFile: "daemon-smoke.yaml", wiring: world.wiring,
            broker: BrokerURL("mqtt://127.0.0.1:1883")!, username: nil, stateDirectory: "/tmp/state",
            noiseKg: ["wet": 0.00144, "dry": 0.0003])
        let config = try ConfigLoader.parse(
            yaml: yaml, file: "binsd.yaml", options: ConfigLoader.Options(boardSearchPaths: []))
        #expect(config.bins.map(\.id) == ["wet", "dry"])
        #expect(config.bins[0].thresholds.scaleNoiseKg == 0.0014)
        #expect(config.bins[1].thresholds.scaleNoiseKg == 0.0005)
        #expect(config.bins[1].ranger?.model == .jsnSR04T && config.bins[1].ranger?.mountMm == 260)
        #expect(config.bins[0].lid?.line.line == world.wiring[0].lid)
        for hidden in ["21000", "84000", "18500", "120000", "counts", "jitter", "roughness", "noise_counts"] {
            #expect(!yaml.contains(hidden), "the installer's config mentions \(hidden)")
        }
    }
}

@Suite struct CalibrationTests {
    @Test("calibration files round-trip atomically, readable by the owner only; a broken file is an error naming it")
    func storeRoundTrip() throws {
        let directory = try TemporaryDirectory(prefix: "binsd-calibration")
        let store = CalibrationStore(directory: directory.file("calibration"))
        #expect(try store.load(bin: "wet") == nil)
        #expect(!store.isCalibrated(bin: "wet"))
        let tared = StoredCalibration(offsetCounts: 84_000.5, noiseCounts: 30, taredAt: at(0))
        try store.save(tared, bin: "wet")
        #expect(try store.load(bin: "wet") == tared)
        #expect(!store.isCalibrated(bin: "wet"))
        var full = tared
        full.countsPerKg = 21_000
        try store.save(full, bin: "wet")
        #expect(store.isCalibrated(bin: "wet"))
        var info = stat()
        #expect(stat(store.path(bin: "wet"), &info) == 0 && info.st_mode & 0o777 == 0o600)
        try directory.write("calibration/dry.json", #"{"offset_counts": 1, "counts_per_kg": 0}"#)
        #expect(throws: BinDaemonError.self) { try store.load(bin: "dry") }
        do {
            _ = try store.load(bin: "dry")
        } catch {
            #expect(error.message.hasPrefix("\(store.path(bin: "dry")): not a usable calibration"))
        }
    }

    /// An HX711 model on a simulated chip with known constants, driven by the real driver.
    static func scale(offset: Double, countsPerKg: Double, noise: Double) throws -> (HX711, HX711Model) {
        let chip = SimulatedChip(lineCount: 4)
        let model = try HX711Model(
            chip: chip, clockLine: 0, dataLine: 1,
            configuration: .init(offsetCounts: offset, countsPerKilogram: countsPerKg, noiseCounts: noise, seed: 3))
        let driver = try HX711(chip: chip, clockLine: 0, dataLine: 1)
        return (driver, model)
    }

    @Test("tare then a known mass recovers the part's zero and slope; noise is measured")
    func twoPointCalibration() throws {
        let (driver, model) = try Self.scale(offset: 84_000, countsPerKg: 21_000, noise: 30)
        let calibrator = ScaleCalibrator()
        let tared = try calibrator.tare(driver, previous: nil, at: at(0))
        #expect(abs(tared.offsetCounts - 84_000) < 30)
        #expect(tared.countsPerKg == nil)
        #expect((15...45).contains(tared.noiseCounts ?? 0))
        model.massKilograms = 10
        let calibrated = try calibrator.calibrate(driver, knownKg: 10, previous: tared, bin: "wet", at: at(10))
        #expect(abs((calibrated.countsPerKg ?? 0) - 21_000) < 21)
        model.massKilograms = 2.5
        let reading = try driver.read(samples: 9)
        #expect(abs((calibrated.scale?.kilograms(fromCounts: reading.median) ?? 0) - 2.5) < 0.005)
    }

    @Test("a calibration without the reference on the scale, or without a tare, is refused with the reason")
    func refusedCalibration() throws {
        let (driver, _) = try Self.scale(offset: 84_000, countsPerKg: 21_000, noise: 30)
        let calibrator = ScaleCalibrator()
        #expect(throws: BinDaemonError.self) {
            try calibrator.calibrate(driver, knownKg: 10, previous: nil, bin: "wet", at: at(0))
        }
        let tared = try calibrator.tare(driver, previous: nil, at: at(0))
        do {
            _ = try calibrator.calibrate(driver, knownKg: 10, previous: tared, bin: "wet", at: at(5))
            Issue.record("calibrated an empty scale")
        } catch {
            #expect(error.code == .calibrationFailed)
            #expect(error.message.contains("is the 10.0 kg reference on the scale?"), "\(error.message)")
        }
    }
}

@Suite struct BinPipelineTests {
    static let config = try! parseConfig(validConfigYAML)

    static func pipeline() -> BinPipeline {
        BinPipeline(
            bin: config.bins[0], config: config,
            calibration: StoredCalibration(offsetCounts: 84_000, countsPerKg: 21_000, noiseCounts: 30))
    }

    static func counts(_ kg: Double) -> Int32 { Int32(84_000 + kg * 21_000) }

    @Test("a scale that stops answering raises scale.not_ready after 3 failures over 5 s, and clears once it answers")
    func scaleNotReady() {
        var pipeline = Self.pipeline()
        let failure = SensorError(
            .notReady, sensor: "hx711 wet", chip: "sim", lines: [4, 5], detail: "DOUT stayed high for 700 ms")
        var events: [TimedEvent] = []
        for second in [0.0, 3, 6, 9] { events += pipeline.scaleRead(.failure(failure), at: at(second)).events }
        #expect(events.count == 1)
        guard case .fault(let raised)? = events.first?.body else {
            Issue.record("no fault")
            return
        }
        #expect(raised.code == "scale.not_ready" && raised.active && raised.bin == "wet")
        #expect(raised.detail.contains("DOUT stayed high"))
        #expect(pipeline.faults.quality(for: .scale) == .degraded)
        events = []
        for second in [20.0, 25, 31] { events += pipeline.scaleRead(.success(Self.counts(0)), at: at(second)).events }
        #expect(events.compactMap { if case .fault(let f) = $0.body { f.active } else { nil } } == [false])
    }

    /// While the scale and the ranger disagree (`consistency.mass_without_fill` raised), a deposit keeps its
    /// measurements and likelihoods but is not judged: 1.5 kg in 2 L, kitchen waste in any other hour.
    @Test("a deposit measured while a consistency fault is raised is unknown with reason sensor_fault")
    func depositWhileSensorsDisagree() {
        var pipeline = Self.pipeline()
        var events: [TimedEvent] = []
        var jitter: Int32 = 0
        func weigh(_ kg: Double, from start: Double) {
            for i in 0..<6 {
                jitter = (jitter + 1) % 3
                events += pipeline.scaleRead(.success(Self.counts(kg) + jitter), at: at(start + Double(i) * 0.1)).events
            }
        }
        func deposit(to kg: Double, at start: Double, distanceMm: Double) {
            events += pipeline.lidChanged(open: true, at: at(start)).events
            events += pipeline.lidChanged(open: false, at: at(start + 4)).events
            weigh(kg, from: start + 4.5)
            events += pipeline.rangerRead(.success(.distance(millimetres: distanceMm)), at: at(start + 6)).events
        }
        weigh(2, from: 0)
        events += pipeline.rangerRead(.success(.distance(millimetres: 800)), at: at(1)).events
        // 10 kg that the ranger does not see, then an idle reading a minute and a half later: raised.
        deposit(to: 12, at: 100, distanceMm: 799.9)
        events += pipeline.rangerRead(.success(.distance(millimetres: 800.1)), at: at(200)).events
        #expect(pipeline.faults.isActive(.massWithoutFill))
        events = []
        deposit(to: 13.5, at: 300, distanceMm: 792.5)
        let deposits = events.compactMap { if case .deposit(let d) = $0.body { d } else { nil } }
        #expect(deposits.count == 1)
        if let deposit = deposits.first {
            #expect(abs(deposit.massKg - 1.5) < 0.01 && abs((deposit.volumeL ?? 0) - 2) < 0.1, "\(deposit)")
            #expect(deposit.observed == .unknown && !deposit.contaminated, "\(deposit)")
            #expect(deposit.evidence?.reason == "sensor_fault" && deposit.evidence?.likelihoods != nil)
            #expect((deposit.evidence?.posterior?.wet ?? 0) > 0.9)
        }
    }

    @Test("after a missing echo the ranger is retried every 30 s instead of at the heartbeat")
    func rangerRetry() {
        var pipeline = Self.pipeline()
        _ = pipeline.tick(at: at(0))
        #expect(pipeline.pendingRangerPings != nil)
        _ = pipeline.rangerRead(.success(.noEcho), at: at(1))
        #expect(pipeline.pendingRangerPings == nil)
        // Nothing else asks for the ranger before its 900 s heartbeat: this reading is the retry.
        _ = pipeline.tick(at: at(1 + BinPipeline.rangerRetryS))
        #expect(pipeline.pendingRangerPings != nil)
        // A live ranger never reads the same distance twice to the hundredth of a millimetre (a repeat would
        // be looked at again, see SensorFaultTests).
        _ = pipeline.rangerRead(.success(.distance(millimetres: 900)), at: at(32))
        _ = pipeline.rangerRead(.success(.distance(millimetres: 900.7)), at: at(62))
        // Healthy again: the next ranger reading is the heartbeat.
        _ = pipeline.tick(at: at(100))
        #expect(pipeline.pendingRangerPings == nil)
    }

    @Test("a new calibration restarts the mass history and asks for a burst")
    func recalibration() {
        var pipeline = Self.pipeline()
        for second in 0..<6 { _ = pipeline.scaleRead(.success(Self.counts(5)), at: at(Double(second))) }
        #expect(pipeline.detector.baselineKg.map { abs($0 - 5) < 0.001 } == true)
        pipeline.setCalibration(StoredCalibration(offsetCounts: Double(Self.counts(5)), countsPerKg: 21_000))
        #expect(pipeline.detector.baselineKg == nil)
        #expect(pipeline.pendingScaleReadings == Self.config.sampling.burstReadings)
    }
}

@Suite struct PublishingPartsTests {
    @Test("events sent late get historical: true, and nothing else changes")
    func markHistorical() throws {
        let event = EventPayload(
            device: "pt-1", ts: at(0), seq: 7,
            body: .collection(Collection(bin: "wet", stream: .wet, massKg: 12.5, fillBefore: 0.6)))
        let marked = EventRecorder.markHistorical(try WireCodec.encode(event))
        let decoded = try WireCodec.decode(EventPayload.self, from: marked)
        #expect(decoded.historical)
        var expected = event
        expected.historical = true
        #expect(decoded == expected)
        #expect(EventRecorder.markHistorical(Array("not json".utf8)) == Array("not json".utf8))
    }

    @Test("a reload applies thresholds, classification, sampling and logging, and refuses what needs a restart")
    func reloadMerge() throws {
        let old = try parseConfig(validConfigYAML)
        let changed = try parseConfig(
            replacing(
                "burst_readings: 8", with: "burst_readings: 12",
                in: replacing(
                    "thresholds: {min_deposit_kg: 0.1}", with: "thresholds: {min_deposit_kg: 0.2}",
                    in: replacing(
                        "url: mqtt://127.0.0.1:1883", with: "url: mqtt://10.0.0.2:1883",
                        in: replacing(
                            "dout: GPIO5", with: "dout: GPIO19")))))
        let (applied, refused) = ConfigReloader.merge(old: old, new: changed)
        #expect(refused == ["broker", "bins[0]"])
        #expect(applied.sampling.burstReadings == 12)
        #expect(applied.bins[1].thresholds.minDepositKg == 0.2)
        #expect(applied.bins[0].scale.dout == old.bins[0].scale.dout)
        #expect(applied.broker == old.broker)
        #expect(applied.configHash != old.configHash)
        #expect(ConfigReloader.merge(old: old, new: old).applied.configHash == old.configHash)
    }

    @Test("sd_notify datagrams reach an abstract-namespace socket; WATCHDOG_USEC sets the ping interval")
    func systemdNotify() throws {
        let name = "@binsd-test-\(UUID().uuidString.prefix(8))"
        let socket = try NotifySocket(path: name)
        let notifier = try #require(
            SystemdNotifier(socketPath: name, watchdogUsec: "30000000", watchdogPID: "\(getpid())"))
        #expect(notifier.watchdogPingIntervalNanoseconds == 15_000_000_000)
        #expect(notifier.notify("READY=1\nSTATUS=sampling"))
        #expect(socket.drain() == ["READY=1\nSTATUS=sampling"])
        let otherProcess = try #require(SystemdNotifier(socketPath: name, watchdogUsec: "30000000", watchdogPID: "1"))
        #expect(otherProcess.watchdogPingIntervalNanoseconds == nil)
        #expect(SystemdNotifier(socketPath: "", watchdogUsec: nil, watchdogPID: nil) == nil)
    }

    @Test(
        "the relay passes MQTT through, and a cut makes the broker publish the will and refuses reconnects until restored"
    )
    func relayCut() async throws {
        let directory = try TemporaryDirectory(prefix: "binsd-relay")
        let broker = try await MosquittoBroker.start(in: directory)
        let watcher = try await Subscriber(broker, device: "pt-relay")
        let relay = try NetworkRelay(upstreamHost: broker.host, upstreamPort: broker.port, logger: harnessLogger)
        let will = MQTTMessage(
            topic: Topics.status("pt-relay"), text: #"{"gone": true}"#, qos: .atLeastOnce, retain: true)
        let client = try MQTTClient(
            configuration: MQTTConfiguration(
                host: "127.0.0.1", port: relay.port, clientID: "pt-relay", will: will,
                reconnectDelayMin: .milliseconds(50), reconnectDelayMax: .milliseconds(200)),
            logger: harnessLogger)
        let task = Task { try await client.run() }
        try await client.waitUntilConnected(timeout: .seconds(20))
        try await client.publish(MQTTMessage(topic: Topics.health("pt-relay"), text: "through", qos: .atLeastOnce))
        try await watcher.recorder.wait("the message through the relay") {
            $0.received.contains { $0.text == "through" }
        }

        relay.cut()
        try await watcher.recorder.wait("the will") { $0.received.contains { $0.text == #"{"gone": true}"# } }
        try await waitUntil(timeout: .seconds(20), "a refused reconnect") { relay.statistics.refused > 0 }
        #expect(client.state != .connected)
        relay.restore()
        try await client.waitUntilConnected(timeout: .seconds(20))
        #expect(relay.statistics.connections == 2)
        await client.disconnect()
        try await task.value
        await relay.stop()
        try await watcher.stop()
    }
}
