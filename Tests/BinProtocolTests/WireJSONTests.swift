import BinProtocol
import Foundation
import Testing

/// The wire contract's own JSON reader (`WireJSON`, `WireFields`, `WireDecoder`): RFC 8259's grammar
/// exactly, and the field errors `WireCodec` promises, through the public decoding API.
@Suite("Wire JSON reader")
struct WireJSONTests {
    static let deposit =
        #"{"schema":1,"device":"pt-1","ts":"2026-06-01T06:02:00.000+08:00","seq":7,"type":"deposit","bin":"wet","stream":"wet","mass_kg":MASS,"volume_l":2,"density_kg_l":0.75,"observed":"wet","confidence":0.9,"contaminated":false,"quality":"good"}"#

    func decode(_ text: String) throws(WireError) -> EventPayload {
        try WireCodec.decode(EventPayload.self, from: Array(text.utf8), topicDevice: "pt-1")
    }

    func refusal(_ text: String) -> WireError? {
        do {
            _ = try decode(text)
            return nil
        } catch {
            return error
        }
    }

    func mass(_ number: String) -> String { Self.deposit.replacingOccurrences(of: "MASS", with: number) }

    func massKg(_ event: EventPayload) -> Double? {
        if case .deposit(let deposit) = event.body { deposit.massKg } else { nil }
    }

    @Test(
        "numbers in JSON's grammar are read at their value",
        arguments: [
            ("0", 0.0), ("-0", 0.0), ("1.5", 1.5), ("1e2", 100), ("1E-2", 0.01), ("2.5e+1", 25), ("12.125", 12.125),
        ])
    func validNumbers(text: String, value: Double) throws {
        #expect(massKg(try decode(mass(text))) == value)
    }

    @Test(
        "numbers outside JSON's grammar are malformed",
        arguments: [
            "01", "+1", ".5", "1.", "-", "1e", "1e+", "NaN", "Infinity", "-Infinity", "0x10", "1_0", "1.5.2", "--1",
            "1ee2",
        ])
    func invalidNumbers(text: String) {
        #expect(refusal(mass(text))?.reason == .malformedJSON, "\(text)")
    }

