import BinProtocol
import Foundation

/// Kinds of hostile or broken messages ingest must refuse, each with the reason it is counted under
/// (docs/aggregator.md, "Ingest"). A number no field type can hold (a fraction for `seq`, 1e400 for a
/// mass) is `malformed_json`: no reading of it gives a value, so it is unreadable rather than a wrong field. `payload(n)` makes the n-th instance, so a run sends thousands of
/// distinct messages. The fuzzer's seed corpus (Fuzz/corpus/wire) holds one instance of each.
struct MalformedKind: Sendable {
    var name: String
    var reason: RejectReason
    /// The topic for device `pt-1` unless the kind is about the topic.
    var topic: String
    var payload: @Sendable (_ n: Int) -> [UInt8]
}

enum MalformedCorpus {
    static let ts = "2026-06-01T08:00:00.000+08:00"

    /// A valid deposit of `pt-1` as JSON text, with `seq`; the kinds below break it one way each.
    static func deposit(seq: Int, device: String = "pt-1", mass: String = "1.5", extra: String = "") -> String {
        #"{"schema":1,"device":"\#(device)","ts":"\#(ts)","seq":\#(seq),"type":"deposit","bin":"wet","stream":"wet","mass_kg":\#(mass),"volume_l":2,"density_kg_l":0.75,"observed":"wet","confidence":0.9,"contaminated":false,"quality":"good"\#(extra)}"#
    }

    static func state(bin: String = "wet", fill: String = "0.5", n: Int) -> String {
        #"{"schema":1,"device":"pt-1","ts":"\#(ts)","bin":"\#(bin)","stream":"wet","fill":\#(fill),"mass_kg":\#(n % 90),"lid_open":false,"quality":"good","temperature_c":20}"#
    }

    /// Malformed events carry seqs far above the valid ones (within the accepted window), so none collides.
    static func seq(_ n: Int) -> Int { 5_000_000 + n }

    static func text(_ value: String) -> [UInt8] { Array(value.utf8) }

    static let events = Topics.events("pt-1")

