import BinProtocol
import CBinsCrypto
import MQTT
import YAMLConfig

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Reads, validates and resolves the daemon's YAML configuration. Reading never touches hardware or the
/// network (that is what `binsd check-config` runs); it reads the config file, the board file and, if
/// asked, checks that the files the config names exist.
public enum ConfigLoader {
    public struct Options: Sendable {
        /// Directories searched for `board: NAME` after the config file's own `boards/` directory.
        public var boardSearchPaths: [String]
        /// Whether the CA, client certificate/key and password files must exist.
        public var checkReferencedFiles: Bool

        public init(boardSearchPaths: [String] = BoardLoader.systemSearchPaths, checkReferencedFiles: Bool = true) {
            self.boardSearchPaths = boardSearchPaths
            self.checkReferencedFiles = checkReferencedFiles
        }
    }

    public static let defaultStateDirectory = "/var/lib/binsd"
    public static let defaultTemperatureGlob = "/sys/bus/w1/devices/28-*/temperature"

    public static func load(path: String, options: Options = Options()) throws(BinDaemonError) -> DaemonConfig {
        try parse(yaml: try FileText.read(path), file: path, options: options)
    }

    /// Parses `text` as if read from `file` (which names it in messages and anchors relative paths).
    /// Every problem is reported at once (`BinDaemonError.issues`); warnings end up in `warnings`.
    public static func parse(yaml text: String, file: String, options: Options = Options()) throws(BinDaemonError)
        -> DaemonConfig
    {
        let directory = PathText.directory(of: file)
        var reader = Reader(directory: directory.isEmpty ? "." : directory, options: options)
        do {
            var (config, warnings) = try YAMLDocument.parse(yaml: text, file: file, what: "configuration") {
                reader.read($0)
            }
            config.warnings = warnings
            return config
        } catch {
            throw BinDaemonError(error, invalid: .invalidConfig)
        }
    }

    /// First 16 hex digits of SHA-256 over the canonical JSON of the configuration's meaning: keys
    /// sorted, defaults filled in, pins resolved, secrets left out; so reformatting the file or moving
    /// it does not change the hash, and a changed threshold or pin does.
    public static func configHash(_ config: DaemonConfig) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let canonical = CanonicalConfig(config)
        let data = (try? encoder.encode(canonical)) ?? Data()
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let done = data.withUnsafeBytes { bytes in
            EVP_Digest(bytes.baseAddress, bytes.count, &digest, &length, EVP_sha256(), nil)
        }
        // EVP_Digest fails only without memory; an empty hash then says "unknown" rather than stopping the daemon.
        guard done == 1 else { return "" }
        let hex = digest.prefix(Int(length)).map { byte in (byte < 16 ? "0" : "") + String(byte, radix: 16) }.joined()
        return String(hex.prefix(16))
    }
}

/// What the configuration hash covers.
private struct CanonicalConfig: Encodable {
    var device: String
    var broker: BrokerConfig
    var board: String
    var bins: [BinConfig]
    var classification: ClassificationThresholds
    var sampling: SamplingConfig
    var outbox: OutboxConfig
    var stateDirectory: String
    var temperature: TemperatureSource
    var logging: LoggingConfig
    var simulation: SimulationSettings?

    init(_ config: DaemonConfig) {
        device = config.device
        var broker = config.broker
        broker.password = broker.password.map { _ in Secret("") }
        self.broker = broker
        board = config.board.name
        bins = config.bins
        classification = config.classification
        sampling = config.sampling
        outbox = config.outbox
        stateDirectory = config.stateDirectory
        temperature = config.temperature
        logging = config.logging
        simulation = config.simulation
    }
}

private struct Reader {
    let directory: String
    let options: ConfigLoader.Options
    /// Which field already holds each line, keyed by board chip id (or bare label) and offset.
    var usedLines: [String: String] = [:]

    init(directory: String, options: ConfigLoader.Options) {
        self.directory = directory
        self.options = options
    }

