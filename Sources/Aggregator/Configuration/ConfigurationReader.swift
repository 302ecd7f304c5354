import Foundation
import Yams

/// Walks a composed YAML document and keeps the path of every value, so each error names its file and
/// field (`aggregator.yaml: streets[1].communities[0].households: ...`). Unknown keys are errors: a
/// misspelt setting silently falling back to a default is how a district ends up with the wrong alerts.
struct ConfigurationNode {
    let node: Node
    let path: String
    let file: String

    func error(_ message: String) -> AggregatorError {
        AggregatorError(.configuration, "\(file): \(path.isEmpty ? "" : "\(path): ")\(message)")
    }

    func child(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    var isNull: Bool {
        if case .scalar = node { return node.null != nil }
        return false
    }

    func mapping(allowed: Set<String>) throws(AggregatorError) -> ConfigurationMapping {
        guard case .mapping(let mapping) = node else { throw error("expected a mapping of settings") }
        var entries: [String: ConfigurationNode] = [:]
        for (key, value) in mapping {
            guard let name = key.string else { throw error("a key is not a string") }
            guard allowed.contains(name) else {
                throw error("unknown setting \"\(name)\" (expected one of: \(allowed.sorted().joined(separator: ", ")))")
            }
            entries[name] = ConfigurationNode(node: value, path: child(name), file: file)
        }
        return ConfigurationMapping(node: self, entries: entries)
    }

    func sequence() throws(AggregatorError) -> [ConfigurationNode] {
        guard case .sequence(let sequence) = node else { throw error("expected a list") }
        return sequence.enumerated().map { index, element in
            ConfigurationNode(node: element, path: "\(path)[\(index)]", file: file)
        }
    }

    func string() throws(AggregatorError) -> String {
        guard case .scalar(let scalar) = node else { throw error("expected a text value") }
        return scalar.string
    }

    func int() throws(AggregatorError) -> Int {
        guard case .scalar = node, let value = node.int else { throw error("expected a whole number") }
        return value
    }

    func double() throws(AggregatorError) -> Double {
        guard case .scalar = node, let value = node.float, value.isFinite else { throw error("expected a number") }
        return value
    }

    func bool() throws(AggregatorError) -> Bool {
        guard case .scalar = node, let value = node.bool else { throw error("expected true or false") }
        return value
    }

    func date() throws(AggregatorError) -> LocalDate {
        let text = try string()
        guard let date = LocalDate(text) else { throw error("\"\(text.prefix(32))\" is not a date YYYY-MM-DD") }
        return date
    }

    func enumeration<T: RawRepresentable & CaseIterable>(_ type: T.Type) throws(AggregatorError) -> T
    where T.RawValue == String {
        let text = try string()
        guard let value = T(rawValue: text) else {
            throw error(
                "\"\(text.prefix(32))\" is not one of: \(T.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return value
    }
}

struct ConfigurationMapping {
    let node: ConfigurationNode
    let entries: [String: ConfigurationNode]

    /// The value at `key`; `nil` when absent or written as null.
    subscript(_ key: String) -> ConfigurationNode? {
        guard let entry = entries[key], !entry.isNull else { return nil }
        return entry
    }

    func required(_ key: String) throws(AggregatorError) -> ConfigurationNode {
        guard let value = self[key] else { throw node.error("missing setting \"\(key)\"") }
        return value
    }

    func string(_ key: String) throws(AggregatorError) -> String? { try self[key]?.string() }
    func int(_ key: String) throws(AggregatorError) -> Int? { try self[key]?.int() }
    func double(_ key: String) throws(AggregatorError) -> Double? { try self[key]?.double() }
    func bool(_ key: String) throws(AggregatorError) -> Bool? { try self[key]?.bool() }
    func date(_ key: String) throws(AggregatorError) -> LocalDate? { try self[key]?.date() }

    func requiredString(_ key: String) throws(AggregatorError) -> String { try required(key).string() }
    func requiredDouble(_ key: String) throws(AggregatorError) -> Double { try required(key).double() }
    func requiredDate(_ key: String) throws(AggregatorError) -> LocalDate { try required(key).date() }

    /// A number that must lie in `range`.
    func double(_ key: String, in range: ClosedRange<Double>) throws(AggregatorError) -> Double? {
        guard let entry = self[key] else { return nil }
        let value = try entry.double()
        guard range.contains(value) else {
            throw entry.error("\(value) is outside \(Self.format(range.lowerBound))...\(Self.format(range.upperBound))")
        }
        return value
    }

    func int(_ key: String, in range: ClosedRange<Int>) throws(AggregatorError) -> Int? {
        guard let entry = self[key] else { return nil }
        let value = try entry.int()
        guard range.contains(value) else { throw entry.error("\(value) is outside \(range.lowerBound)...\(range.upperBound)") }
        return value
    }

    static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}
