/// Lets one log line per key through per interval and counts the rest, so a flood (thousands of bad
/// messages, or the sequence gaps that aggregators sharing a subscription open for each other) is counted
/// in full by the metrics but costs the log one line a minute. A value type, driven by the caller's clock.
struct LogThrottle<Key: Hashable> {
    let intervalMs: Int64
    private var lastLoggedMs: [Key: Int64] = [:]
    private var suppressed: [Key: Int] = [:]

    init(intervalMs: Int64 = 60_000) {
        self.intervalMs = intervalMs
    }

    /// Whether an occurrence of `key` at `nowMs` is logged: `nil` when it is not, else how many occurrences
    /// of the key went unlogged since the last line (for the line to say so).
    mutating func admit(_ key: Key, nowMs: Int64) -> Int? {
        if let last = lastLoggedMs[key], nowMs - last < intervalMs, nowMs >= last {
            suppressed[key, default: 0] += 1
            return nil
        }
        lastLoggedMs[key] = nowMs
        return suppressed.removeValue(forKey: key) ?? 0
    }
}