    mutating func read(_ root: YAMLValue) -> DaemonConfig? {
        root.fields { fields in
            let device = fields.required("device")?.identifier("device id")
            let board = readBoard(fields.required("board"))
            let stateDirectory = readStateDirectory(fields.optional("state_dir"))
            let broker = readBroker(fields.required("broker"), device: device)
            var roughnessGiven = false
            let baseThresholds = readThresholds(
                fields.optional("thresholds"), base: BinThresholds(), roughnessGiven: &roughnessGiven)
            let classification = readClassification(fields.optional("classification"))
            let sampling = readSampling(fields.optional("sampling"))
            let outbox = readOutbox(fields.optional("outbox"), stateDirectory: stateDirectory)
            let temperature = readTemperature(fields.optional("temperature"))
            let logging = readLogging(fields.optional("logging"))
            let simulation = readSimulation(fields.optional("simulation"), board: board)

            var bins: [BinConfig] = []
            if let binsValue = fields.required("bins"), let list = binsValue.list() {
                if list.isEmpty { binsValue.error("at least one bin is needed") }
                var seenIDs: [String: String] = [:]
                for item in list {
                    guard let bin = readBin(item, board: board, base: baseThresholds, roughnessGiven: roughnessGiven)
                    else { continue }
                    if let first = seenIDs[bin.id] {
                        item.error("duplicate bin id \"\(bin.id)\" (already used by \(first))")
                    }
                    seenIDs[bin.id] = item.path
                    bins.append(bin)
                }
            }

            guard let device, let board, let broker else { return nil }
            var config = DaemonConfig(
                file: root.file, device: device, broker: broker, board: board, bins: bins,
                classification: classification, sampling: sampling, outbox: outbox, stateDirectory: stateDirectory,
                temperature: temperature, logging: logging, simulation: simulation, configHash: "", warnings: [])
            config.configHash = ConfigLoader.configHash(config)
            return config
        }
    }

    // MARK: Top-level sections

    func readBoard(_ value: YAMLValue?) -> BoardDefinition? {
        guard let value, let reference = value.string() else { return nil }
        let searchPaths = ["\(directory)/boards"] + options.boardSearchPaths
        guard let path = BoardLoader.locate(reference: reference, relativeTo: directory, searchPaths: searchPaths)
        else {
            // The simulated board is defined by the Simulation module itself, so it needs no file.
            if reference == BoardDefinition.simulatedBoardName { return BoardDefinition.simulated }
            value.error("unknown board \"\(reference)\" (looked in \(searchPaths.joined(separator: ", ")))")
            return nil
        }
        do {
            return try BoardLoader.load(path: path)
        } catch {
            value.error("board file \(path) is not usable: \(error.message)")
            for issue in error.issues { value.error(issue.description) }
            return nil
        }
    }

    func readStateDirectory(_ value: YAMLValue?) -> String {
        guard let value, let path = value.string() else { return ConfigLoader.defaultStateDirectory }
        guard path.hasPrefix("/") else {
            value.error("\"\(path)\" must be an absolute path")
            return ConfigLoader.defaultStateDirectory
        }
        return path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
    }

    func readBroker(_ value: YAMLValue?, device: String?) -> BrokerConfig? {
        value?.fields { fields in
            var url: BrokerURL?
            if let urlValue = fields.required("url"), let text = urlValue.string() {
                url = BrokerURL(text)
                if url == nil {
                    urlValue.error("\"\(text)\" is not a broker URL (expected mqtt://HOST:PORT or mqtts://HOST:PORT)")
                }
            }
            let caFile = file(fields.optional("ca_file"))
            let cert = file(fields.optional("client_cert"))
            let key = file(fields.optional("client_key"))
            let username = fields.optional("username")?.string() ?? device ?? ""
            let passwordValue = fields.optional("password")
            let password = passwordValue?.string().map(Secret.init)
            let passwordFile = file(fields.optional("password_file"))
            let keepalive = fields.optional("keepalive_s")?.int(in: 5...3600) ?? 30
            if password != nil, passwordFile != nil, let passwordValue {
                passwordValue.error("give either password or password_file, not both")
            }
            if let passwordValue, password != nil {
                passwordValue.warning(
                    "a password in the config file is readable by whoever reads the config; prefer password_file")
            }
            let broker = fields.value
            if (cert == nil) != (key == nil) {
                broker.error(
                    "client_cert and client_key go together (got only \(cert == nil ? "client_key" : "client_cert"))")
            }
            if let url, !url.tls, caFile != nil || cert != nil {
                broker.warning("TLS files are ignored with an mqtt:// URL (use mqtts:// to encrypt)")
            }
            if let url, url.tls, caFile == nil {
                broker.error("an mqtts:// broker needs ca_file (the CA that signed the broker's certificate)")
            }
            if let url, !url.tls, password != nil || passwordFile != nil,
                !["localhost", "127.0.0.1", "::1"].contains(url.host)
            {
                broker.warning("the password travels unencrypted to \(url.endpoint); use mqtts://")
            }
            guard let url else { return nil }
            return BrokerConfig(
                url: url, caFile: caFile, clientCertFile: cert, clientKeyFile: key, username: username,
                password: password, passwordFile: passwordFile, keepaliveSeconds: keepalive)
        }
    }

