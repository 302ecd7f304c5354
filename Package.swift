// swift-tools-version: 6.0
//
// Smart-bin sensing: `binsd` (the sorting-point daemon) and `bins-aggregator` (the sanitation
// center's service). Module layers follow ../shared/DESIGN.md section 3: C only at the bottom,
// dependencies pointing down. `binsd` must never link the HTTP server, PostgreSQL or the simulator (the
// simulated points are `binsd-simulate`, which `binsd simulate` starts). Tools version 6.0, the version
// of Debian 13's own Swift (6.0.3); the swift-log, swift-metrics and swift-service-lifecycle available here
// need Swift 6.2, so Debian 13 builds use this machine's toolchain for now (docs/install.md).
import PackageDescription

#if canImport(Foundation)
import Foundation
#endif

let log: Target.Dependency = .product(name: "Logging", package: "swift-log")
let metrics: Target.Dependency = .product(name: "Metrics", package: "swift-metrics")
let lifecycle: Target.Dependency = .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")
let crypto: Target.Dependency = .product(name: "Crypto", package: "swift-crypto")
let argumentParser: Target.Dependency = .product(name: "ArgumentParser", package: "swift-argument-parser")

/// The libgpiod API to build the GPIO backend for: 2 when pkg-config reports libgpiod 2.x (Debian 13,
/// Raspberry Pi OS 13), else 1 (libgpiod 1.6, Debian 12). `BINS_LIBGPIOD_API=1|2` overrides the detection.
/// One Swift API sits above both (`LibgpiodChip`); only `Sources/GPIO/Libgpiod+V1.swift` or `+V2.swift` is
/// compiled in.
let libgpiodAPI: Int = {
    #if canImport(Foundation)
    let environment = ProcessInfo.processInfo.environment
    if let forced = environment["BINS_LIBGPIOD_API"], let api = Int(forced) { return api }
    let pkgConfig = Process()
    pkgConfig.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    pkgConfig.arguments = ["pkg-config", "--modversion", "libgpiod"]
    let output = Pipe()
    pkgConfig.standardOutput = output
    pkgConfig.standardError = FileHandle.nullDevice
    guard (try? pkgConfig.run()) != nil else { return 1 }
    pkgConfig.waitUntilExit()
    let version = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    return pkgConfig.terminationStatus == 0 && version.hasPrefix("2.") ? 2 : 1
    #else
    return 1
    #endif
}()
let libgpiodSettings: [SwiftSetting] = libgpiodAPI == 2 ? [.define("LIBGPIOD_V2")] : []

