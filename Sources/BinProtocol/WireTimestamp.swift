#if canImport(Glibc)
import Glibc
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A measurement time as the wire contract writes it: RFC 3339 with milliseconds and the UTC offset the
/// device was in, e.g. `2026-06-01T06:02:00.000+08:00`.
///
/// The offset is kept, not just the instant, because the ledger books events on the local day they
/// happened at the point; a device and the center may not agree on the zone.
public struct WireTimestamp: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// Milliseconds since 1970-01-01T00:00:00Z.
    public var millisecondsSinceEpoch: Int64
    /// Offset of the local time from UTC, in seconds (whole minutes on the wire).
    public var utcOffsetSeconds: Int32

    public init(millisecondsSinceEpoch: Int64, utcOffsetSeconds: Int32 = 0) {
        self.millisecondsSinceEpoch = millisecondsSinceEpoch
        self.utcOffsetSeconds = utcOffsetSeconds
    }

    public init(date: Date, utcOffsetSeconds: Int32 = 0) {
        self.init(
            millisecondsSinceEpoch: Int64((date.timeIntervalSince1970 * 1000).rounded(.down)),
            utcOffsetSeconds: utcOffsetSeconds)
    }

    /// The current wall-clock time with the offset of `timeZone`.
    public static func now(in timeZone: TimeZone) -> WireTimestamp {
        let date = Date()
        return WireTimestamp(date: date, utcOffsetSeconds: Int32(timeZone.secondsFromGMT(for: date)))
    }

    /// The current wall-clock time with the offset of the system's local time (`TZ`, `/etc/localtime`).
    public static func now() -> WireTimestamp {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let milliseconds = Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
        return WireTimestamp(
            millisecondsSinceEpoch: milliseconds, utcOffsetSeconds: localUTCOffsetSeconds(atMilliseconds: milliseconds))
    }

    /// The offset of the system's local time from UTC at an instant, from the C library (`localtime_r`
    /// reads `TZ` and the zone files itself), so the daemon needs no ICU time zone data for it. 0 when the
    /// C library cannot say.
    public static func localUTCOffsetSeconds(atMilliseconds milliseconds: Int64) -> Int32 {
        var seconds = time_t(floorDivMod(milliseconds, 1000).0)
        var parts = tm()
        guard localtime_r(&seconds, &parts) != nil else { return 0 }
        return Int32(parts.tm_gmtoff)
    }

    public var date: Date { Date(timeIntervalSince1970: Double(millisecondsSinceEpoch) / 1000) }

    /// The same instant shifted by `milliseconds`, keeping the offset.
    public func adding(milliseconds: Int64) -> WireTimestamp {
        WireTimestamp(millisecondsSinceEpoch: millisecondsSinceEpoch + milliseconds, utcOffsetSeconds: utcOffsetSeconds)
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.millisecondsSinceEpoch < rhs.millisecondsSinceEpoch }

    /// Equality and hashing follow the instant only: the same moment written in two zones is one time.
    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.millisecondsSinceEpoch == rhs.millisecondsSinceEpoch }
    public func hash(into hasher: inout Hasher) { hasher.combine(millisecondsSinceEpoch) }

    // MARK: RFC 3339

    public var description: String { rfc3339 }

    public var rfc3339: String {
        let localMs = millisecondsSinceEpoch + Int64(utcOffsetSeconds) * 1000
        let (days, msOfDay) = Self.floorDivMod(localMs, 86_400_000)
        let (year, month, day) = Self.civil(fromDays: days)
        let hour = msOfDay / 3_600_000
        let minute = msOfDay / 60_000 % 60
        let second = msOfDay / 1000 % 60
        let millis = msOfDay % 1000
        var out = Self.pad(year, 4) + "-" + Self.pad(month, 2) + "-" + Self.pad(day, 2)
        out += "T" + Self.pad(hour, 2) + ":" + Self.pad(minute, 2) + ":" + Self.pad(second, 2)
        out += "." + Self.pad(millis, 3)
        let offsetMinutes = Int64(utcOffsetSeconds) / 60
        if offsetMinutes == 0 {
            out += "Z"
        } else {
            let sign = offsetMinutes < 0 ? "-" : "+"
            let magnitude = abs(offsetMinutes)
            out += sign + Self.pad(magnitude / 60, 2) + ":" + Self.pad(magnitude % 60, 2)
        }
        return out
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`; `nil` for anything else, including impossible
    /// dates such as February 30.
    public init?(rfc3339 text: some StringProtocol) {
        var text = String(text)
        guard let value = text.withUTF8({ WireTimestamp(rfc3339UTF8: $0) }) else { return nil }
        self = value
    }

    /// The same from UTF-8 bytes: how a received payload's time is read without making a string of it.
    init?(rfc3339UTF8 bytes: UnsafeBufferPointer<UInt8>) {
        var index = 0
        func number(_ width: Int) -> Int64? {
            guard index + width <= bytes.count else { return nil }
            var value: Int64 = 0
            for byte in bytes[index..<index + width] {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
                value = value * 10 + Int64(byte - UInt8(ascii: "0"))
            }
            index += width
            return value
        }
        func expect(_ characters: String) -> Bool {
            guard index < bytes.count, characters.utf8.contains(bytes[index]) else { return false }
            index += 1
            return true
        }
        guard let year = number(4), expect("-"), let month = number(2), expect("-"), let day = number(2),
            expect("Tt "), let hour = number(2), expect(":"), let minute = number(2), expect(":"),
            let second = number(2)
        else { return nil }
        var millis: Int64 = 0
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            var digits = 0
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) {
                if digits < 3 { millis = millis * 10 + Int64(bytes[index] - UInt8(ascii: "0")) }
                digits += 1
                index += 1
            }
            guard digits > 0 else { return nil }
            if digits < 3 { for _ in digits..<3 { millis *= 10 } }
        }
        var offsetSeconds: Int64 = 0
        if expect("Zz") {
            offsetSeconds = 0
        } else if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
            let negative = bytes[index] == UInt8(ascii: "-")
            index += 1
            guard let offsetHours = number(2), expect(":"), let offsetMinutes = number(2),
                offsetHours < 24, offsetMinutes < 60
            else { return nil }
            offsetSeconds = (offsetHours * 3600 + offsetMinutes * 60) * (negative ? -1 : 1)
        } else {
            return nil
        }
        guard index == bytes.count, (1...12).contains(month), day >= 1,
            day <= Self.daysIn(month: month, year: year), hour < 24, minute < 60, second < 61
        else { return nil }
        let days = Self.days(fromCivil: year, month, day)
        let localMs = ((days * 24 + hour) * 60 + minute) * 60_000 + min(second, 59) * 1000 + millis
        self.init(millisecondsSinceEpoch: localMs - offsetSeconds * 1000, utcOffsetSeconds: Int32(offsetSeconds))
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let value = WireTimestamp(rfc3339: text) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "not an RFC 3339 time with offset: \(text.prefix(40))")
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rfc3339)
    }

    // MARK: Calendar arithmetic (proleptic Gregorian, after H. Hinnant's days_from_civil)

    /// Days since 1970-01-01 for a civil date.
    public static func days(fromCivil year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// Civil date for days since 1970-01-01.
    public static func civil(fromDays days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// Days in `month` (1...12) of `year` (proleptic Gregorian).
    public static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    static func floorDivMod(_ a: Int64, _ b: Int64) -> (Int64, Int64) {
        let q = a / b
        let r = a % b
        return r < 0 ? (q - 1, r + b) : (q, r)
    }

    static func pad(_ value: Int64, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
}