    /// A path the config names, made absolute against the config's directory, checked to exist.
    func file(_ value: YAMLValue?) -> String? {
        guard let value, let text = value.string() else { return nil }
        let path = text.hasPrefix("/") ? text : "\(directory)/\(text)"
        if options.checkReferencedFiles, !FileManager.default.fileExists(atPath: path) {
            value.error("file \(path) does not exist")
        }
        return path
    }

    func readClassification(_ value: YAMLValue?) -> ClassificationThresholds {
        var result = ClassificationThresholds()
        _ = value?.fields { fields -> Void? in
            if let range = densityRange(fields.optional("wet_kg_l")) { result.wetKgL = range }
            if let range = densityRange(fields.optional("dry_kg_l")) { result.dryKgL = range }
            let otherValue = fields.optional("other_kg_l")
            if let range = densityRange(otherValue) { result.otherKgL = range }
            if let v = fields.optional("other_prior")?.double(in: 0.0001...0.5) { result.otherPrior = v }
            if let v = fields.optional("stream_prior")?.double(in: 0.01...0.99) { result.streamPrior = v }
            if let v = fields.optional("min_confidence")?.double(in: 0.5...0.9999) { result.minConfidence = v }
            let againstValue = fields.optional("against_stream_confidence")
            if let v = againstValue?.double(in: 0.5...0.9999) { result.againstStreamConfidence = v }
            let contaminationValue = fields.optional("contamination_confidence")
            if let v = contaminationValue?.double(in: 0.5...0.999999) { result.contaminationConfidence = v }
            if let v = fields.optional("range_margin")?.double(in: 0...2) { result.rangeMargin = v }
            // The cut-offs of the density-ratio classifier: the likelihoods judge small deposits by their noise.
            for key in ["min_volume_l", "min_mass_kg"] {
                fields.optional(key)?.warning(
                    "no longer used: small deposits are judged by the likelihood of their measurement (docs/binsd.md section 5)"
                )
            }
            if result.dryKgL.upperBound >= result.wetKgL.lowerBound {
                fields.value.error(
                    "dry_kg_l must lie below wet_kg_l (got dry up to \(ConfigText.number(result.dryKgL.upperBound)), wet from \(ConfigText.number(result.wetKgL.lowerBound)))"
                )
            }
            if result.otherKgL.lowerBound >= result.dryKgL.lowerBound
                || result.otherKgL.upperBound <= result.wetKgL.upperBound
            {
                (otherValue ?? fields.value).error(
                    "other_kg_l must reach below dry_kg_l and above wet_kg_l (got \(ConfigText.number(result.otherKgL.lowerBound))-\(ConfigText.number(result.otherKgL.upperBound)))"
                )
            }
            if result.againstStreamConfidence < result.minConfidence {
                (againstValue ?? fields.value).error(
                    "against_stream_confidence must be at least min_confidence (\(ConfigText.number(result.minConfidence))): a call against the bin's stream needs more evidence than one for it"
                )
            } else if result.contaminationConfidence < result.againstStreamConfidence {
                (contaminationValue ?? fields.value).error(
                    "contamination_confidence must be at least against_stream_confidence (\(ConfigText.number(result.againstStreamConfidence))): a flagged deposit must be classified"
                )
            }
            return ()
        }
        return result
    }