let package = Package(
    name: "smart-bins",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "binsd", targets: ["binsd"]),
        .executable(name: "binsd-simulate", targets: ["binsd-simulate"]),
        .executable(name: "bins-aggregator", targets: ["bins-aggregator"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
    ],
    targets: [
        // MARK: C system libraries (Debian packages, found through pkg-config)
        .systemLibrary(
            name: "CBinsGPIOD", pkgConfig: "libgpiod",
            providers: [.apt(["libgpiod-dev"])]),
        .systemLibrary(
            name: "CBinsMosquitto", pkgConfig: "libmosquitto",
            providers: [.apt(["libmosquitto-dev"])]),
        .systemLibrary(
            name: "CBinsSQLite", pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(
            name: "CBinsYAML", pkgConfig: "yaml-0.1",
            providers: [.apt(["libyaml-dev"])]),
        // OpenSSL's libcrypto, which libmosquitto already links for TLS: binsd's SHA-256 (the config hash)
        // without swift-crypto, whose Foundation import would bring all of Foundation into the daemon.
        .systemLibrary(
            name: "CBinsCrypto", pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]),

        // prctl (thread names) and eventfd, which the Glibc module does not bring in a form Swift can call.
        .systemLibrary(name: "CBinsSystem"),

        // MARK: The edge to the operating system (errno, the system-call funnel, eventfd, poll, threads)
        .target(name: "SystemCalls", dependencies: ["CBinsSystem"]),

        // MARK: Hardware
        .target(name: "GPIO", dependencies: ["CBinsGPIOD", "SystemCalls"], swiftSettings: libgpiodSettings),
        .target(name: "Sensors", dependencies: ["GPIO"]),

        // MARK: Configuration files (strict YAML: unknown keys, types and ranges reported with file, field, line)
        .target(name: "YAMLConfig", dependencies: ["CBinsYAML", "BinProtocol", "SystemCalls"]),

        // MARK: Process lifecycle (bounded waits; SIGTERM/SIGINT to a bounded stop, a second signal forcing it)
        .target(name: "Lifecycle", dependencies: [log, lifecycle]),

        // MARK: Wire contract and transport
        .target(name: "BinProtocol"),
        .target(
            name: "MQTT",
            dependencies: ["CBinsMosquitto", "CBinsSQLite", "SystemCalls", "Lifecycle", log, metrics, lifecycle]),

        // MARK: Simulation (simulated chip, line-level device models, bin world, scenarios)
        .target(name: "Simulation", dependencies: ["GPIO", "BinProtocol", "YAMLConfig", "SystemCalls"]),

        // MARK: The sorting-point daemon (what is installed on boards: no simulator)
        .target(
            name: "BinDaemon",
            dependencies: [
                "GPIO", "Sensors", "MQTT", "BinProtocol", "YAMLConfig", "Lifecycle", "SystemCalls", "CBinsCrypto", log,
                lifecycle,
            ]),
        // Simulated points: the daemon on a simulated world (scenario runs, the sim board), for binsd-simulate.
        .target(
            name: "SimulatedPoint",
            dependencies: [
                "BinDaemon", "Simulation", "GPIO", "Sensors", "MQTT", "BinProtocol", "YAMLConfig", "Lifecycle",
                "SystemCalls",
                log, lifecycle,
            ]),

        // MARK: The sanitation center's service
        .target(
            name: "Aggregator",
            dependencies: [
                "MQTT", "BinProtocol", "YAMLConfig", "Lifecycle", log, metrics, lifecycle, crypto,
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ]),
        .target(
            name: "AggregatorHTTP",
            dependencies: [
                "Aggregator", "BinProtocol", "MQTT", log, metrics, lifecycle, crypto,
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            ]),

        // MARK: Executables: parse, bootstrap, run
        .executableTarget(name: "binsd", dependencies: ["BinDaemon", argumentParser, log]),
        .executableTarget(
            name: "binsd-simulate",
            dependencies: ["SimulatedPoint", "BinDaemon", "BinProtocol", "MQTT", "YAMLConfig", argumentParser, log]),
        .executableTarget(
            name: "bins-aggregator",
            dependencies: [
                "Aggregator", "AggregatorHTTP", "BinProtocol", argumentParser, log, metrics, lifecycle,
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]),
        // Benchmarks (Benchmarks/) print figures; they are commands, not tests, and not products: nothing that
        // is shipped links them or the test harness they use. `bins-bench` covers the device side and links
        // nothing of the aggregator; `bins-ingest-bench` measures the aggregator's ingest. Both start their
        // broker with the tests' harness (BinsTestSupport), so they measure against the same setup.
        // `swift build --product bins-bench` builds one (SwiftPM makes a product of every executable target).
        .executableTarget(
            name: "bins-bench",
            dependencies: [
                "GPIO", "Sensors", "Simulation", "MQTT", "CBinsMosquitto", "BinProtocol", "BinDaemon", "SimulatedPoint",
                "BinsTestSupport",
                argumentParser, log,
            ],
            path: "Benchmarks/bins-bench"),
        .executableTarget(
            name: "bins-ingest-bench",
            dependencies: [
                "Aggregator", "MQTT", "BinProtocol", "BinsTestSupport", "Simulation", argumentParser, log, metrics,
            ],
            path: "Benchmarks/bins-ingest-bench"),
        // The console's server-side render times for a large district (docs/console.md).
        .executableTarget(
            name: "bins-console-bench",
            dependencies: [
                "Aggregator", "AggregatorHTTP", "BinProtocol", argumentParser, log, metrics,
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            path: "Benchmarks/bins-console-bench"),
        // Fill forecast error and the collection plan's saving over the scenario library (pure model code, no I/O).
        .executableTarget(
            name: "bins-plan-bench", dependencies: ["Aggregator", "Simulation", "BinProtocol", argumentParser],
            path: "Benchmarks/bins-plan-bench"),
        // Runs inside a qemu guest with a gpio-sim chip: exercises the libgpiod backend on a real kernel.
        .executableTarget(name: "gpio-guest-check", dependencies: ["GPIO", "SystemCalls"]),
        // Fuzzing: libFuzzer over the payload decoders and both configuration readers (Fuzz/README.md). An
        // ordinary build replays the corpus in Fuzz/corpus; `BINS_FUZZ=1` builds the fuzzer itself.
        .executableTarget(
            name: "bins-fuzz", dependencies: ["BinProtocol", "BinDaemon", "Aggregator"], path: "Fuzz/Harness"),
        // A child process for the MQTT tests: killed mid-handler, mid-publish, or with a will set.
        .executableTarget(name: "mqtt-test-peer", dependencies: ["MQTT", argumentParser, log]),

        // MARK: Tests (mirror the modules; all talk to real parts)
        .target(name: "BinsTestSupport", dependencies: ["CBinsSystem"], path: "Tests/BinsTestSupport"),
        .testTarget(name: "BinsTestSupportTests", dependencies: ["BinsTestSupport"]),
        .testTarget(name: "SystemCallsTests", dependencies: ["SystemCalls"]),
        .testTarget(name: "GPIOTests", dependencies: ["GPIO"]),
        .testTarget(name: "SensorsTests", dependencies: ["Sensors", "Simulation", "GPIO"]),
        .testTarget(name: "SimulationTests", dependencies: ["Simulation", "GPIO", "BinProtocol", "YAMLConfig"]),
        .testTarget(name: "BinProtocolTests", dependencies: ["BinProtocol"]),
        .testTarget(name: "YAMLConfigTests", dependencies: ["YAMLConfig"]),
        .testTarget(name: "LifecycleTests", dependencies: ["Lifecycle", log, lifecycle]),
        .testTarget(name: "MQTTTests", dependencies: ["MQTT", "BinsTestSupport", "Lifecycle", "Simulation", log]),
        .testTarget(
            name: "BinDaemonTests",
            dependencies: [
                "BinDaemon", "SimulatedPoint", "BinsTestSupport", "MQTT", "Simulation", "YAMLConfig", "BinProtocol",
                "GPIO",
                "Sensors", log,
            ]),
        .testTarget(
            name: "AggregatorTests",
            dependencies: [
                "Aggregator", "BinsTestSupport", "MQTT", "BinProtocol", "Simulation", log, metrics,
                .product(name: "GRDB", package: "GRDB.swift"),
            ]),
        .testTarget(
            name: "AggregatorHTTPTests",
            dependencies: [
                "AggregatorHTTP", "Aggregator", "BinsTestSupport", "Lifecycle", "BinProtocol", "MQTT", log, lifecycle,
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ]),
        .testTarget(
            name: "SystemTests",
            dependencies: [
                "BinsTestSupport", "MQTT", "BinProtocol", "Simulation", log,
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]),
    ],
    swiftLanguageModes: [.v6]
)

// `BINS_FUZZ=1 swift build --product bins-fuzz --scratch-path .build-fuzz` (what scripts/fuzz does): the
// fuzzer. Only the project's own decoding modules and the harness are instrumented for libFuzzer (their
// dependencies are built as usual), and only the harness and what it needs are in the package.
if ProcessInfo.processInfo.environment["BINS_FUZZ"] != nil {
    let instrumented: Set = ["BinProtocol", "YAMLConfig", "BinDaemon", "Aggregator", "bins-fuzz"]
    for target in package.targets where instrumented.contains(target.name) {
        target.swiftSettings = (target.swiftSettings ?? []) + [.unsafeFlags(["-sanitize=fuzzer"]), .define("FUZZING")]
        if target.name == "bins-fuzz" { target.linkerSettings = [.unsafeFlags(["-sanitize=fuzzer"])] }
    }
}

// Development convenience: `BINS_ONLY=SensorsTests swift test --scratch-path .build-x` builds only the named
// targets and what they depend on in this package, so work on one layer is not held up by another. CI and
// the README's commands never set it and build everything.
if let only = ProcessInfo.processInfo.environment["BINS_ONLY"] {
    // The named targets plus everything they depend on inside this package.
    let byName = Dictionary(uniqueKeysWithValues: package.targets.map { ($0.name, $0) })
    var keep = Set<String>()
    var pending = only.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
    // binsd hands `simulate` and the sim board to binsd-simulate, so whoever runs one needs both.
    if pending.contains("binsd") { pending.append("binsd-simulate") }
    while let name = pending.popLast() {
        guard let target = byName[name], keep.insert(name).inserted else { continue }
        for dependency in target.dependencies {
            switch dependency {
            case .targetItem(let dependencyName, _), .byNameItem(let dependencyName, _):
                pending.append(dependencyName)
            default:
                break
            }
        }
    }
    package.targets = package.targets.filter { $0.type == .system || keep.contains($0.name) }
    package.products = package.products.filter { product in keep.contains(product.name) }
}
