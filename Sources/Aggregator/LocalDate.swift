import BinProtocol
import Foundation

/// A civil date in the district's time zone: the key of every ledger day. Stored as days since
/// 1970-01-01 so that ranges and arithmetic are plain integers in both databases.
public struct LocalDate: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public var dayNumber: Int64

    public init(dayNumber: Int64) {
        self.dayNumber = dayNumber
    }

    public init?(year: Int, month: Int, day: Int) {
        guard (1...12).contains(month), day >= 1, day <= Self.daysIn(month: month, year: year) else { return nil }
        dayNumber = WireTimestamp.days(fromCivil: Int64(year), Int64(month), Int64(day))
    }

    /// Parses `YYYY-MM-DD`.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
            parts.allSatisfy({ $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }),
            let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2])
        else { return nil }
        self.init(year: year, month: month, day: day)
    }

    public var components: (year: Int, month: Int, day: Int) {
        let civil = WireTimestamp.civil(fromDays: dayNumber)
        return (Int(civil.year), Int(civil.month), Int(civil.day))
    }

    public var year: Int { components.year }
    public var month: Int { components.month }
    public var day: Int { components.day }

    /// ISO weekday: 1 = Monday ... 7 = Sunday (1970-01-01 was a Thursday).
    public var weekday: Int {
        let remainder = (dayNumber + 3) % 7
        return Int(remainder < 0 ? remainder + 7 : remainder) + 1
    }

    public func adding(days: Int64) -> LocalDate { LocalDate(dayNumber: dayNumber + days) }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.dayNumber < rhs.dayNumber }

    public var description: String {
        let (year, month, day) = components
        return String(format: "%04d-%02d-%02d", year, month, day)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let date = LocalDate(text) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "not a date YYYY-MM-DD: \(text.prefix(20))")
        }
        self = date
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    static func daysIn(month: Int, year: Int) -> Int {
        Int(WireTimestamp.daysIn(month: Int64(month), year: Int64(year)))
    }
}

/// Calendar periods the ledger rolls up into. Weeks are ISO weeks (Monday to Sunday).
public enum LedgerPeriod: String, Sendable, Codable, CaseIterable, Hashable {
    case day, week, month, quarter, year

    /// The first and last day of the period that contains `date`.
    public func range(containing date: LocalDate) -> ClosedRange<LocalDate> {
        let (year, month, _) = date.components
        switch self {
        case .day:
            return date...date
        case .week:
            let monday = date.adding(days: Int64(1 - date.weekday))
            return monday...monday.adding(days: 6)
        case .month:
            let first = LocalDate(year: year, month: month, day: 1)!
            return first...LocalDate(year: year, month: month, day: LocalDate.daysIn(month: month, year: year))!
        case .quarter:
            let firstMonth = (month - 1) / 3 * 3 + 1
            let lastMonth = firstMonth + 2
            return LocalDate(year: year, month: firstMonth, day: 1)!...LocalDate(
                year: year, month: lastMonth, day: LocalDate.daysIn(month: lastMonth, year: year))!
        case .year:
            return LocalDate(year: year, month: 1, day: 1)!...LocalDate(year: year, month: 12, day: 31)!
        }
    }

    /// A short label for the period containing `date`: `2026-06-01`, `2026-W23`, `2026-06`, `2026-Q2`, `2026`.
    public func label(containing date: LocalDate) -> String {
        let (year, month, _) = date.components
        switch self {
        case .day: return date.description
        case .week:
            let (isoYear, week) = Self.isoWeek(of: date)
            return String(format: "%04d-W%02d", isoYear, week)
        case .month: return String(format: "%04d-%02d", year, month)
        case .quarter: return String(format: "%04d-Q%d", year, (month - 1) / 3 + 1)
        case .year: return String(format: "%04d", year)
        }
    }

    /// ISO 8601 week-numbering year and week: the week with the year's first Thursday is week 1.
    static func isoWeek(of date: LocalDate) -> (year: Int, week: Int) {
        let thursday = date.adding(days: Int64(4 - date.weekday))
        let year = thursday.year
        let firstOfYear = LocalDate(year: year, month: 1, day: 1)!
        return (year, Int((thursday.dayNumber - firstOfYear.dayNumber) / 7) + 1)
    }
}

/// Maps instants to the district's local days: ledger days are local days in the registry's time zone,
/// whatever offset a device stamped on its events.
public struct LedgerCalendar: Sendable {
    public let timeZone: TimeZone

    public init(timeZone: TimeZone) {
        self.timeZone = timeZone
    }

    public func localDate(of timestamp: WireTimestamp) -> LocalDate {
        localDate(millisecondsSinceEpoch: timestamp.millisecondsSinceEpoch)
    }

    public func localDate(millisecondsSinceEpoch ms: Int64) -> LocalDate {
        let date = Date(timeIntervalSince1970: Double(ms) / 1000)
        let offsetMs = Int64(timeZone.secondsFromGMT(for: date)) * 1000
        let local = ms + offsetMs
        let day = local >= 0 ? local / 86_400_000 : (local - 86_399_999) / 86_400_000
        return LocalDate(dayNumber: day)
    }

    /// The instant (milliseconds since the epoch) at which the local day begins.
    public func startOfDay(_ date: LocalDate) -> Int64 {
        let naive = date.dayNumber * 86_400_000
        // The offset at the naive instant is right except within hours of a transition; one correction
        // step settles it.
        let first = Int64(timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(naive) / 1000))) * 1000
        let second =
            Int64(timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(naive - first) / 1000))) * 1000
        return naive - second
    }

    /// A wire timestamp for `ms` with the zone's offset at that instant.
    public func timestamp(millisecondsSinceEpoch ms: Int64) -> WireTimestamp {
        let offset = timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(ms) / 1000))
        return WireTimestamp(millisecondsSinceEpoch: ms, utcOffsetSeconds: Int32(offset))
    }

    public func today(nowMilliseconds: Int64) -> LocalDate { localDate(millisecondsSinceEpoch: nowMilliseconds) }

    /// `2026-06-05 02:57`, local time to the minute, for people (alert messages, printed plans); machine
    /// answers keep the full RFC 3339 time.
    public func minutes(millisecondsSinceEpoch ms: Int64) -> String {
        Self.minutes(timestamp(millisecondsSinceEpoch: ms).rfc3339)
    }

    /// The same from an RFC 3339 time already in the district's zone.
    public static func minutes(_ rfc3339: String) -> String {
        String(rfc3339.prefix(16)).replacingOccurrences(of: "T", with: " ")
    }
}
