import Foundation

/// Local hour-of-week slots and hour boundaries for one time zone. Learning and forecasting step through
/// thousands of hours; asking the zone for its offset at each one is the expensive part, so the offset is
/// kept until the zone's next transition (never, for a zone without daylight saving time).
struct HourOfWeekClock {
    static let hourMs: Int64 = 3_600_000
    static let dayMs: Int64 = 86_400_000
    static let slotsPerWeek = 168

    let timeZone: TimeZone
    private var offsetMs: Int64 = 0
    private var validFrom: Int64 = .max
    private var validUntil: Int64 = .min

    init(calendar: LedgerCalendar) {
        timeZone = calendar.timeZone
    }

    /// The zone's offset from UTC at `ms`, in milliseconds.
    mutating func offset(at ms: Int64) -> Int64 {
        if ms >= validFrom && ms < validUntil { return offsetMs }
        let date = Date(timeIntervalSince1970: Double(ms) / 1000)
        offsetMs = Int64(timeZone.secondsFromGMT(for: date)) * 1000
        validFrom = ms
        if let transition = timeZone.nextDaylightSavingTimeTransition(after: date) {
            validUntil = Int64((transition.timeIntervalSince1970 * 1000).rounded(.down))
        } else {
            validUntil = .max
        }
        return offsetMs
    }

    /// Milliseconds since the epoch on the local wall clock.
    mutating func local(_ ms: Int64) -> Int64 { ms + offset(at: ms) }

    /// 0 = Monday 00:00-01:00 local ... 167 = Sunday 23:00-24:00.
    mutating func slot(at ms: Int64) -> Int {
        let local = local(ms)
        let day = Self.floorDiv(local, Self.dayMs)
        let weekday = Int(Self.floorMod(day + 3, 7))  // 1970-01-01 was a Thursday: index 3 from Monday
        let hour = Int(Self.floorMod(local, Self.dayMs) / Self.hourMs)
        return weekday * 24 + hour
    }

    /// The local day number (days since 1970-01-01 on the local wall clock) that contains `ms`.
    mutating func dayNumber(at ms: Int64) -> Int64 { Self.floorDiv(local(ms), Self.dayMs) }

    /// The first local hour boundary strictly after `ms`. Always moves forward, even across a transition
    /// that shifts the wall clock back.
    mutating func nextHourBoundary(after ms: Int64) -> Int64 {
        let offset = offset(at: ms)
        let next = (Self.floorDiv(ms + offset, Self.hourMs) + 1) * Self.hourMs - offset
        return next > ms ? next : ms + Self.hourMs
    }

    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let quotient = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? quotient - 1 : quotient
    }

    static func floorMod(_ a: Int64, _ b: Int64) -> Int64 { a - floorDiv(a, b) * b }
}
