import BinProtocol
import Testing

@Suite("WireTimestamp")
struct WireTimestampTests {
    @Test("formats with milliseconds and the device's offset")
    func formatsWithOffset() {
        // 2026-06-01T06:02:00.000+08:00 == 2026-05-31T22:02:00Z
        let ts = WireTimestamp(millisecondsSinceEpoch: 1_780_264_920_000, utcOffsetSeconds: 8 * 3600)
        #expect(ts.rfc3339 == "2026-06-01T06:02:00.000+08:00")
        #expect(WireTimestamp(millisecondsSinceEpoch: 1_780_264_920_123).rfc3339 == "2026-05-31T22:02:00.123Z")
        #expect(
            WireTimestamp(millisecondsSinceEpoch: 0, utcOffsetSeconds: -(5 * 3600 + 30 * 60)).rfc3339
                == "1969-12-31T18:30:00.000-05:30")
    }

    @Test(
        "parses what it formats and common RFC 3339 variants",
        arguments: [
            ("2026-06-01T06:02:00.000+08:00", Int64(1_780_264_920_000), Int32(28_800)),
            ("2026-05-31T22:02:00Z", 1_780_264_920_000, 0),
            ("2026-05-31T22:02:00.5z", 1_780_264_920_500, 0),
            ("2026-05-31t22:02:00.123456Z", 1_780_264_920_123, 0),
            ("2024-02-29T00:00:00.000-01:00", 1_709_168_400_000, -3600),
        ])
    func parses(text: String, millis: Int64, offset: Int32) throws {
        let ts = try #require(WireTimestamp(rfc3339: text))
        #expect(ts.millisecondsSinceEpoch == millis)
        #expect(ts.utcOffsetSeconds == offset)
    }

    @Test(
        "rejects malformed and impossible times",
        arguments: [
            "", "2026-06-01", "2026-06-01T06:02:00", "2026-02-30T00:00:00Z", "2025-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z", "2026-06-01T24:00:00Z", "2026-06-01T06:02:00.Z", "2026-06-01T06:02:00+8:00",
            "2026-06-01T06:02:00+08:00junk", "20260601T060200Z",
        ])
    func rejects(text: String) {
        #expect(WireTimestamp(rfc3339: text) == nil)
    }

    @Test("round-trips every day boundary over four centuries")
    func roundTripsCalendar() {
        var days: Int64 = -146_097
        while days < 3 * 146_097 {
            let (y, m, d) = WireTimestamp.civil(fromDays: days)
            #expect(WireTimestamp.days(fromCivil: y, m, d) == days)
            days += 997
        }
    }
}
