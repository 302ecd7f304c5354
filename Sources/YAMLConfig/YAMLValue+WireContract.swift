import BinProtocol

/// Values every configuration of the project reads the same way the wire contract writes them (binsd's
/// configuration and boards, the aggregator's configuration, scenario files).
extension YAMLValue {
    /// A device or bin id as the wire contract allows it (`Topics.isValidIdentifier`): ids become topic
    /// levels, file names and database keys.
    public func identifier(_ what: String) -> String? {
        string(what, rule: Topics.identifierRule, isValid: Topics.isValidIdentifier)
    }

    /// An RFC 3339 time with its offset, e.g. `2026-06-01T06:00:00+08:00`.
    public func timestamp() -> WireTimestamp? {
        guard let text = string() else { return nil }
        guard let time = WireTimestamp(rfc3339: text) else {
            error("\(ConfigText.quote(text)) is not an RFC 3339 time with offset (e.g. 2026-06-01T06:00:00+08:00)")
            return nil
        }
        return time
    }
}