    func densityRange(_ value: YAMLValue?) -> ClosedRange<Double>? {
        guard let value, let list = value.list() else { return nil }
        let numbers = list.compactMap { $0.double() }
        guard numbers.count == list.count else { return nil }
        guard numbers.count == 2, numbers[0] > 0, numbers[0] < numbers[1] else {
            value.error("expected [LOW, HIGH] with 0 < LOW < HIGH (kg/L)")
            return nil
        }
        return numbers[0]...numbers[1]
    }

    func readSampling(_ value: YAMLValue?) -> SamplingConfig {
        var result = SamplingConfig()
        _ = value?.fields { fields -> Void? in
            if let v = fields.optional("scale_interval_s")?.double(in: 0.1...86400) { result.scaleIntervalS = v }
            if let v = fields.optional("burst_readings")?.int(in: 1...1000) { result.burstReadings = v }
            if let v = fields.optional("ranger_heartbeat_s")?.double(in: 1...86400) { result.rangerHeartbeatS = v }
            if let v = fields.optional("ranger_pings")?.int(in: 1...50) { result.rangerPings = v }
            if let v = fields.optional("state_heartbeat_s")?.double(in: 1...86400) { result.stateHeartbeatS = v }
            if let v = fields.optional("health_interval_s")?.double(in: 1...86400) { result.healthIntervalS = v }
            return ()
        }
        return result
    }

    func readOutbox(_ value: YAMLValue?, stateDirectory: String) -> OutboxConfig {
        var result = OutboxConfig(path: "\(stateDirectory)/outbox.sqlite", capacity: 100_000, sync: .full)
        _ = value?.fields { fields -> Void? in
            if let path = fields.optional("path")?.string() {
                result.path = path.hasPrefix("/") ? path : "\(stateDirectory)/\(path)"
            }
            if let v = fields.optional("capacity")?.int(in: 100...100_000_000) { result.capacity = v }
            if let v = fields.optional("sync")?.choice(OutboxSync.self) { result.sync = v }
            if let v = fields.optional("receipts")?.choice(OutboxReceiptsConfig.Mode.self) { result.receipts.mode = v }
            if let v = fields.optional("receipt_resend_s")?.double(in: 1...86400) { result.receipts.resendAfterS = v }
            if let v = fields.optional("receipt_fallback_s")?.double(in: 10...604_800) {
                result.receipts.fallbackAfterS = v
            }
            return ()
        }
        return result
    }

    func readTemperature(_ value: YAMLValue?) -> TemperatureSource {
        let fallback = TemperatureSource.ds18b20(pathGlob: ConfigLoader.defaultTemperatureGlob, fallbackC: 20)
        enum Kind: String, CaseIterable { case ds18b20, fixed }
        return value?.fields { fields -> TemperatureSource? in
            switch fields.required("source")?.choice(Kind.self) {
            case .ds18b20:
                let path = fields.optional("path")?.string() ?? ConfigLoader.defaultTemperatureGlob
                let fallbackC = fields.optional("fallback_c")?.double(in: -60...100)
                return .ds18b20(pathGlob: path, fallbackC: fallbackC)
            case .fixed:
                return .fixed(celsius: fields.required("celsius")?.double(in: -60...100) ?? 20)
            case nil:
                fields.skip("path", "celsius", "fallback_c")
                return nil
            }
        } ?? fallback
    }

    /// `simulation: {scenario: FILE, speed: X}`, only with the `sim` board.
    func readSimulation(_ value: YAMLValue?, board: BoardDefinition?) -> SimulationSettings? {
        value?.fields { fields in
            let scenario = file(fields.required("scenario"))
            let speed = fields.optional("speed")?.double(in: 0.001...1_000_000) ?? 1
            if let board, board.name != BoardDefinition.simulatedBoardName {
                fields.value.error(
                    "only the \(BoardDefinition.simulatedBoardName) board runs a simulation (board is \(board.name))")
            }
            guard let scenario else { return nil }
            return SimulationSettings(scenario: scenario, speed: speed)
        }
    }

