/// A YAML mapping read key by key (see `YAMLValue.fields(_:)`). Every key asked for counts as known;
/// the others are reported as unknown once reading ends.
public struct YAMLFields {
    /// The mapping itself, for problems that concern it as a whole.
    public let value: YAMLValue
    private let entries: [(key: String, keyNode: YAMLNode, value: YAMLNode)]
    private var asked: Set<String> = []

    init(mapping: [(key: YAMLNode, value: YAMLNode)], value: YAMLValue) {
        self.value = value
        var entries: [(key: String, keyNode: YAMLNode, value: YAMLNode)] = []
        for (key, item) in mapping {
            guard case .scalar(let text, _) = key.content else {
                value.diagnostics.add(
                    .error, value.path, at: key, "keys must be plain words, got a \(key.isMapping ? "mapping" : "list")"
                )
                continue
            }
            entries.append((text, key, item))
        }
        self.entries = entries
    }

    public var path: String { value.path }

    /// The keys as written, in file order.
    public var keys: [String] { entries.map(\.key) }

    /// Whether `key` is written (even as null); does not count as asking for it.
    public func contains(_ key: String) -> Bool { entries.contains { $0.key == key } }

    /// The value under `key`, or nil when absent or explicitly null.
    public mutating func optional(_ key: String) -> YAMLValue? {
        asked.insert(key)
        guard let entry = entries.first(where: { $0.key == key }) else { return nil }
        let item = YAMLValue(node: entry.value, path: YAMLPath.join(path, key), diagnostics: value.diagnostics)
        return item.isNull ? nil : item
    }

    /// The value under `key`; reports it missing (at the mapping) when absent.
    public mutating func required(_ key: String) -> YAMLValue? {
        guard let item = optional(key) else {
            value.error("required field is missing", field: key)
            return nil
        }
        return item
    }

    /// Counts `keys` as known without reading them: for a mapping whose other fields are already wrong
    /// (e.g. an unknown `kind`), so its remaining keys are not also reported as unknown.
    public mutating func skip(_ keys: String...) {
        asked.formUnion(keys)
    }

    func reportUnknownKeys() {
        for entry in entries where !asked.contains(entry.key) {
            var message = "unknown key"
            if let suggestion = ConfigText.closest(to: entry.key, among: asked) {
                message += " (did you mean '\(suggestion)'?)"
            } else if !asked.isEmpty {
                message += " (expected one of: \(asked.sorted().joined(separator: ", ")))"
            }
            value.diagnostics.add(.error, YAMLPath.join(path, entry.key), at: entry.keyNode, message)
        }
    }
}

extension YAMLNode {
    fileprivate var isMapping: Bool {
        if case .mapping = content { return true }
        return false
    }
}
