import Foundation
import Yams

/// Decodes YAML into `Decodable` types strictly: unknown keys are errors (a typo like `strem:` must not
/// silently fall back to a default), duplicate keys and aliases are refused, numbers must be numbers,
/// and every error names the file, the field path and the line.
///
/// Types validate themselves in `init(from:)` by throwing `ConfigValueError`; the decoder adds where.
public enum StrictYAMLDecoder {
    /// Reads and decodes `path`.
    public static func load<T: Decodable>(_ type: T.Type, path: String) throws(ConfigError) -> T {
        let text = try readFile(path)
        return try decode(type, yaml: text, file: path)
    }

    /// Reads a whole text file; errors carry the path and errno.
    public static func readFile(_ path: String) throws(ConfigError) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            throw ConfigError(.unreadable, file: path, path: "", message: String(cString: strerror(code)), errno: code)
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                let code = errno
                if code == EINTR { continue }
                throw ConfigError(.unreadable, file: path, path: "", message: String(cString: strerror(code)), errno: code)
            }
            if count == 0 { break }
            bytes += chunk[0..<count]
            guard bytes.count <= 16 * 1024 * 1024 else {
                throw ConfigError(.unreadable, file: path, path: "", message: "larger than 16 MiB")
            }
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ConfigError(.syntax, file: path, path: "", message: "not UTF-8 text")
        }
        return text
    }

    /// Decodes `yaml`; `file` is only used to name the source in errors.
    public static func decode<T: Decodable>(_ type: T.Type, yaml: String, file: String) throws(ConfigError) -> T {
        let root: Node
        do {
            root = try Yams.compose(yaml: yaml) ?? Node("", Tag(.null))
        } catch let error as YamlError {
            throw ConfigError(.syntax, file: file, path: "", line: Self.line(of: error), message: Self.summary(of: error))
        } catch {
            throw ConfigError(.syntax, file: file, path: "", message: "not valid YAML")
        }
        let decoder = NodeDecoder(node: root, codingPath: [], file: file)
        do {
            return try T(from: decoder)
        } catch let error as ConfigError {
            throw error
        } catch let error as DecodingError {
            throw decoder.context.translate(error)
        } catch let error as ConfigValueError {
            let path = error.field ?? ""
            throw ConfigError(
                .invalidValue, file: file, path: path, line: decoder.context.line(forRendered: path), message: error.message)
        } catch {
            throw ConfigError(.invalidValue, file: file, path: "", message: "\(error)")
        }
    }

    static func line(of error: YamlError) -> Int? {
        switch error {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): mark.line
        default: nil
        }
    }

    static func summary(of error: YamlError) -> String {
        switch error {
        case .scanner(_, let problem, _, _), .parser(_, let problem, _, _), .composer(_, let problem, _, _):
            "invalid YAML: \(problem)"
        case .duplicatedKeysInMapping(let duplicates, _):
            "duplicate keys: \(duplicates.joined(separator: ", "))"
        default:
            "invalid YAML"
        }
    }
}

/// Remembers the line of every node decoded so far so that errors thrown by `DecodingError` (which only
/// carry a coding path) can be placed in the file.
final class DecodingContext {
    let file: String
    var lines: [String: Int] = [:]

    init(file: String) { self.file = file }

    func record(_ path: [any CodingKey], _ node: Node) {
        if let mark = node.mark { lines[renderCodingPath(path)] = mark.line }
    }

    func line(for path: [any CodingKey]) -> Int? { line(forRendered: renderCodingPath(path)) }

    /// The line of the deepest decoded node on `path` (`bins[1].shape.depth_mm`, then `bins[1].shape`, ...).
    func line(forRendered path: String) -> Int? {
        var path = Substring(path)
        while true {
            if let line = lines[String(path)] { return line }
            if path.isEmpty { return nil }
            if let cut = path.lastIndex(where: { $0 == "." || $0 == "[" }) {
                path = path[..<cut]
            } else {
                path = ""
            }
        }
    }