    func readLogging(_ value: YAMLValue?) -> LoggingConfig {
        var result = LoggingConfig()
        _ = value?.fields { fields -> Void? in
            if let v = fields.optional("level")?.choice(LogLevel.self) { result.level = v }
            if let v = fields.optional("format")?.choice(LogFormat.self) { result.format = v }
            return ()
        }
        return result
    }

    /// `thresholds:` at the top (over the defaults) or in a bin (over the top-level ones).
    func readThresholds(_ value: YAMLValue?, base: BinThresholds, roughnessGiven: inout Bool) -> BinThresholds {
        var t = base
        var given = roughnessGiven
        _ = value?.fields { fields -> Void? in
            if let v = fields.optional("stable_readings")?.int(in: 2...100) { t.stableReadings = v }
            if let v = fields.optional("stable_tolerance_kg")?.double(in: 0.0001...100) { t.stableToleranceKg = v }
            if let v = fields.optional("scale_noise_kg")?.double(in: 0...10) { t.scaleNoiseKg = v }
            if let v = fields.optional("min_deposit_kg")?.double(in: 0.001...100) { t.minDepositKg = v }
            if let v = fields.optional("collection_min_kg")?.double(in: 0.01...10000) { t.collectionMinKg = v }
            if let v = fields.optional("collection_min_fraction")?.double(in: 0...1) { t.collectionMinFraction = v }
            if let v = fields.optional("auto_zero_limit_kg")?.double(in: 0...10) { t.autoZeroLimitKg = v }
            if let v = fields.optional("lid_open_timeout_s")?.double(in: 1...86400) { t.lidOpenTimeoutS = v }
            if let v = fields.optional("settle_timeout_s")?.double(in: 1...3600) { t.settleTimeoutS = v }
            if let v = fields.optional("ranger_wait_s")?.double(in: 0.1...3600) { t.rangerWaitS = v }
            let fullValue = fields.optional("full_fill")
            if let v = fullValue?.double(in: 0.05...1) { t.fullFill = v }
            let overflowValue = fields.optional("overflow_fill")
            if let v = overflowValue?.double(in: 0.05...1) { t.overflowFill = v }
            if let v = fields.optional("ranger_sigma_mm")?.double(in: 0...100) { t.rangerSigmaMm = v }
            if let v = fields.optional("surface_roughness_mm")?.double(in: 0...500) {
                t.surfaceRoughnessMm = v
                given = true
            }
            if t.fullFill >= t.overflowFill {
                let message =
                    "overflow_fill (\(ConfigText.number(t.overflowFill))) must be above full_fill (\(ConfigText.number(t.fullFill)))"
                // At the value written (overflow_fill, or a full_fill raised above the default overflow).
                (overflowValue ?? fullValue)?.error(message)
            }
            return ()
        }
        roughnessGiven = given
        return t
    }

    // MARK: Bins

    mutating func readBin(_ item: YAMLValue, board: BoardDefinition?, base: BinThresholds, roughnessGiven: Bool)
        -> BinConfig?
    {
        item.fields { fields in
            let id = fields.required("id")?.identifier("bin id")
            let stream = fields.required("stream")?.choice(WasteStream.self)
            let shapeValue = fields.required("shape")
            let shape = shapeValue.flatMap(readShape)
            var roughnessGiven = roughnessGiven
            var thresholds = readThresholds(fields.optional("thresholds"), base: base, roughnessGiven: &roughnessGiven)
            var scale: ScaleSensorConfig?
            var ranger: (config: RangerSensorConfig, mount: YAMLValue)?
            var lid: LidSensorConfig?
            let sensorsPresent =
                fields.required("sensors")?.fields { sensors -> Bool? in
                    if let value = sensors.required("hx711") { scale = readScale(value, board: board) }
                    if let value = sensors.optional("ranger") { ranger = readRanger(value, board: board) }
                    if let value = sensors.optional("lid") { lid = readLid(value, board: board) }
                    return true
                } ?? false
            var geometry: BinGeometry?
            if let shape, let shapeValue {
                for problem in BinGeometry.problems(in: shape) {
                    shapeValue.error(problem.message, field: problem.field)
                }
                geometry = BinGeometry(shape: shape)
            }
            if let ranger, let geometry { checkMount(ranger.config, geometry: geometry, at: ranger.mount) }
            if !roughnessGiven, let geometry {
                thresholds.surfaceRoughnessMm = BinThresholds.defaultSurfaceRoughnessMm(for: geometry)
            }
            guard sensorsPresent, let id, let stream, let shape, let geometry, let scale else { return nil }
            return BinConfig(
                id: id, stream: stream, shape: shape, geometry: geometry, scale: scale, ranger: ranger?.config,
                lid: lid,
                thresholds: thresholds)
        }
    }

