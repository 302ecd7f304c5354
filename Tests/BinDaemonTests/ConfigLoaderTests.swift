import BinProtocol
import Foundation
import MQTT
import Testing

@testable import BinDaemon

@Suite struct ConfigLoaderTests {
    @Test func validConfigResolvesEverything() throws {
        let config = try parseConfig(validConfigYAML)
        #expect(config.device == "pt-0001")
        #expect(config.board.name == "raspberry-pi")
        #expect(config.broker.url == BrokerURL(tls: false, host: "127.0.0.1", port: 1883))
        #expect(config.broker.username == "pt-0001")
        #expect(config.broker.passwordFile == "/etc/binsd/password")
        #expect(config.temperature == .fixed(celsius: 22))
        #expect(config.outbox == OutboxConfig(path: "/var/lib/binsd/outbox.sqlite", capacity: 5000, sync: .normal))
        #expect(config.logging.level == .debug && config.logging.format == .json)
        #expect(config.sampling.burstReadings == 8)
        #expect(config.bins.map(\.id) == ["wet", "dry"])

        let wet = try #require(config.bin(id: "wet"))
        #expect(
            wet.scale.dout
                == LineAddress(chipLabels: ["pinctrl-bcm2711", "pinctrl-bcm2835"], line: 5, pinName: "GPIO5"))
        #expect(wet.lid?.line.line == 17)
        #expect(wet.ranger?.mountMm == 40)
        #expect(wet.thresholds.scaleNoiseKg == 0.004)  // top-level default
        #expect(abs(wet.geometry.capacityL - 237.6) < 1e-9)

        let dry = try #require(config.bin(id: "dry"))
        #expect(dry.scale.dout.line == 16)  // pin36 = GPIO16
        #expect(dry.scale.sck.line == 26)  // P1-37 = GPIO26
        #expect(dry.ranger?.trigger == LineAddress(chipLabels: ["pinctrl-bcm2711"], line: 20, pinName: "GPIO20"))
        #expect(dry.thresholds.minDepositKg == 0.1)  // per-bin override
        #expect(dry.thresholds.scaleNoiseKg == 0.004)  // default still inherited
        #expect(dry.lid == nil)

