import Testing
import YAMLConfig

/// A small schema in the style of the project's files: a device with bins, each with a shape.
struct Point: Equatable {
    enum Stream: String, CaseIterable { case wet, dry }

    struct Bin: Equatable {
        var id: String
        var stream: Stream
        var depthMm: Double
        var lid: Bool
        var pins: [Int]
    }

    var device: String
    var seed: UInt64
    var bins: [Bin]

    static func read(_ root: YAMLValue) -> Point? {
        root.fields { fields in
            let device = fields.required("device")?.string("device id", rule: "letters and digits") {
                !$0.isEmpty && $0.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" }
            }
            let seed = fields.optional("seed")?.integer(UInt64.self) ?? 1
            var bins: [Bin] = []
            for item in fields.required("bins")?.list() ?? [] {
                if let bin = readBin(item) { bins.append(bin) }
            }
            guard let device else { return nil }
            return Point(device: device, seed: seed, bins: bins)
        }
    }

    static func readBin(_ value: YAMLValue) -> Bin? {
        value.fields { fields in
            let id = fields.required("id")?.string()
            let stream = fields.required("stream")?.choice(Stream.self)
            let depth = fields.required("shape")?.fields { shape -> Double? in
                shape.skip("kind")
                return shape.required("depth_mm")?.double(in: 1...20_000)
            }
            let lid = fields.optional("lid")?.bool() ?? true
            let pinsValue = fields.optional("pins")
            let pins = pinsValue?.list()?.compactMap { $0.int(in: 0...63) } ?? []
            if let pinsValue, pins.count == 1 { pinsValue.warning("a single pin is unusual") }
            guard let id, let stream, let depth else { return nil }
            return Bin(id: id, stream: stream, depthMm: depth, lid: lid, pins: pins)
        }
    }
}

@Suite("Strict YAML documents")
struct YAMLDocumentTests {
    func parse(_ yaml: String) throws(ConfigError) -> (value: Point, warnings: [ConfigIssue]) {
        try YAMLDocument.parse(yaml: yaml, file: "test.yaml", what: "point", Point.read)
    }

    func issues(_ yaml: String) -> [String] {
        do {
            _ = try parse(yaml)
            return []
        } catch {
            #expect(error.code == .invalid)
            #expect(
                error.message
                    == "test.yaml: \(error.issues.filter { $0.severity == .error }.count) error(s) in the point")
            return error.issues.map(\.description)
        }
    }

    @Test("reads nested mappings, lists, choices, optional fields, digit separators and hexadecimal")
    func reads() throws {
        let (point, warnings) = try parse(
            """
            device: pt-1
            seed: 0x2A
            bins:
              - id: wet
                stream: wet
                shape: {kind: box, depth_mm: 900}
                pins: [17, 27]
              - id: dry
                stream: dry
                shape: {kind: cylinder, depth_mm: 1_000}
                lid: no
            """)
        #expect(point.seed == 42)
        #expect(
            point.bins == [
                Point.Bin(id: "wet", stream: .wet, depthMm: 900, lid: true, pins: [17, 27]),
                Point.Bin(id: "dry", stream: .dry, depthMm: 1000, lid: false, pins: []),
            ])
        #expect(warnings.isEmpty)
    }

    @Test("every problem is reported at once, with file, line, column, field path and the value as written")
    func everyProblemAtOnce() {
        let found = issues(
            """
            device: pt/1
            seed: -3
            bins:
              - id: wet
                strem: wet
                shape: {kind: box, depth_mm: deep}
                pins: [17, 99]
              - id: dry
                stream: dyr
                shape: {kind: box, depth_mm: -5}
                lid: maybe
                colour: red
            """)
        #expect(
            found == [
                "test.yaml:1:9: device: \"pt/1\" is not a valid device id (letters and digits)",
                "test.yaml:2:7: seed: expected a whole number from 0 to 18446744073709551615, got \"-3\"",
                "test.yaml:4:5: bins[0].stream: required field is missing",
                "test.yaml:6:34: bins[0].shape.depth_mm: expected a number, got \"deep\"",
                "test.yaml:7:16: bins[0].pins[1]: must be between 0 and 63, got 99",
                "test.yaml:7:11: warning: bins[0].pins: a single pin is unusual",
                "test.yaml:5:5: bins[0].strem: unknown key (did you mean 'stream'?)",
                "test.yaml:9:13: bins[1].stream: \"dyr\" is not one of wet | dry (did you mean 'dry'?)",
                "test.yaml:10:34: bins[1].shape.depth_mm: must be between 1 and 20000, got -5",
                "test.yaml:11:10: bins[1].lid: expected true or false, got \"maybe\"",
                "test.yaml:12:5: bins[1].colour: unknown key (expected one of: id, lid, pins, shape, stream)",
            ])
    }

    @Test("values of the wrong kind name the kind found")
    func wrongKinds() {
        #expect(issues("device: [a, b]\nbins: []\n") == ["test.yaml:1:9: device: expected a text value, got a list"])
        #expect(issues("device: a\nbins: {id: x}\n") == ["test.yaml:2:7: bins: expected a list, got a mapping"])
        #expect(issues("- device\n") == ["test.yaml:1:1: expected a mapping, got a list"])
        #expect(issues("device: a\nbins: ~\n") == ["test.yaml:1:1: bins: required field is missing"])
    }

    @Test("warnings come back with the value and do not fail the file")
    func warnings() throws {
        let (point, warnings) = try parse(
            "device: a\nbins:\n  - {id: w, stream: wet, shape: {depth_mm: 5}, pins: [3]}\n")
        #expect(point.bins.count == 1)
        #expect(warnings.map(\.description) == ["test.yaml:3:54: warning: bins[0].pins: a single pin is unusual"])
    }

    @Test("text that is not YAML, repeated keys and an empty file are syntax errors with their place")
    func syntax() {
        for (yaml, expected) in [
            ("device: [unclosed\n", "test.yaml:2:1: "),
            ("device: a\ndevice: b\nbins: []\n", "duplicate key 'device'"),
            ("", "test.yaml: the file is empty"),
        ] {
            do {
                _ = try parse(yaml)
                Issue.record("accepted: \(yaml)")
            } catch {
                #expect(error.code == .syntax)
                #expect(error.description.contains(expected), "\(error)")
            }
        }
    }

    @Test("a missing file is reported with its path, the failing call and errno")
    func missingFile() {
        do {
            _ = try YAMLDocument.load(path: "/nonexistent/point.yaml", what: "point", Point.read)
            Issue.record("loaded a missing file")
        } catch {
            #expect(error.code == .unreadable)
            #expect(error.errno == 2)
            #expect(error.message == "/nonexistent/point.yaml: open failed: No such file or directory (errno 2)")
        }
    }

    @Test("suggestions need a close match: a short word suggests nothing")
    func suggestions() {
        #expect(ConfigText.closest(to: "strem", among: ["stream", "shape"]) == "stream")
        #expect(ConfigText.closest(to: "x", among: ["id", "at"]) == nil)
        #expect(ConfigText.closest(to: "colour", among: ["caution", "chip"]) == nil)
    }
}
