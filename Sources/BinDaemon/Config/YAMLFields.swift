import Foundation
import Yams

/// Collects the issues found while one YAML file is read into typed values, so that a reader reports
/// everything wrong with a file at once instead of stopping at the first problem.
final class YAMLDiagnostics {
    let file: String
    private(set) var issues: [ConfigIssue] = []

    init(file: String) {
        self.file = file
    }

    var hasErrors: Bool { issues.contains { $0.severity == .error } }

    func error(_ field: String, at node: Node?, _ message: String) {
        add(.error, field, at: node, message)
    }

    func warning(_ field: String, at node: Node?, _ message: String) {
        add(.warning, field, at: node, message)
    }

    private func add(_ severity: ConfigIssue.Severity, _ field: String, at node: Node?, _ message: String) {
        issues.append(
            ConfigIssue(
                severity: severity, file: file, line: node?.mark?.line, column: node?.mark?.column, field: field,
                message: message))
    }
}

enum YAMLText {
    /// Parses one YAML document; syntax errors become a `.syntax` error with the place libyaml reports.
    static func compose(_ text: String, file: String) throws(BinDaemonError) -> Node {
        do {
            guard let node = try Yams.compose(yaml: text) else {
                throw BinDaemonError(
                    .syntax, "\(file): the file is empty",
                    issues: [ConfigIssue(file: file, field: "", message: "the file is empty")])
            }
            return node
        } catch let error as BinDaemonError {
            throw error
        } catch let error as YamlError {
            let issue = issue(for: error, file: file)
            throw BinDaemonError(.syntax, "\(file): not valid YAML", issues: [issue])
        } catch {
            throw BinDaemonError(
                .syntax, "\(file): not valid YAML",
                issues: [ConfigIssue(file: file, field: "", message: "\(error)")])
        }
    }

    private static func issue(for error: YamlError, file: String) -> ConfigIssue {
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            let text = [context?.text, problem].compactMap { $0 }.joined(separator: ": ")
            return ConfigIssue(file: file, line: mark.line, column: mark.column, field: "", message: text)
        case .duplicatedKeysInMapping(let duplicates, let context):
            return ConfigIssue(
                file: file, line: context.mark.line, column: context.mark.column, field: "",
                message: "duplicate key \(duplicates.sorted().map { "'\($0)'" }.joined(separator: ", "))")
        default:
            return ConfigIssue(file: file, field: "", message: "\(error)")
        }
    }

    /// How a node is named in a message: the scalar's text, quoted, or its kind.
    static func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let scalar): "\"\(scalar.string)\""
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .alias: "an alias"
        }
    }

    static func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }
    static func index(_ path: String, _ index: Int) -> String { "\(path)[\(index)]" }
}

/// Typed reading of single YAML values, reporting type errors against the value's path.
struct YAMLValue {
    let node: Node
    let path: String
    let diagnostics: YAMLDiagnostics

    var isNull: Bool {
        guard case .scalar(let scalar) = node, scalar.style == .plain || scalar.style == .any else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    func string() -> String? {
        guard case .scalar(let scalar) = node else {
            diagnostics.error(path, at: node, "expected a text value, got \(YAMLText.describe(node))")
            return nil
        }
        return scalar.string
    }

    func double() -> Double? {
        guard case .scalar(let scalar) = node, let value = Double(scalar.string.replacingOccurrences(of: "_", with: "")),
            value.isFinite
        else {
            diagnostics.error(path, at: node, "expected a number, got \(YAMLText.describe(node))")
            return nil
        }
        return value
    }

    func int() -> Int? {
        guard case .scalar(let scalar) = node, let value = Int(scalar.string.replacingOccurrences(of: "_", with: ""))
        else {
            diagnostics.error(path, at: node, "expected a whole number, got \(YAMLText.describe(node))")
            return nil
        }
        return value
    }

    func bool() -> Bool? {
        guard case .scalar(let scalar) = node else {
            diagnostics.error(path, at: node, "expected true or false, got \(YAMLText.describe(node))")
            return nil
        }
        switch scalar.string.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default:
            diagnostics.error(path, at: node, "expected true or false, got \(YAMLText.describe(node))")
            return nil
        }
    }