    func checkMount(_ ranger: RangerSensorConfig, geometry: BinGeometry, at mount: YAMLValue) {
        if ranger.mountMm > geometry.depthMm {
            mount.error(
                "\(ConfigText.number(ranger.mountMm)) mm is beyond the bin depth \(ConfigText.number(geometry.depthMm)) mm (mount_mm is the distance from the sensor to the top rim)"
            )
        } else if ranger.mountMm + geometry.depthMm > ranger.model.maxRangeMm {
            mount.error(
                "the bottom is \(ConfigText.number(ranger.mountMm + geometry.depthMm)) mm away, beyond the \(ranger.model.rawValue)'s range of \(ConfigText.number(ranger.model.maxRangeMm)) mm"
            )
        } else if ranger.mountMm < ranger.model.blindZoneMm {
            let blindFraction =
                1 - geometry.volumeL(atHeightMm: geometry.depthMm - (ranger.model.blindZoneMm - ranger.mountMm))
                / geometry.capacityL
            mount.warning(
                "\(ConfigText.number(ranger.mountMm)) mm is inside the \(ranger.model.rawValue)'s blind zone (\(ConfigText.number(ranger.model.blindZoneMm)) mm): the top \(Int((blindFraction * 100).rounded())) % of the bin reads as full"
            )
        }
    }

    func readShape(_ value: YAMLValue) -> BinShape? {
        enum Kind: String, CaseIterable { case box, cylinder, table }
        return value.fields { fields in
            switch fields.required("kind")?.choice(Kind.self) {
            case .box:
                let w = fields.required("width_mm")?.double()
                let l = fields.required("length_mm")?.double()
                let d = fields.required("depth_mm")?.double()
                guard let w, let l, let d else { return nil }
                return .box(widthMm: w, lengthMm: l, depthMm: d)
            case .cylinder:
                let diameter = fields.required("diameter_mm")?.double()
                let d = fields.required("depth_mm")?.double()
                guard let diameter, let d else { return nil }
                return .cylinder(diameterMm: diameter, depthMm: d)
            case .table:
                guard let list = fields.required("points")?.list() else { return nil }
                var points: [HeightVolume] = []
                for item in list {
                    guard let pair = item.list() else { return nil }
                    let numbers = pair.compactMap { $0.double() }
                    guard numbers.count == 2, pair.count == 2 else {
                        item.error("expected [HEIGHT_MM, VOLUME_L]")
                        return nil
                    }
                    points.append(HeightVolume(heightMm: numbers[0], volumeL: numbers[1]))
                }
                return .table(points: points)
            case nil:
                fields.skip("width_mm", "length_mm", "depth_mm", "diameter_mm", "points")
                return nil
            }
        }
    }

    mutating func readScale(_ value: YAMLValue, board: BoardDefinition?) -> ScaleSensorConfig? {
        value.fields { fields in
            let dout = pin(fields.required("dout"), board: board)
            let sck = pin(fields.required("sck"), board: board)
            var rate = HX711Rate.sps10
            if let rateValue = fields.optional("rate"), let n = rateValue.int() {
                if let r = HX711Rate(rawValue: n) {
                    rate = r
                } else {
                    rateValue.error("must be 10 or 80 (samples per second), got \(n)")
                }
            }
            var gain = HX711Gain.channelA128
            if let gainValue = fields.optional("gain"), let n = gainValue.int() {
                if let g = HX711Gain(rawValue: n) {
                    gain = g
                } else {
                    gainValue.error("must be 128, 64 (channel A) or 32 (channel B), got \(n)")
                }
            }
            guard let dout, let sck else { return nil }
            return ScaleSensorConfig(dout: dout, sck: sck, rate: rate, gain: gain)
        }
    }

