import Aggregator
import BinProtocol
import Foundation

/// How the console writes numbers, fractions and times: the same in both languages (digits grouped by
/// thousands, a point for decimals), times in the district's zone.
struct ConsoleFormat: Sendable {
    let text: ConsoleText
    let calendar: LedgerCalendar
    let nowMs: Int64

    /// `1,234.5`; `–` for nothing.
    func number(_ value: Double?, decimals: Int = 1) -> String {
        guard let value, value.isFinite else { return "–" }
        let fixed = String(format: "%.\(decimals)f", abs(value))
        let parts = fixed.split(separator: ".", maxSplits: 1)
        var whole = String(parts[0])
        var grouped = ""
        while whole.count > 3 {
            grouped = "," + whole.suffix(3) + grouped
            whole.removeLast(3)
        }
        grouped = whole + grouped
        let sign = value < 0 && fixed.contains(where: { $0 != "0" && $0 != "." }) ? "-" : ""
        return sign + grouped + (parts.count > 1 ? "." + parts[1] : "")
    }

    func kg(_ value: Double?) -> String {
        guard let value else { return "–" }
        return value >= 10_000 ? number(value, decimals: 0) : number(value, decimals: 1)
    }

    func percent(_ fraction: Double?, decimals: Int = 1) -> String {
        guard let fraction, fraction.isFinite else { return "–" }
        return String(format: "%.\(decimals)f%%", fraction * 100)
    }

    /// `2026-06-02 14:05` in the district's zone.
    func time(_ ms: Int64?) -> String {
        guard let ms else { return "–" }
        let rfc = calendar.timestamp(millisecondsSinceEpoch: ms).rfc3339
        // 2026-06-02T14:05:09.123+08:00
        return String(rfc.prefix(10)) + " " + String(rfc.dropFirst(11).prefix(5))
    }

    /// `06-02 14:05:09` in the district's zone, for event lists.
    func shortTime(_ timestamp: WireTimestamp) -> String {
        let rfc = calendar.timestamp(millisecondsSinceEpoch: timestamp.millisecondsSinceEpoch).rfc3339
        return String(rfc.dropFirst(5).prefix(5)) + " " + String(rfc.dropFirst(11).prefix(8))
    }

    /// `5 min ago`.
    func ago(_ ms: Int64?) -> String {
        guard let ms else { return "–" }
        let seconds = max(0, (nowMs - ms) / 1000)
        if seconds < 10 { return text["justNow"] }
        return text.format("ago", duration(seconds))
    }

    func duration(_ seconds: Int64) -> String {
        switch seconds {
        case ..<60: text.format("seconds", String(seconds))
        case ..<3600: text.format("minutes", String(seconds / 60))
        case ..<(86_400 * 2): text.format("hours", String(seconds / 3600))
        default: text.format("days", String(seconds / 86_400))
        }
    }
}