    func error(_ code: ConfigError.Code, _ path: [any CodingKey], _ message: String) -> ConfigError {
        ConfigError(code, file: file, path: renderCodingPath(path), line: line(for: path), message: message)
    }

    func translate(_ error: DecodingError) -> ConfigError {
        switch error {
        case .keyNotFound(let key, let context):
            return self.error(.missingField, context.codingPath + [key], "is required")
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return self.error(.invalidValue, context.codingPath, context.debugDescription)
        case .dataCorrupted(let context):
            if let underlying = context.underlyingError as? ConfigValueError {
                var path = renderCodingPath(context.codingPath)
                if let field = underlying.field { path += path.isEmpty ? field : ".\(field)" }
                return ConfigError(
                    .invalidValue, file: file, path: path, line: line(for: context.codingPath),
                    message: underlying.message)
            }
            return self.error(.invalidValue, context.codingPath, context.debugDescription)
        @unknown default:
            return ConfigError(.invalidValue, file: file, path: "", message: "\(error)")
        }
    }
}

struct IndexKey: CodingKey {
    var stringValue: String { "\(index)" }
    var intValue: Int? { index }
    let index: Int
    init(_ index: Int) { self.index = index }
    init?(stringValue: String) { nil }
    init?(intValue: Int) { self.index = intValue }
}

struct NodeDecoder: Decoder {
    let node: Node
    let codingPath: [any CodingKey]
    let context: DecodingContext
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(node: Node, codingPath: [any CodingKey], file: String) {
        self.init(node: node, codingPath: codingPath, context: DecodingContext(file: file))
    }

    init(node: Node, codingPath: [any CodingKey], context: DecodingContext) {
        self.node = node
        self.codingPath = codingPath
        self.context = context
        context.record(codingPath, node)
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .mapping(let mapping) = node else {
            throw context.error(.invalidValue, codingPath, "expected a mapping of fields, found \(describe(node))")
        }
        var fields: [String: Node] = [:]
        for (keyNode, value) in mapping {
            guard case .scalar(let scalar) = keyNode else {
                throw context.error(.syntax, codingPath, "field names must be plain strings")
            }
            let name = scalar.string
            guard fields[name] == nil else {
                throw context.error(.syntax, codingPath + [AnyKey(name)], "appears twice")
            }
            guard Key(stringValue: name) != nil else {
                context.record(codingPath + [AnyKey(name)], keyNode)
                throw context.error(.unknownField, codingPath + [AnyKey(name)], "unknown field")
            }
            fields[name] = value
        }
        return KeyedDecodingContainer(KeyedNodeContainer<Key>(fields: fields, decoder: self))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .sequence(let sequence) = node else {
            throw context.error(.invalidValue, codingPath, "expected a list, found \(describe(node))")
        }
        return UnkeyedNodeContainer(nodes: Array(sequence), decoder: self)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        SingleNodeContainer(decoder: self)
    }

    func child(_ node: Node, _ key: any CodingKey) -> NodeDecoder {
        NodeDecoder(node: node, codingPath: codingPath + [key], context: context)
    }

    // MARK: Scalars