    mutating func readRanger(_ value: YAMLValue, board: BoardDefinition?) -> (
        config: RangerSensorConfig, mount: YAMLValue
    )? {
        value.fields { fields in
            let trigger = pin(fields.required("trigger"), board: board)
            let echo = pin(fields.required("echo"), board: board)
            let model = fields.optional("model")?.choice(RangerModel.self) ?? .hcSR04
            let mountValue = fields.required("mount_mm")
            let mount = mountValue?.double("cannot be negative") { $0 >= 0 }
            guard let trigger, let echo, let mount, let mountValue else { return nil }
            return (RangerSensorConfig(trigger: trigger, echo: echo, model: model, mountMm: mount), mountValue)
        }
    }

    mutating func readLid(_ value: YAMLValue, board: BoardDefinition?) -> LidSensorConfig? {
        value.fields { fields in
            let line = pin(fields.required("pin"), board: board)
            let bias = fields.optional("bias")?.choice(PinBias.self) ?? .pullUp
            let openLevel = fields.optional("open_level")?.choice(LineLevel.self) ?? .high
            let debounce = fields.optional("debounce_ms")?.int(in: 0...10_000) ?? 30
            guard let line else { return nil }
            return LidSensorConfig(line: line, bias: bias, openLevel: openLevel, debounceMs: debounce)
        }
    }

    /// Resolves a pin given by board name or as `{chip: LABEL, line: N}`, and records it so a second
    /// use of the same line anywhere in the file is an error.
    mutating func pin(_ value: YAMLValue?, board: BoardDefinition?) -> LineAddress? {
        guard let value else { return nil }
        let resolved: (address: LineAddress, key: String)?
        if value.isScalar {
            resolved = boardPin(value, board: board)
        } else {
            resolved = value.fields { fields in chipLine(&fields, board: board) }
        }
        guard let resolved else { return nil }
        if let other = usedLines[resolved.key] {
            value.error("\(resolved.address) is already used by \(other)")
            return nil
        }
        usedLines[resolved.key] = value.path
        return resolved.address
    }

    /// A pin by one of its names on the board (`GPIO17`, `pin11`, `P1-11`).
    func boardPin(_ value: YAMLValue, board: BoardDefinition?) -> (address: LineAddress, key: String)? {
        guard let name = value.string() else { return nil }
        guard let board else { return nil }  // the board's own error is already reported
        guard let pin = board.pin(named: name), let chip = board.chip(id: pin.chip) else {
            value.error("unknown pin \"\(name)\" on board \(board.name)")
            return nil
        }
        if let caution = pin.caution {
            value.warning("pin \(pin.name) (\(pin.header ?? "no header")): \(caution)")
        }
        return (LineAddress(chipLabels: chip.labels, line: pin.line, pinName: pin.name), "\(chip.id)/\(pin.line)")
    }

    /// A line given as `{chip: LABEL, line: N}`.
    func chipLine(_ fields: inout YAMLFields, board: BoardDefinition?) -> (address: LineAddress, key: String)? {
        let label = fields.required("chip")?.string()
        let lineValue = fields.required("line")
        let line = lineValue?.int()
        guard let label, let line, let lineValue else { return nil }
        if let chip = board?.chip(label: label) {
            if line < 0 || chip.lineCount.map({ line >= $0 }) == true {
                lineValue.error("line \(line) does not exist on \(label) (\(chip.lineCount ?? 0) lines)")
                return nil
            }
            let pinName = board?.pins.first { $0.chip == chip.id && $0.line == UInt32(line) }?.name
            return (LineAddress(chipLabels: [label], line: UInt32(line), pinName: pinName), "\(chip.id)/\(line)")
        }
        guard line >= 0, line <= Int(UInt32.max) else {
            lineValue.error("line \(line) does not exist")
            return nil
        }
        return (LineAddress(chipLabels: [label], line: UInt32(line)), "label:\(label)/\(line)")
    }
}
