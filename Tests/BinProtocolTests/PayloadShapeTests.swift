import BinProtocol
import Foundation
import Testing

/// What a receiver refuses for the shape of a payload (`WireJSON`) and the additions for end-to-end receipts: a
/// seq ceiling, the receipt payload, the dropped range of `outbox.dropped`.
@Suite("Payload shape and receipts")
struct PayloadShapeTests {
    static let valid =
        #"{"schema":1,"device":"pt-1","ts":"2026-06-01T06:02:00.000+08:00","seq":7,"type":"collection","bin":"dry","stream":"dry","mass_kg":30,"fill_before":null}"#

    func reason(_ text: String) -> RejectReason? {
        reason(Array(text.utf8))
    }

    func reason(_ bytes: [UInt8]) -> RejectReason? {
        do {
            _ = try WireCodec.decode(EventPayload.self, from: bytes, topicDevice: "pt-1")
            return nil
        } catch {
            return error.reason
        }
    }

    @Test("the valid payload decodes (the control for every refusal below)")
    func control() {
        #expect(reason(Self.valid) == nil)
        #expect(reason(" \n" + Self.valid + "\t ") == nil, "whitespace around the object is JSON")
    }

    @Test(
        "a repeated key is malformed JSON, however it is spelt",
        arguments: [
            #"{"schema":1,"device":"pt-1","device":"pt-2","ts":"2026-06-01T06:02:00Z","seq":7,"type":"fault","sensor":"system","code":"a.b","active":true,"detail":""}"#,
            #"{"schema":1,"device":"pt-1","dev\u0069ce":"pt-2","ts":"2026-06-01T06:02:00Z","seq":7,"type":"fault","sensor":"system","code":"a.b","active":true,"detail":""}"#,
            #"{"schema":1,"device":"pt-1","ts":"2026-06-01T06:02:00Z","seq":7,"seq":8,"type":"fault","sensor":"system","code":"a.b","active":true,"detail":""}"#,
            #"{"schema":1,"device":"pt-1","ts":"2026-06-01T06:02:00Z","seq":7,"type":"fault","sensor":"system","code":"a.b","active":true,"detail":"","x":{"k":1,"k":2}}"#,
        ])
    func repeatedKeys(payload: String) {
        #expect(reason(payload) == .malformedJSON)
        // Refused for the repeat, not for something else about the key (an escaped key once was).
        do {
            _ = try WireCodec.decode(EventPayload.self, from: Array(payload.utf8), topicDevice: "pt-1")
            Issue.record("decoded")
        } catch {
            #expect(error.message.hasSuffix("repeats"), "\(error)")
        }
    }