    func isNull(_ node: Node) -> Bool {
        guard case .scalar(let scalar) = node else { return false }
        return scalar.style == .plain && ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    func scalarText(_ expected: String) throws -> String {
        guard case .scalar(let scalar) = node else {
            throw context.error(.invalidValue, codingPath, "expected \(expected), found \(describe(node))")
        }
        return scalar.string
    }

    func decodeScalar<T: Decodable>(_ type: T.Type) throws -> T {
        if type == String.self {
            guard !isNull(node) else { throw context.error(.invalidValue, codingPath, "expected a string, found null") }
            return try scalarText("a string") as! T
        }
        if type == Bool.self {
            switch try scalarText("true or false") {
            case "true", "True", "TRUE": return true as! T
            case "false", "False", "FALSE": return false as! T
            case let text: throw context.error(.invalidValue, codingPath, "expected true or false, found \(quote(text))")
            }
        }
        if type == Double.self || type == Float.self {
            let text = try scalarText("a number")
            guard let value = Double(text.replacingOccurrences(of: "_", with: "")), value.isFinite else {
                throw context.error(.invalidValue, codingPath, "expected a number, found \(quote(text))")
            }
            return (type == Float.self ? Float(value) as Any : value as Any) as! T
        }
        if let integer = type as? any FixedWidthInteger.Type {
            let text = try scalarText("a whole number")
            let cleaned = text.replacingOccurrences(of: "_", with: "")
            if let value = integer.init(cleaned, radix: 10) { return value as! T }
            if cleaned.hasPrefix("0x"), let value = integer.init(cleaned.dropFirst(2), radix: 16) { return value as! T }
            throw context.error(.invalidValue, codingPath, "expected a whole number in range, found \(quote(text))")
        }
        do {
            return try T(from: self)
        } catch let error as ConfigValueError {
            let path = error.field.map { codingPath + [AnyKey($0)] } ?? codingPath
            throw context.error(.invalidValue, path, error.message)
        }
    }

    func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let scalar): isNull(node) ? "null" : quote(scalar.string)
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .alias: "an alias"
        }
    }

    func quote(_ text: String) -> String {
        let short = text.count > 40 ? String(text.prefix(40)) + "..." : text
        return "\"\(short)\""
    }
}

struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ string: String) { stringValue = string }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

struct KeyedNodeContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let fields: [String: Node]
    let decoder: NodeDecoder
    var codingPath: [any CodingKey] { decoder.codingPath }
    var allKeys: [Key] { fields.keys.compactMap { Key(stringValue: $0) } }

    func contains(_ key: Key) -> Bool { fields[key.stringValue] != nil }

    func node(_ key: Key) throws -> Node {
        guard let node = fields[key.stringValue] else {
            throw decoder.context.error(.missingField, codingPath + [key], "is required")
        }
        return node
    }

    func decodeNil(forKey key: Key) throws -> Bool {
        guard let node = fields[key.stringValue] else { return true }
        return decoder.isNull(node)
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try decoder.child(try node(key), key).decodeScalar(type)
    }

    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard let node = fields[key.stringValue], !decoder.isNull(node) else { return nil }
        return try decoder.child(node, key).decodeScalar(type)
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws
        -> KeyedDecodingContainer<NestedKey>
    {
        try decoder.child(try node(key), key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try decoder.child(try node(key), key).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder { decoder }
    func superDecoder(forKey key: Key) throws -> any Decoder { decoder.child(try node(key), key) }
}

struct UnkeyedNodeContainer: UnkeyedDecodingContainer {
    let nodes: [Node]
    let decoder: NodeDecoder
    var currentIndex = 0
    var codingPath: [any CodingKey] { decoder.codingPath }
    var count: Int? { nodes.count }
    var isAtEnd: Bool { currentIndex >= nodes.count }

    init(nodes: [Node], decoder: NodeDecoder) {
        self.nodes = nodes
        self.decoder = decoder
    }

    mutating func next() throws -> NodeDecoder {
        guard !isAtEnd else {
            throw decoder.context.error(.invalidValue, codingPath, "list has too few items")
        }
        defer { currentIndex += 1 }
        return decoder.child(nodes[currentIndex], IndexKey(currentIndex))
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, decoder.isNull(nodes[currentIndex]) else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try next().decodeScalar(type) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws
        -> KeyedDecodingContainer<NestedKey>
    {
        try next().container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer { try next().unkeyedContainer() }
    mutating func superDecoder() throws -> any Decoder { try next() }
}

struct SingleNodeContainer: SingleValueDecodingContainer {
    let decoder: NodeDecoder
    var codingPath: [any CodingKey] { decoder.codingPath }
    func decodeNil() -> Bool { decoder.isNull(decoder.node) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try decoder.decodeScalar(type) }
}
