import Testing
import YAMLConfig

struct Shape: Decodable, Equatable {
    var kind: String
    var depthMm: Double

    enum CodingKeys: String, CodingKey {
        case kind
        case depthMm = "depth_mm"
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        kind = try c.decode(String.self, forKey: .kind)
        depthMm = try c.decode(Double.self, forKey: .depthMm)
        guard depthMm > 0 else { throw ConfigValueError("must be positive (got \(depthMm))", field: "depth_mm") }
    }
}

enum Stream: String, Decodable { case wet, dry }

struct Bin: Decodable, Equatable {
    var id: String
    var stream: Stream
    var shape: Shape
    var lid: Bool?
    var pins: [Int]?
}

struct File: Decodable, Equatable {
    var device: String
    var bins: [Bin]
}

@Suite("Strict YAML decoder")
struct StrictYAMLDecoderTests {
    func decode(_ yaml: String) throws(ConfigError) -> File {
        try StrictYAMLDecoder.decode(File.self, yaml: yaml, file: "test.yaml")
    }

    @Test("decodes nested mappings, lists, enums, optionals")
    func decodes() throws {
        let file = try decode(
            """
            device: pt-1
            bins:
              - id: wet
                stream: wet
                shape: {kind: box, depth_mm: 900}
                pins: [17, 27]
              - id: dry
                stream: dry
                shape: {kind: cylinder, depth_mm: 1_000}
                lid: false
            """)
        #expect(file.bins.count == 2)
        #expect(file.bins[0].pins == [17, 27])
        #expect(file.bins[0].lid == nil)
        #expect(file.bins[1].lid == false)
        #expect(file.bins[1].shape.depthMm == 1000)
    }

    @Test(
        "errors name file, line, field path and value",
        arguments: [
            ("device: pt-1\nbins:\n  - id: wet\n    strem: wet\n", "test.yaml:4: bins[0].strem: unknown field"),
            ("device: pt-1\nbins:\n  - id: wet\n    stream: wet\n", "test.yaml:3: bins[0].shape: is required"),
            (
                "device: pt-1\nbins:\n  - id: wet\n    stream: wet\n    shape: {kind: box, depth_mm: -5}\n",
                "test.yaml:5: bins[0].shape.depth_mm: must be positive (got -5.0)"
            ),
            (
                "device: pt-1\nbins:\n  - id: wet\n    stream: wet\n    shape: {kind: box, depth_mm: deep}\n",
                "test.yaml:5: bins[0].shape.depth_mm: expected a number, found \"deep\""
            ),
            (
                "device: pt-1\nbins:\n  - id: wet\n    stream: wt\n    shape: {kind: box, depth_mm: 5}\n",
                "bins[0].stream"
            ),
            (
                "device: pt-1\nbins:\n  - id: wet\n    stream: wet\n    shape: {kind: box, depth_mm: 5}\n    lid: maybe\n",
                "test.yaml:6: bins[0].lid: expected true or false, found \"maybe\""
            ),
            ("device: pt-1\ndevice: pt-2\nbins: []\n", "device"),
            ("device: [unclosed\n", "test.yaml:"),
            ("bins: []\n", "test.yaml:1: device: is required"),
        ])
    func errors(yaml: String, expected: String) {
        do {
            _ = try decode(yaml)
            Issue.record("decoded invalid YAML: \(yaml)")
        } catch {
            #expect(error.description.contains(expected), "\(error.description)")
        }
    }

    @Test("a missing file is reported with its path and errno")
    func missingFile() {
        do {
            _ = try StrictYAMLDecoder.load(File.self, path: "/nonexistent/binsd.yaml")
            Issue.record("loaded a missing file")
        } catch {
            #expect(error.code == .unreadable)
            #expect(error.description.hasPrefix("/nonexistent/binsd.yaml: "))
            #expect(error.errno != nil)
        }
    }
}