        #expect(config.binDescriptors.map(\.capacityL).map { ($0 * 10).rounded() / 10 } == [237.6, 282.7])
        #expect(config.warnings.isEmpty)
        #expect(config.configHash.count == 16)
        #expect(config.configHash.allSatisfy { "0123456789abcdef".contains($0) })
    }

    @Test func defaultsApplyWhenSectionsAreLeftOut() throws {
        let config = try parseConfig(
            """
            device: pt-9
            board: sim
            broker: {url: "mqtts://broker.example.org", ca_file: /etc/ssl/ca.pem}
            bins:
              - {id: b1, stream: recyclable, shape: {kind: box, width_mm: 100, length_mm: 100, depth_mm: 100}, sensors: {hx711: {dout: GPIO0, sck: GPIO1}}}
            """)
        #expect(config.broker.url == BrokerURL(tls: true, host: "broker.example.org", port: 8883))
        #expect(config.stateDirectory == "/var/lib/binsd")
        #expect(config.outbox.path == "/var/lib/binsd/outbox.sqlite")
        #expect(config.temperature == .ds18b20(pathGlob: "/sys/bus/w1/devices/28-*/temperature", fallbackC: 20))
        #expect(config.bins[0].scale.rate == .sps10 && config.bins[0].scale.gain == .channelA128)
        #expect(config.bins[0].thresholds == BinThresholds())
        #expect(config.bins[0].scale.dout.chipLabels == ["bins-sim"])
    }

    @Test func surfaceRoughnessFollowsTheBinSizeUnlessSet() throws {
        let bins = """
            bins:
              - {id: bin, stream: wet, shape: {kind: box, width_mm: 480, length_mm: 550, depth_mm: 900}, sensors: {hx711: {dout: GPIO0, sck: GPIO1}}}
              - {id: container, stream: dry, shape: {kind: box, width_mm: 2000, length_mm: 1500, depth_mm: 1400}, sensors: {hx711: {dout: GPIO2, sck: GPIO3}}}
              - {id: tuned, stream: dry, shape: {kind: box, width_mm: 2000, length_mm: 1500, depth_mm: 1400}, sensors: {hx711: {dout: GPIO4, sck: GPIO5}}, thresholds: {surface_roughness_mm: 12}}
            """
        let header = "device: pt-9\nboard: sim\nbroker: {url: mqtt://127.0.0.1}\n"
        let byDefault = try parseConfig(header + bins)
        #expect(byDefault.bins.map(\.thresholds.surfaceRoughnessMm) == [4, 25, 12])
        // A roughness set for the whole point applies to every bin that does not set its own.
        let pointWide = try parseConfig(header + "thresholds: {surface_roughness_mm: 6}\n" + bins)
        #expect(pointWide.bins.map(\.thresholds.surfaceRoughnessMm) == [6, 6, 12])
    }

    @Test func configHashIgnoresFormattingAndSecretsButNotMeaning() throws {
        let base = try parseConfig(validConfigYAML).configHash
        let reformatted = try parseConfig(
            "# a comment\n" + validConfigYAML.replacingOccurrences(of: "debounce_ms: 30", with: "debounce_ms:   30"),
            file: "/elsewhere/other.yaml")
        #expect(reformatted.configHash == base)
        let withPassword = try parseConfig(
            replacing("  password_file: /etc/binsd/password", with: "  password: hunter2"))
        let otherPassword = try parseConfig(
            replacing("  password_file: /etc/binsd/password", with: "  password: swordfish"))
        #expect(withPassword.configHash == otherPassword.configHash)
        let changed = try parseConfig(replacing("mount_mm: 40", with: "mount_mm: 41"))
        #expect(changed.configHash != base)
    }

    @Test func passwordNeverAppearsInDescriptions() throws {
        let config = try parseConfig(replacing("  password_file: /etc/binsd/password", with: "  password: hunter2"))
        #expect(config.broker.password?.revealed == "hunter2")
        #expect(!"\(config.broker)".contains("hunter2"))
        #expect(!String(reflecting: config.broker).contains("hunter2"))
        #expect(
            config.warnings.map(\.description).contains {
                $0.contains("broker.password: a password in the config file is readable")
            })
    }

    @Test func classificationPriorsAndThresholds() throws {
        let config = try parseConfig(
            validConfigYAML
                + "\nclassification: {stream_prior: 0.8, other_prior: 0.05, contamination_confidence: 0.995, min_volume_l: 1.5}\n"
        )
        #expect(config.classification.streamPrior == 0.8)
        #expect(config.classification.otherPrior == 0.05)
        #expect(config.classification.contaminationConfidence == 0.995)
        // The old cut-off is still accepted, with a warning that it no longer does anything.
        #expect(
            config.warnings.map(\.description).contains { $0.contains("classification.min_volume_l: no longer used") })
        let against = try parseConfig(
            validConfigYAML + "\nclassification: {min_confidence: 0.85, against_stream_confidence: 0.97}\n")
        #expect(against.classification.minConfidence == 0.85)
        #expect(against.classification.againstStreamConfidence == 0.97)
        let errors = configErrors(
            validConfigYAML
                + "\nclassification: {against_stream_confidence: 0.97, contamination_confidence: 0.96, other_kg_l: [0.1, 3]}\n"
        )
        #expect(
            errors.contains {
                $0.contains(
                    "classification.contamination_confidence: contamination_confidence must be at least against_stream_confidence"
                )
            })
        #expect(
            configErrors(validConfigYAML + "\nclassification: {min_confidence: 0.95, against_stream_confidence: 0.9}\n")
                .contains {
                    $0.contains(
                        "classification.against_stream_confidence: against_stream_confidence must be at least min_confidence"
                    )
                })
        #expect(errors.contains { $0.contains("classification.other_kg_l: other_kg_l must reach below dry_kg_l") })
    }

    @Test func unknownKeysAreReportedWithSuggestion() {
        let errors = configErrors(replacing("    stream: wet", with: "    strem: wet"))
        #expect(
            errors == [
                "binsd.yaml:15:5: bins[0].stream: required field is missing",
                "binsd.yaml:16:5: bins[0].strem: unknown key (did you mean 'stream'?)",
            ])
        #expect(
            configErrors(replacing("logging:", with: "loging:")) == [
                "binsd.yaml:13:1: loging: unknown key (did you mean 'logging'?)"
            ])
    }

    @Test func unknownBoardAndPin() {
        let board = configErrors(replacing("board: raspberry-pi", with: "board: banana-pi"))
        #expect(
            board.first == "binsd.yaml:2:8: board: unknown board \"banana-pi\" (looked in ./boards, \(boardsDirectory))"
        )
        let pin = configErrors(replacing("dout: GPIO5", with: "dout: GPIO99"))
        #expect(pin == ["binsd.yaml:19:21: bins[0].sensors.hx711.dout: unknown pin \"GPIO99\" on board raspberry-pi"])
        let chipLine = configErrors(
            replacing("{chip: pinctrl-bcm2711, line: 20}", with: "{chip: pinctrl-bcm2711, line: 60}"))
        #expect(
            chipLine == [
                "binsd.yaml:27:55: bins[1].sensors.ranger.trigger.line: line 60 does not exist on pinctrl-bcm2711 (58 lines)"
            ])
    }

    @Test func oneLineUsedTwiceAcrossBinsAndNames() {
        // GPIO17 by name and physical pin 11 are the same line.
        let errors = configErrors(
            replacing("hx711: {dout: pin36, sck: P1-37}", with: "hx711: {dout: pin36, sck: pin11}"))
        #expect(
            errors == [
                "binsd.yaml:26:33: bins[1].sensors.hx711.sck: pinctrl-bcm2711|pinctrl-bcm2835 line 17 (GPIO17) is already used by bins[0].sensors.lid.pin"
            ])
        // A direct chip + line that names a board line counts too.
        let direct = configErrors(replacing("echo: GPIO21", with: "echo: {chip: pinctrl-bcm2835, line: 20}"))
        #expect(direct.count == 1)
        #expect(
            direct.first?.contains(
                "bins[1].sensors.ranger.echo: pinctrl-bcm2835 line 20 (GPIO20) is already used by bins[1].sensors.ranger.trigger"
            ) == true)
    }

    @Test func impossibleGeometry() {
        #expect(
            configErrors(replacing("width_mm: 480", with: "width_mm: -5"))
                == ["binsd.yaml:17:12: bins[0].shape.width_mm: must be greater than 0, got -5"])
        #expect(
            configErrors(replacing("depth_mm: 1000", with: "depth_mm: 0"))
                == ["binsd.yaml:24:12: bins[1].shape.depth_mm: must be greater than 0, got 0"])
        #expect(
            configErrors(replacing("mount_mm: 40", with: "mount_mm: 950")) == [
                "binsd.yaml:20:73: bins[0].sensors.ranger.mount_mm: 950 mm is beyond the bin depth 900 mm (mount_mm is the distance from the sensor to the top rim)"
            ])
        let table = configErrors(
            replacing(
                "shape: {kind: cylinder, diameter_mm: 600, depth_mm: 1000}",
                with: "shape: {kind: table, points: [[0, 0], [300, 50], [250, 60], [600, 55]]}"))
        #expect(
            table == [
                "binsd.yaml:24:12: bins[1].shape.points[2]: heights must increase, got 250 mm after 300 mm",
                "binsd.yaml:24:12: bins[1].shape.points[3]: volumes must increase with height, got 55 L after 60 L",
            ])
    }

    @Test func rangerTooCloseIsAWarningNotAnError() throws {
        let config = try parseConfig(replacing("model: hc-sr04, mount_mm: 40", with: "model: jsn-sr04t, mount_mm: 40"))
        #expect(
            config.warnings.map(\.description) == [
                "binsd.yaml:20:75: warning: bins[0].sensors.ranger.mount_mm: 40 mm is inside the jsn-sr04t's blind zone (250 mm): the top 23 % of the bin reads as full"
            ])
    }

    @Test func cautionPinsWarn() throws {
        let config = try parseConfig(replacing("dout: GPIO5", with: "dout: GPIO2"))
        #expect(
            config.warnings.map(\.description) == [
                "binsd.yaml:19:21: warning: bins[0].sensors.hx711.dout: pin GPIO2 (P1-3): I2C1 SDA: 1.8 kΩ pull-up to 3.3 V on the board; an input reads high when unconnected"
            ])
    }

    @Test func badBrokerURLs() {
        for url in [
            "http://broker:1883", "mqtt://", "mqtt://host:0", "mqtt://host:99999", "mqtt://user:pw@host",
            "mqtt://host/path",
        ] {
            let errors = configErrors(replacing("url: mqtt://127.0.0.1:1883", with: "url: \"\(url)\""))
            #expect(
                errors == [
                    "binsd.yaml:5:8: broker.url: \"\(url)\" is not a broker URL (expected mqtt://HOST:PORT or mqtts://HOST:PORT)"
                ])
        }
        #expect(BrokerURL("mqtt://[::1]:1884") == BrokerURL(tls: false, host: "::1", port: 1884))
        #expect(BrokerURL("mqtt://[::1]:1884")?.endpoint == "[::1]:1884")
        let noCA = configErrors(replacing("url: mqtt://127.0.0.1:1883", with: "url: mqtts://broker.example:8883"))
        #expect(
            noCA == [
                "binsd.yaml:5:3: broker: an mqtts:// broker needs ca_file (the CA that signed the broker's certificate)"
            ])
        let both = configErrors(
            replacing(
                "  password_file: /etc/binsd/password", with: "  password_file: /etc/binsd/password\n  password: x"))
        #expect(both.contains("binsd.yaml:7:13: broker.password: give either password or password_file, not both"))
    }

    @Test func referencedFilesMustExistWhenChecked() {
        let options = ConfigLoader.Options(boardSearchPaths: [boardsDirectory], checkReferencedFiles: true)
        #expect(throws: BinDaemonError.self) {
            try ConfigLoader.parse(yaml: validConfigYAML, file: "binsd.yaml", options: options)
        }
        do {
            _ = try ConfigLoader.parse(yaml: validConfigYAML, file: "binsd.yaml", options: options)
        } catch {
            #expect(
                error.issues.map(\.description) == [
                    "binsd.yaml:6:18: broker.password_file: file /etc/binsd/password does not exist"
                ])
        }
    }

    @Test func duplicateAndInvalidIdentifiers() {
        #expect(
            configErrors(replacing("  - id: dry", with: "  - id: wet")) == [
                "binsd.yaml:22:5: bins[1]: duplicate bin id \"wet\" (already used by bins[0])"
            ])
        #expect(
            configErrors(replacing("device: pt-0001", with: "device: \"pt/0001\"")) == [
                "binsd.yaml:1:9: device: \"pt/0001\" is not a valid device id (1 to 64 letters, digits, '-', '_' or '.')"
            ])
        #expect(
            configErrors(replacing("  - id: dry", with: "  - id: \"dry+\"")) == [
                "binsd.yaml:22:9: bins[1].id: \"dry+\" is not a valid bin id (1 to 64 letters, digits, '-', '_' or '.')"
            ])
    }

    @Test func typeAndRangeErrors() {
        #expect(
            configErrors(replacing("stream: dry", with: "stream: paper")) == [
                "binsd.yaml:23:13: bins[1].stream: \"paper\" is not one of wet | dry | recyclable | hazardous"
            ])
        #expect(
            configErrors(replacing("rate: 10", with: "rate: 40")) == [
                "binsd.yaml:19:46: bins[0].sensors.hx711.rate: must be 10 or 80 (samples per second), got 40"
            ])
        #expect(
            configErrors(replacing("width_mm: 480", with: "width_mm: wide")) == [
                "binsd.yaml:17:34: bins[0].shape.width_mm: expected a number, got \"wide\""
            ])
        #expect(
            configErrors(replacing("capacity: 5000", with: "capacity: 5")) == [
                "binsd.yaml:12:20: outbox.capacity: must be between 100 and 100000000, got 5"
            ])
    }

    @Test func syntaxErrorsNameThePlace() {
        do {
            _ = try parseConfig("device: [unclosed\n")
            Issue.record("expected a syntax error")
        } catch {
            #expect(error.code == .syntax)
            #expect(error.issues.first?.file == "binsd.yaml")
            #expect(error.issues.first?.line != nil)
        }
    }

    @Test func missingCalibrationIsARunTimeCheck() throws {
        let config = try parseConfig(validConfigYAML)
        try config.checkCalibration { _ in true }
        do {
            try config.checkCalibration { $0 == "wet" }
            Issue.record("expected calibrationMissing")
        } catch {
            #expect(error.code == .calibrationMissing)
            #expect(
                error.issues.map(\.description) == [
                    "binsd.yaml: bins[1]: scale of bin \"dry\" is not calibrated (nothing usable in /var/lib/binsd/calibration); run: binsd calibrate --config binsd.yaml --bin dry --tare, then --known-kg MASS with a reference mass on the scale"
                ])
        }
    }

    @Test func loadsFromDiskWithErrnoOnFailure() throws {
        do {
            _ = try ConfigLoader.load(path: "/nonexistent/binsd.yaml", options: testOptions)
            Issue.record("expected an error")
        } catch {
            #expect(error.code == .fileUnreadable)
            #expect(error.message == "/nonexistent/binsd.yaml: open failed: No such file or directory (errno 2)")
        }
    }

    @Test func shippedExampleConfigIsValid() throws {
        let example = URL(fileURLWithPath: boardsDirectory).deletingLastPathComponent().appendingPathComponent(
            "config/binsd.example.yaml"
        ).path
        let config = try ConfigLoader.load(path: example, options: testOptions)
        #expect(config.bins.count >= 2)
    }
}