    @Test("an integer field takes a whole number however it is written, and refuses what it cannot hold exactly")
    func integers() throws {
        func seq(_ text: String) -> String {
            mass("1").replacingOccurrences(of: #""seq":7"#, with: #""seq":\#(text)"#)
        }
        #expect(try decode(seq("7.0")).seq == 7)
        #expect(try decode(seq("7e0")).seq == 7)
        #expect(try decode(seq("70e-1")).seq == 7)
        #expect(refusal(seq("7.5"))?.reason == .malformedJSON)
        #expect(refusal(seq("99999999999999999999"))?.reason == .malformedJSON, "beyond Int64")
        #expect(refusal(seq("-9223372036854775809"))?.reason == .malformedJSON, "below Int64")
        #expect(refusal(seq("-0"))?.reason == .outOfRange, "zero, however written, is read and then out of range")
        let message = refusal(seq("7.5"))?.message ?? ""
        #expect(message.contains("seq") && message.contains("7.5"), "\(message)")
    }

    @Test("literals are exactly true, false and null")
    func literals() throws {
        #expect(refusal(mass("1").replacingOccurrences(of: "false", with: "False"))?.reason == .malformedJSON)
        #expect(refusal(mass("1").replacingOccurrences(of: "false", with: "fals"))?.reason == .malformedJSON)
        #expect(refusal(mass("nul"))?.reason == .malformedJSON)
        #expect(refusal(mass("null"))?.message == "mass_kg is null, expected Double")
    }

    @Test(
        "escapes decode to what they spell; surrogate pairs join; lone surrogates, control characters and bad UTF-8 are malformed"
    )
    func strings() throws {
        let escaped = mass("1").replacingOccurrences(of: #""device":"pt-1""#, with: #""device":"pt\u002d1""#)
        #expect(try decode(escaped).device == "pt-1", "an escaped device is the same device as its topic's")
        let fault =
            #"{"schema":1,"device":"pt-1","ts":"2026-06-01T06:02:00Z","seq":7,"type":"fault","sensor":"system","code":"a.b","active":true,"detail":"DETAIL"}"#
        func detail(_ text: String) throws(WireError) -> String {
            let event = try decode(fault.replacingOccurrences(of: "DETAIL", with: text))
            guard case .fault(let fault) = event.body else { return "" }
            return fault.detail
        }
        #expect(
            try detail(#"tab\there, quote\" slash\/ back\\ \u00e9 \ud83d\uddd1"#)
                == "tab\there, quote\" slash/ back\\ é 🗑")
        #expect(try detail("déjà vu") == "déjà vu")
        for bad in [#"\ud800"#, #"\udc00"#, #"\ud800\u0041"#, #"\u12"#, #"\x"#] {
            #expect(throws: WireError.self, "\(bad)") { try detail(bad) }
        }
        for control: UInt8 in [0x00, 0x01, 0x09, 0x0A, 0x1F] {
            let text = fault.replacingOccurrences(of: "DETAIL", with: "a" + String(UnicodeScalar(control)) + "b")
            #expect(refusal(text)?.reason == .malformedJSON, "raw control character \(control)")
        }
        for bytes: [UInt8] in [[0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xFF], [0xE2, 0x82]] {
            let parts = fault.components(separatedBy: "DETAIL")
            let payload = Array(parts[0].utf8) + bytes + Array(parts[1].utf8)
            #expect(
                throws: WireError.self, "invalid UTF-8 \(bytes)",
                performing: { try WireCodec.decode(EventPayload.self, from: payload) })
        }
    }

    @Test("objects and arrays: trailing commas, missing separators and unclosed containers are malformed")
    func structure() throws {
        let valid = mass("1")
        let open = String(valid.dropLast())
        let tails: [String] = [",}", #","list":[1,]}"#, #","list":[1,2}"#, #","o":{"a":1]}"#, #",:1}"#, #",1:1}"#, ""]
        var broken: [String] = tails.map { open + $0 }
        broken.append(valid.replacingOccurrences(of: #""seq":7"#, with: #""seq" 7"#))
        broken.append(valid.replacingOccurrences(of: #""seq":7,"#, with: #""seq":7 "#))
        for broken in broken {
            #expect(refusal(broken)?.reason == .malformedJSON, "\(broken.suffix(30))")
        }
        #expect(throws: Never.self) {
            try decode(String(valid.dropLast()) + #","":{},"e":[],"n":[[{"x":[null,true,1.5e3,"s"]}]]}"#)
        }
    }

    @Test("nesting: sixteen levels counting the payload itself are read, seventeen are refused")
    func depth() throws {
        func nested(_ levels: Int) -> String {
            String(mass("1").dropLast()) + #","deep":"# + String(repeating: "[", count: levels)
                + String(repeating: "]", count: levels) + "}"
        }
        #expect(throws: Never.self) { try decode(nested(15)) }
        #expect(refusal(nested(16))?.reason == .malformedJSON)
    }

    @Test("field errors name the field, nested ones with their path")
    func fieldMessages() {
        #expect(refusal(mass(#""1.5""#))?.message == "mass_kg is not a Double")
        #expect(
            refusal(Self.deposit.replacingOccurrences(of: #","mass_kg":MASS"#, with: ""))?.message
                == "missing field mass_kg")
        #expect(
            refusal(mass("1").replacingOccurrences(of: #""stream":"wet""#, with: #""stream":"plastic""#))?.message
                == "stream has an invalid value")
        #expect(
            refusal(mass("1").replacingOccurrences(of: #""stream":"wet""#, with: #""stream":3"#))?.message
                == "stream is not a String")
        #expect(
            refusal(mass("1").replacingOccurrences(of: #""contaminated":false"#, with: #""contaminated":0"#))?.message
                == "contaminated is not a Bool")
        let evidence =
            String(mass("1").dropLast()) + #","reason":"classified","likelihoods":{"wet":1,"dry":"x","other":0}}"#
        #expect(refusal(evidence)?.message == "likelihoods.dry is not a Double")
        let notObject = String(mass("1").dropLast()) + #","reason":"classified","posterior":[1,2,3]}"#
        #expect(refusal(notObject)?.reason == .invalidField)
        #expect(refusal(mass("1e400"))?.reason == .malformedJSON, "a number no double holds")
    }

    @Test("payloads read through Codable report their field paths the same way")
    func codablePaths() {
        let birth =
            #"{"schema":1,"device":"pt-1","ts":"2026-06-01T06:02:00Z","session":1,"version":"1","config_hash":"h","board":"b","bins":[{"id":"wet","stream":"wet","capacity_l":"big"}]}"#
        do {
            _ = try WireCodec.decode(BirthPayload.self, from: Array(birth.utf8), topicDevice: "pt-1")
            Issue.record("a birth with a text capacity was accepted")
        } catch {
            #expect(error.message == "bins.[0].capacity_l is not a Double")
        }
        // Containers of the wrong JSON type are named as JSONDecoder named them.
        let notArray = birth.replacingOccurrences(
            of: #"[{"id":"wet","stream":"wet","capacity_l":"big"}]"#, with: "3")
        #expect(throws: WireError(.invalidField, "bins is not a Array<Any>")) {
            try WireCodec.decode(BirthPayload.self, from: Array(notArray.utf8), topicDevice: "pt-1")
        }
        let notObject = birth.replacingOccurrences(
            of: #"[{"id":"wet","stream":"wet","capacity_l":"big"}]"#, with: "[3]")
        #expect(throws: WireError(.invalidField, "bins.[0] is not a Dictionary<String, Any>")) {
            try WireCodec.decode(BirthPayload.self, from: Array(notObject.utf8), topicDevice: "pt-1")
        }
    }

    /// Foundation's JSON reader is the reference for syntax: whatever it refuses, the wire reader refuses
    /// too (the wire reader refuses more: repeated keys, a byte-order mark, deep nesting, a top level that is
    /// not an object). Run over every truncation and a spread of single-byte changes of a valid event.
    @Test("refuses everything Foundation's JSON reader refuses, over truncations and byte changes of an event")
    func differential() {
        let valid = Array(
            (String(mass("1.5").dropLast())
                + #","reason":"classified","likelihoods":{"wet":0.5,"dry":1e-3,"other":0},"note":"é\n"}"#).utf8)
        var variants: [[UInt8]] = (0..<valid.count).map { Array(valid[..<$0]) }
        let replacements: [UInt8] = Array(#"{}[]:,"\-+.0eE tfn"#.utf8) + [0x00, 0x80, 0xFF]
        for index in stride(from: 0, to: valid.count, by: 3) {
            for byte in replacements {
                var changed = valid
                changed[index] = byte
                variants.append(changed)
            }
        }
        var checked = 0
        for variant in variants where (try? JSONSerialization.jsonObject(with: Data(variant))) == nil {
            checked += 1
            #expect(
                throws: WireError.self, "\(String(decoding: variant, as: UTF8.self))",
                performing: { try WireCodec.decode(EventPayload.self, from: variant) })
        }
        #expect(checked > 500, "the variants include plenty that are not JSON")
    }
}