    static let kinds: [MalformedKind] = [
        .init(name: "truncated JSON", reason: .malformedJSON, topic: events) { n in
            text(String(deposit(seq: seq(n)).prefix(40 + n % 30)))
        },
        .init(name: "binary garbage", reason: .malformedJSON, topic: events) { n in
            (0..<(20 + n % 50)).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ n) | 0x80 }
        },
        .init(name: "top-level array", reason: .malformedJSON, topic: events) { n in text("[\(deposit(seq: seq(n)))]")
        },
        .init(name: "top-level string", reason: .malformedJSON, topic: events) { n in text("\"deposit \(n)\"") },
        .init(name: "top-level number", reason: .malformedJSON, topic: events) { n in text("\(n)") },
        .init(name: "null", reason: .malformedJSON, topic: events) { _ in text("null") },
        .init(name: "empty payload", reason: .malformedJSON, topic: events) { _ in [] },
        .init(name: "byte-order mark", reason: .malformedJSON, topic: events) { n in
            [0xEF, 0xBB, 0xBF] + text(deposit(seq: seq(n)))
        },
        .init(name: "repeated key", reason: .malformedJSON, topic: events) { n in
            text(
                deposit(seq: seq(n)).replacingOccurrences(
                    of: #""device":"pt-1""#, with: #""device":"pt-1","device":"pt-2""#))
        },
        .init(name: "repeated key spelt with an escape", reason: .malformedJSON, topic: events) { n in
            text(deposit(seq: seq(n), extra: #","m\u0061ss_kg":900"#))
        },
        .init(name: "data after the object", reason: .malformedJSON, topic: events) { n in
            text(deposit(seq: seq(n)) + "{}")
        },
        .init(name: "nested forty deep", reason: .malformedJSON, topic: events) { n in
            text(
                deposit(
                    seq: seq(n),
                    extra: #","x":"# + String(repeating: "[", count: 40) + String(repeating: "]", count: 40)))
        },
        .init(name: "invalid UTF-8 in a string", reason: .malformedJSON, topic: events) { n in
            let parts = deposit(seq: seq(n)).components(separatedBy: "pt-1")
            return text(parts[0]) + [0xC3, 0x28] + text(parts.dropFirst().joined(separator: "pt-1"))
        },
        .init(name: "oversized", reason: .oversized, topic: events) { n in
            text(deposit(seq: seq(n), extra: #","pad":""# + String(repeating: "x", count: 17_000 + n) + "\""))
        },
        .init(name: "schema 2", reason: .schemaVersion, topic: events) { n in
            text(deposit(seq: seq(n)).replacingOccurrences(of: #""schema":1"#, with: #""schema":2"#))
        },
        .init(name: "schema missing", reason: .invalidField, topic: events) { n in
            text(deposit(seq: seq(n)).replacingOccurrences(of: #""schema":1,"#, with: ""))
        },
        .init(name: "schema as text", reason: .invalidField, topic: events) { n in
            text(deposit(seq: seq(n)).replacingOccurrences(of: #""schema":1"#, with: #""schema":"1""#))
        },
        .init(name: "another device's name", reason: .deviceMismatch, topic: events) { n in
            text(deposit(seq: seq(n), device: "pt-2"))
        },
        .init(name: "device id with a space", reason: .invalidField, topic: events) { n in
            text(deposit(seq: seq(n), device: "pt 1"))
        },
        .init(name: "device not in the registry", reason: .unknownDevice, topic: Topics.events("pt-9")) { n in
            text(deposit(seq: n + 1, device: "pt-9"))
        },
        .init(name: "bin id not topic-safe", reason: .badTopic, topic: "bins/v1/pt-1/state/w%t") { n in
            text(state(bin: "w%t", n: n))
        },
        .init(name: "seq zero", reason: .outOfRange, topic: events) { _ in text(deposit(seq: 0)) },
        .init(name: "seq negative", reason: .outOfRange, topic: events) { n in text(deposit(seq: -1 - n)) },
        .init(name: "seq above 2^53", reason: .outOfRange, topic: events) { n in
            text(deposit(seq: 0).replacingOccurrences(of: #""seq":0"#, with: #""seq":\#(9_007_199_254_740_992 + n)"#))
        },
        .init(name: "seq far beyond the highest booked", reason: .outOfRange, topic: events) { n in
            text(deposit(seq: 20_000_000 + n))
        },
        .init(name: "seq with a fraction", reason: .malformedJSON, topic: events) { n in
            text(deposit(seq: seq(n)).replacingOccurrences(of: #""seq":\#(seq(n))"#, with: #""seq":\#(seq(n)).5"#))
        },
        .init(name: "ts missing", reason: .invalidField, topic: events) { n in
            text(deposit(seq: seq(n)).replacingOccurrences(of: #""ts":"\#(ts)","#, with: ""))
        },
        .init(name: "ts not a time", reason: .invalidField, topic: events) { n in
            text(deposit(seq: seq(n)).replacingOccurrences(of: ts, with: "yesterday \(n)"))
        },
        .init(name: "ts in 1970", reason: .outOfRange, topic: events) { n in
            text(deposit(seq: seq(n)).replacingOccurrences(of: ts, with: "1970-01-01T00:00:00.000Z"))
        },
        .init(name: "unknown event type", reason: .invalidField, topic: events) { n in
            text(deposit(seq: seq(n)).replacingOccurrences(of: #""type":"deposit""#, with: #""type":"explosion""#))
        },
        .init(name: "negative mass", reason: .outOfRange, topic: events) { n in
            text(deposit(seq: seq(n), mass: "-\(n + 1)"))
        },
        .init(name: "mass beyond every limit", reason: .outOfRange, topic: events) { n in
            text(deposit(seq: seq(n), mass: "\(1_000_000 + n)"))
        },
        .init(name: "mass overflowing a double", reason: .malformedJSON, topic: events) { n in
            text(deposit(seq: seq(n), mass: "1e400"))
        },
        .init(name: "unknown stream", reason: .invalidField, topic: events) { n in
            text(deposit(seq: seq(n)).replacingOccurrences(of: #""stream":"wet""#, with: #""stream":"plastic""#))
        },
        .init(name: "confidence above one", reason: .outOfRange, topic: events) { n in
            text(
                deposit(seq: seq(n)).replacingOccurrences(of: #""confidence":0.9"#, with: #""confidence":1.\#(n + 1)"#))
        },
        .init(name: "fault code not dotted", reason: .invalidField, topic: events) { n in
            text(
                #"{"schema":1,"device":"pt-1","ts":"\#(ts)","seq":\#(seq(n)),"type":"fault","bin":null,"sensor":"system","code":"BAD CODE","active":true,"detail":"x"}"#
            )
        },
        .init(name: "fault detail over 1 KiB", reason: .outOfRange, topic: events) { n in
            text(
                #"{"schema":1,"device":"pt-1","ts":"\#(ts)","seq":\#(seq(n)),"type":"fault","bin":null,"sensor":"system","code":"a.b","active":true,"detail":"\#(String(repeating: "d", count: 1100 + n))"}"#
            )
        },
        .init(name: "dropped range after the report", reason: .outOfRange, topic: events) { n in
            text(
                #"{"schema":1,"device":"pt-1","ts":"\#(ts)","seq":\#(seq(n)),"type":"fault","bin":null,"sensor":"outbox","code":"outbox.dropped","active":true,"detail":"x","first_seq":1,"last_seq":\#(seq(n) + 5)}"#
            )
        },
        .init(
            name: "state for another bin than its topic", reason: .invalidField, topic: Topics.state("pt-1", bin: "dry")
        ) { n in
            text(state(bin: "wet", n: n))
        },
        .init(name: "state fill above one", reason: .outOfRange, topic: Topics.state("pt-1", bin: "wet")) { n in
            text(state(fill: "1.\(n + 1)", n: n))
        },
        .init(name: "status with a negative session", reason: .outOfRange, topic: Topics.status("pt-1")) { n in
            text(#"{"schema":1,"device":"pt-1","ts":"\#(ts)","online":true,"session":\#(-1 - n)}"#)
        },
        .init(name: "birth with 40 bins", reason: .outOfRange, topic: Topics.birth("pt-1")) { n in
            let bins = (0..<40).map { #"{"id":"b\#($0)","stream":"wet","capacity_l":120}"# }.joined(separator: ",")
            return text(
                #"{"schema":1,"device":"pt-1","ts":"\#(ts)","session":\#(n + 1),"version":"1","config_hash":"h","board":"sim","bins":[\#(bins)]}"#
            )
        },
        .init(name: "health with negative uptime", reason: .outOfRange, topic: Topics.health("pt-1")) { n in
            text(
                #"{"schema":1,"device":"pt-1","ts":"\#(ts)","session":1,"uptime_s":\#(-1 - n),"samples_total":0,"sample_errors_total":0,"hx711_retries_total":0,"publish_failures_total":0,"reconnects_total":0,"outbox_depth":0,"dropped_total":0,"active_faults":[]}"#
            )
        },
    ]
}
