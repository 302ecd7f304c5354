/// One value of a YAML file with its field path, read into typed values. A value of the wrong kind is
/// reported (file, line, column, field path and the value as written) and read as `nil`, so the reader
/// goes on and finds the file's other problems too.
public struct YAMLValue {
    let node: YAMLNode
    /// Dotted path of the value, e.g. `bins[1].shape.depth_mm`; empty for the document.
    public let path: String
    public let diagnostics: YAMLDiagnostics

    init(node: YAMLNode, path: String, diagnostics: YAMLDiagnostics) {
        self.node = node
        self.path = path
        self.diagnostics = diagnostics
    }

    /// The file the value is in, for messages that name it.
    public var file: String { diagnostics.file }

    /// An empty plain scalar, `~` or `null`.
    public var isNull: Bool {
        guard case .scalar(let text, isPlain: true) = node.content else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(text)
    }

    /// A single value (text or number) rather than a mapping or a list.
    public var isScalar: Bool {
        if case .scalar = node.content { return true }
        return false
    }

    // MARK: Problems

    /// Reports an error about this value, or about `field` below it (e.g. `depth_mm` of a shape) when the
    /// problem is found by looking at the value as a whole.
    public func error(_ message: String, field: String? = nil) {
        diagnostics.add(.error, field.map { YAMLPath.join(path, $0) } ?? path, at: node, message)
    }

    /// Reports something that works but is probably not what the author meant.
    public func warning(_ message: String, field: String? = nil) {
        diagnostics.add(.warning, field.map { YAMLPath.join(path, $0) } ?? path, at: node, message)
    }

    // MARK: Scalars

    public func string() -> String? {
        guard case .scalar(let text, _) = node.content else { return mismatch("a text value") }
        return text
    }

    public func double() -> Double? {
        guard case .scalar(let text, _) = node.content, let value = Double(text.replacing("_", with: "")),
            value.isFinite
        else { return mismatch("a number") }
        return value
    }

    /// A number within `range`, reported with the range when outside.
    public func double(in range: ClosedRange<Double>) -> Double? {
        double(
            "must be between \(ConfigText.number(range.lowerBound)) and \(ConfigText.number(range.upperBound))",
            where: range.contains)
    }

    /// A number `isValid` accepts; otherwise reported as `requirement` with the value as read, e.g.
    /// `must be positive, got -5`.
    public func double(_ requirement: String, where isValid: (Double) -> Bool) -> Double? {
        guard let value = double() else { return nil }
        guard isValid(value) else {
            error("\(requirement), got \(ConfigText.number(value))")
            return nil
        }
        return value
    }

    public func int() -> Int? { integer(Int.self) }

    /// A whole number within `range`, reported with the range when outside.
    public func int(in range: ClosedRange<Int>) -> Int? {
        int("must be between \(range.lowerBound) and \(range.upperBound)", where: range.contains)
    }

    /// A whole number `isValid` accepts; otherwise reported as `requirement` with the value as read.
    public func int(_ requirement: String, where isValid: (Int) -> Bool) -> Int? {
        guard let value = int() else { return nil }
        guard isValid(value) else {
            error("\(requirement), got \(value)")
            return nil
        }
        return value
    }

    /// A whole number of type `T` (decimal, or hexadecimal with `0x`; `_` separates digits).
    public func integer<T: FixedWidthInteger>(_: T.Type) -> T? {
        guard case .scalar(let written, _) = node.content else { return mismatch("a whole number") }
        let text = written.replacing("_", with: "")
        if let value = T(text, radix: 10) { return value }
        if text.hasPrefix("0x"), let value = T(text.dropFirst(2), radix: 16) { return value }
        return mismatch(T.min == 0 ? "a whole number from 0 to \(T.max)" : "a whole number")
    }

    /// `true`/`false` (also `yes`/`no`, `on`/`off`, in any case).
    public func bool() -> Bool? {
        guard case .scalar(let text, _) = node.content else { return mismatch("true or false") }
        switch text.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: return mismatch("true or false")
        }
    }

    /// One of a fixed set of words, e.g. `wet | dry | recyclable | hazardous`.
    public func choice<T: RawRepresentable & CaseIterable>(_: T.Type) -> T? where T.RawValue == String {
        guard let text = string() else { return nil }
        if let value = T(rawValue: text) { return value }
        let allowed = T.allCases.map(\.rawValue)
        var message = "\(ConfigText.quote(text)) is not one of \(allowed.joined(separator: " | "))"
        if let suggestion = ConfigText.closest(to: text, among: allowed) {
            message += " (did you mean '\(suggestion)'?)"
        }
        error(message)
        return nil
    }

    /// A text value `isValid` accepts; otherwise reported as not a valid `what`, with `rule` saying what is
    /// (e.g. `"pt/1" is not a valid device id (1 to 64 letters, digits, '-', '_' or '.')`).
    public func string(_ what: String, rule: String, isValid: (String) -> Bool) -> String? {
        guard let text = string() else { return nil }
        guard isValid(text) else {
            error("\(ConfigText.quote(text)) is not a valid \(what) (\(rule))")
            return nil
        }
        return text
    }

    // MARK: Mappings and lists

    /// Reads this value as a mapping with `read`, then reports every key `read` did not ask for as unknown
    /// (with the closest known key as a suggestion), so a typo such as `strem:` is an error rather than a
    /// silently ignored line. `nil` (reported) when the value is not a mapping.
    public func fields<T>(_ read: (inout YAMLFields) -> T?) -> T? {
        guard case .mapping(let mapping) = node.content else { return mismatch("a mapping") }
        var fields = YAMLFields(mapping: mapping, value: self)
        let result = read(&fields)
        fields.reportUnknownKeys()
        return result
    }

    /// The items of a list, each with its path (`bins[0]`, `bins[1]`, ...); `nil` (reported) otherwise.
    public func list() -> [YAMLValue]? {
        guard case .sequence(let sequence) = node.content else { return mismatch("a list") }
        return sequence.enumerated().map { index, element in
            YAMLValue(node: element, path: "\(path)[\(index)]", diagnostics: diagnostics)
        }
    }

    private func mismatch<T>(_ expected: String) -> T? {
        error("expected \(expected), got \(describe)")
        return nil
    }

    /// How the value is named in a message: the scalar's text, quoted and shortened, or its kind.
    var describe: String {
        switch node.content {
        case .scalar(let text, _): isNull ? "null" : ConfigText.quote(text)
        case .mapping: "a mapping"
        case .sequence: "a list"
        }
    }
}

enum YAMLPath {
    static func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }
}