    @Test("an object of many keys finds a repeat too, escaped or not, and many distinct keys are fine")
    func repeatsAmongManyKeys() {
        let many = (0..<40).map { #""k\#($0)":\#($0)"# }.joined(separator: ",")
        let wide = String(Self.valid.dropLast()) + "," + many + "}"
        #expect(reason(wide) == nil, "forty distinct extra keys")
        #expect(reason(String(wide.dropLast()) + #","k7":0}"#) == .malformedJSON)
        #expect(reason(String(wide.dropLast()) + #","\u006b39":0}"#) == .malformedJSON, "k39 spelt with an escape")
        #expect(reason(String(wide.dropLast()) + #","se\u0071":8}"#) == .malformedJSON, "seq, far from its first")
    }

    @Test("a field spelt with escapes is read as the field")
    func escapedFieldName() throws {
        let escaped = Self.valid.replacingOccurrences(of: #""device":"pt-1""#, with: #""d\u0065vice":"pt-1""#)
            .replacingOccurrences(of: #""mass_kg":30"#, with: #""mass\u005fkg":30"#)
        #expect(escaped != Self.valid)
        let event = try WireCodec.decode(EventPayload.self, from: Array(escaped.utf8), topicDevice: "pt-1")
        #expect(event.device == "pt-1")
        guard case .collection(let collection) = event.body else {
            Issue.record("not a collection: \(event.body)")
            return
        }
        #expect(collection.massKg == 30)
    }

    @Test("the same key in different objects is fine")
    func sameKeyElsewhere() {
        let payload = Self.valid.dropLast() + #","extra":{"device":"x","seq":1},"list":[{"a":1},{"a":2}]}"#
        #expect(reason(String(payload)) == nil)
    }

    @Test("a byte-order mark, a top level that is not an object, trailing data and deep nesting are malformed JSON")
    func shapeRefusals() {
        #expect(reason([0xEF, 0xBB, 0xBF] + Array(Self.valid.utf8)) == .malformedJSON)
        for payload in ["[1,2]", "\"text\"", "42", "null", "true", "", "   ", Self.valid + "{}", Self.valid + "x"] {
            #expect(reason(payload) == .malformedJSON, "\(payload.prefix(20))")
        }
        let deep = String(repeating: "[", count: 40) + String(repeating: "]", count: 40)
        #expect(reason(String(Self.valid.dropLast()) + #","deep":"# + deep + "}") == .malformedJSON)
        #expect(reason(#"{"schema":1,"device":"pt-1"#) == .malformedJSON, "truncated")
        #expect(reason(#"{"a":"\x"}"#) == .malformedJSON, "invalid escape")
    }

    @Test("seq must lie in 1 ... 2^53 - 1")
    func seqCeiling() {
        func with(seq: String) -> String { Self.valid.replacingOccurrences(of: #""seq":7"#, with: #""seq":\#(seq)"#) }
        #expect(reason(with(seq: "9007199254740991")) == nil)
        #expect(reason(with(seq: "9007199254740992")) == .outOfRange)
        #expect(reason(with(seq: "9223372036854775807")) == .outOfRange)
        #expect(reason(with(seq: "0")) == .outOfRange)
        #expect(reason(with(seq: "-3")) == .outOfRange)
        #expect(
            reason(with(seq: "1e30")) == .malformedJSON,
            "a number no integer type holds is unreadable, not a wrong field")
    }

    @Test("outbox.dropped carries its seq range, which must lie before the report's own seq")
    func droppedRange() throws {
        let ts = WireTimestamp(rfc3339: "2026-06-01T06:02:00.000+08:00")!
        let event = EventPayload(
            device: "pt-1", ts: ts, seq: 50,
            body: .fault(
                Fault(
                    bin: nil, sensor: .outbox, code: "outbox.dropped", active: true, detail: "d", droppedSeqs: 10...40))
        )
        let bytes = try WireCodec.encode(event)
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.contains(#""first_seq":10"#) && text.contains(#""last_seq":40"#))
        #expect(try WireCodec.decode(EventPayload.self, from: bytes) == event)
        #expect(
            reason(
                text.replacingOccurrences(of: #""last_seq":40"#, with: #""last_seq":60"#).replacingOccurrences(
                    of: "pt-1", with: "pt-1")) == .outOfRange)
        #expect(
            reason(text.replacingOccurrences(of: #","last_seq":40"#, with: "")) == .invalidField, "first without last")
        #expect(
            reason(text.replacingOccurrences(of: #""first_seq":10"#, with: #""first_seq":45"#)) == .invalidField,
            "first after last")
    }

    @Test("a receipt validates its device, marks and order")
    func receiptPayload() throws {
        let ts = WireTimestamp(rfc3339: "2026-06-01T06:02:00.000+08:00")!
        let receipt = ReceiptPayload(device: "pt-1", ts: ts, through: 40, highest: 45)
        let bytes = try WireCodec.encode(receipt)
        #expect(try WireCodec.decode(ReceiptPayload.self, from: bytes, topicDevice: "pt-1") == receipt)
        #expect(throws: WireError.self) { try WireCodec.decode(ReceiptPayload.self, from: bytes, topicDevice: "pt-2") }
        let inverted = String(decoding: bytes, as: UTF8.self).replacingOccurrences(
            of: #""highest":45"#, with: #""highest":3"#)
        #expect(throws: WireError.self) { try WireCodec.decode(ReceiptPayload.self, from: Array(inverted.utf8)) }
        #expect(Topics.receipt("pt-1") == "bins/v1/pt-1/receipt")
        #expect(Topics.parse("bins/v1/pt-1/receipt")?.kind == .receipt)
    }

    @Test(
        "the aggregator's status announces receipts; one without the field (an older aggregator) decodes as not announcing"
    )
    func statusAnnouncesReceipts() throws {
        let ts = WireTimestamp(rfc3339: "2026-06-01T06:02:00.000+08:00")!
        let status = AggregatorStatusPayload(ts: ts, instance: "center-1", online: true)
        #expect(String(decoding: try WireCodec.encode(status), as: UTF8.self).contains(#""receipts":true"#))
        let old = #"{"schema":1,"ts":"2026-06-01T06:02:00.000+08:00","instance":"old","online":true}"#
        #expect(try WireCodec.decode(AggregatorStatusPayload.self, from: Array(old.utf8)).receipts == nil)
    }
}