    /// One of a fixed set of words, e.g. `wet | dry | recyclable | hazardous`.
    func choice<T: RawRepresentable & CaseIterable>(_: T.Type) -> T? where T.RawValue == String {
        guard let text = string() else { return nil }
        if let value = T(rawValue: text) { return value }
        let allowed = T.allCases.map(\.rawValue).joined(separator: " | ")
        diagnostics.error(path, at: node, "\"\(text)\" is not one of \(allowed)")
        return nil
    }

    func fields() -> YAMLFields? { YAMLFields(node, path: path, diagnostics: diagnostics) }

    func list() -> [YAMLValue]? {
        guard case .sequence(let sequence) = node else {
            diagnostics.error(path, at: node, "expected a list, got \(YAMLText.describe(node))")
            return nil
        }
        return sequence.enumerated().map { index, element in
            YAMLValue(node: element, path: YAMLText.index(path, index), diagnostics: diagnostics)
        }
    }

    func error(_ message: String) { diagnostics.error(path, at: node, message) }
    func warning(_ message: String) { diagnostics.warning(path, at: node, message) }
}

/// A YAML mapping read key by key. Every key that no one asked for is reported by `finish()` as
/// unknown (with the closest known key as a suggestion), so a typo such as `strem:` is an error rather
/// than a silently ignored line.
struct YAMLFields {
    let node: Node
    let path: String
    let diagnostics: YAMLDiagnostics
    private let entries: [(key: String, keyNode: Node, value: Node)]
    private var asked: Set<String> = []

    init?(_ node: Node, path: String, diagnostics: YAMLDiagnostics) {
        guard case .mapping(let mapping) = node else {
            diagnostics.error(path, at: node, "expected a mapping, got \(YAMLText.describe(node))")
            return nil
        }
        self.node = node
        self.path = path
        self.diagnostics = diagnostics
        var entries: [(key: String, keyNode: Node, value: Node)] = []
        for (key, value) in mapping {
            guard case .scalar(let scalar) = key else {
                diagnostics.error(path, at: key, "keys must be plain words, got \(YAMLText.describe(key))")
                continue
            }
            entries.append((scalar.string, key, value))
        }
        self.entries = entries
    }

    var keys: [String] { entries.map(\.key) }

    func path(_ key: String) -> String { YAMLText.join(path, key) }

    /// The value under `key`, or nil when absent or explicitly null.
    mutating func optional(_ key: String) -> YAMLValue? {
        asked.insert(key)
        guard let entry = entries.first(where: { $0.key == key }) else { return nil }
        let value = YAMLValue(node: entry.value, path: path(key), diagnostics: diagnostics)
        return value.isNull ? nil : value
    }

    /// The value under `key`; reports it missing when absent.
    mutating func required(_ key: String) -> YAMLValue? {
        guard let value = optional(key) else {
            diagnostics.error(path(key), at: node, "required field is missing")
            return nil
        }
        return value
    }

    /// Reports every key that was never asked for.
    func finish() {
        for entry in entries where !asked.contains(entry.key) {
            var message = "unknown key"
            if let suggestion = Self.closest(to: entry.key, among: asked) {
                message += " (did you mean '\(suggestion)'?)"
            }
            diagnostics.error(path(entry.key), at: entry.keyNode, message)
        }
    }

    /// The known key within edit distance 2 of `word`, if there is one.
    static func closest(to word: String, among candidates: Set<String>) -> String? {
        let scored = candidates.map { ($0, editDistance(word, $0)) }.filter { $0.1 <= 2 }
        return scored.min { $0.1 != $1.1 ? $0.1 < $1.1 : $0.0 < $1.0 }?.0
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a.utf8)
        let b = Array(b.utf8)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
                current[j] = min(previous[j] + 1, current[j - 1] + 1, substitution)
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
