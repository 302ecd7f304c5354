import BinProtocol
import Foundation
import Testing

@Suite("Wire codec")
struct WireCodecTests {
    let ts = WireTimestamp(rfc3339: "2026-06-01T06:02:00.000+08:00")!

    func json(_ text: String) -> [UInt8] { Array(text.utf8) }

    func object(_ bytes: [UInt8]) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    }

    @Test("a deposit round-trips with snake_case fields and explicit nulls")
    func depositRoundTrip() throws {
        let event = EventPayload(
            device: "pt-0001", ts: ts, seq: 42,
            body: .deposit(
                Deposit(
                    bin: "wet", stream: .wet, massKg: 1.2, volumeL: nil, densityKgL: nil, observed: .unknown,
                    confidence: 0, contaminated: false, quality: .degraded)))
        let bytes = try WireCodec.encode(event)
        let fields = try object(bytes)
        #expect(fields["type"] as? String == "deposit")
        #expect(fields["mass_kg"] as? Double == 1.2)
        #expect(fields["volume_l"] is NSNull)
        #expect(fields["density_kg_l"] is NSNull)
        #expect(fields["ts"] as? String == "2026-06-01T06:02:00.000+08:00")
        #expect(fields["historical"] == nil)
        let decoded = try WireCodec.decode(EventPayload.self, from: bytes, topicDevice: "pt-0001")
        #expect(decoded == event)
    }

    @Test("a deposit's evidence is optional: written when given, absent otherwise, checked when present")
    func depositEvidence() throws {
        let evidence = DepositEvidence(
            reason: "classified", likelihoods: HypothesisValues(wet: 0.1071, dry: 4.569e-27, other: 0.03828),
            posterior: HypothesisValues(wet: 0.9856, dry: 0, other: 0.0144), volumeSigmaL: 1.62)
        let deposit = Deposit(
            bin: "wet", stream: .wet, massKg: 2.6, volumeL: 3.3, densityKgL: 0.8, observed: .wet, confidence: 0.986,
            contaminated: false, quality: .good, evidence: evidence)
        let event = EventPayload(device: "pt-0001", ts: ts, seq: 7, body: .deposit(deposit))
        let bytes = try WireCodec.encode(event)
        let fields = try object(bytes)
        #expect(fields["reason"] as? String == "classified")
        #expect((fields["likelihoods"] as? [String: Double])?["dry"] == 4.569e-27)
        #expect((fields["posterior"] as? [String: Double])?["other"] == 0.0144)
        #expect(fields["volume_sigma_l"] as? Double == 1.62)
        #expect(try WireCodec.decode(EventPayload.self, from: bytes) == event)
        // A sender that does not give the evidence (DESIGN's schema 1 alone) writes none of the fields.
        var plain = deposit
        plain.evidence = nil
        let plainFields = try object(
            try WireCodec.encode(EventPayload(device: "pt-0001", ts: ts, seq: 8, body: .deposit(plain))))
        #expect(plainFields["reason"] == nil && plainFields["likelihoods"] == nil && plainFields["posterior"] == nil)
        // Present but out of range: refused, naming the field.
        for (bad, field) in [
            (#""reason":"Not A Word""#, "reason"),
            (#""reason":"classified","posterior":{"wet":1.5,"dry":0,"other":0}"#, "posterior.wet"),
            (#""reason":"classified","likelihoods":{"wet":-1,"dry":0,"other":0}"#, "likelihoods.wet"),
        ] {
            let text =
                #"{"schema":1,"device":"pt-1","ts":"2026-06-01T06:02:00Z","seq":1,"type":"deposit","bin":"wet","stream":"wet","mass_kg":1,"volume_l":2,"density_kg_l":0.5,"observed":"wet","confidence":0.95,"contaminated":false,"quality":"good","#
                + bad + "}"
            #expect(throws: WireError.self, "\(field)") { try WireCodec.decode(EventPayload.self, from: json(text)) }
            do {
                _ = try WireCodec.decode(EventPayload.self, from: json(text))
            } catch {
                #expect(error.message.contains(field), "\(error)")
            }
        }
    }

    @Test("historical events say so; absent means false")
    func historical() throws {
        var event = EventPayload(
            device: "pt-1", ts: ts, seq: 1,
            body: .collection(Collection(bin: "dry", stream: .dry, massKg: 30, fillBefore: 0.8)))
        event.historical = true
        let fields = try object(try WireCodec.encode(event))
        #expect(fields["historical"] as? Bool == true)
        let plain = json(
            #"{"schema":1,"device":"pt-1","ts":"2026-06-01T06:02:00Z","seq":1,"type":"collection","bin":"dry","stream":"dry","mass_kg":30,"fill_before":null}"#
        )
        #expect(try WireCodec.decode(EventPayload.self, from: plain).historical == false)
    }

    @Test("a late event is marked historical by composing its bytes: it decodes as the same event, marked once")
    func markingHistorical() throws {
        let event = EventPayload(
            device: "pt-1", ts: ts, seq: 9,
            body: .collection(Collection(bin: "dry", stream: .dry, massKg: 30, fillBefore: 0.8)))
        let marked = EventPayload.markingHistorical(try WireCodec.encode(event))
        var expected = event
        expected.historical = true
        #expect(try WireCodec.decode(EventPayload.self, from: marked) == expected)
        #expect(EventPayload.markingHistorical(marked) == marked, "an event already marked is left as it is")
        #expect(EventPayload.markingHistorical(Array("{}".utf8)) == Array("{}".utf8))
        #expect(EventPayload.markingHistorical(Array("[1]".utf8)) == Array("[1]".utf8))
    }

    @Test("state keeps nullable fields as null")
    func stateNulls() throws {
        let state = StatePayload(
            device: "pt-1", ts: ts, bin: "wet", stream: .wet, fill: nil, massKg: 3.5, lidOpen: true,
            quality: .good, temperatureC: nil)
        let fields = try object(try WireCodec.encode(state))
        #expect(fields["fill"] is NSNull)
        #expect(fields["temperature_c"] is NSNull)
        #expect(fields["lid_open"] as? Bool == true)
        #expect(try WireCodec.decode(StatePayload.self, from: try WireCodec.encode(state)) == state)
    }

    @Test(
        "refuses bad payloads with a bounded reason",
        arguments: [
            (#"not json"#, RejectReason.malformedJSON),
            (#"[1,2]"#, .malformedJSON),
            (
                #"{"schema":2,"device":"pt-1","ts":"2026-06-01T06:02:00Z","seq":1,"type":"fault","bin":null,"sensor":"system","code":"system.boot","active":true,"detail":""}"#,
                .schemaVersion
            ),
            (
                #"{"schema":1,"device":"pt-1","ts":"2026-06-01T06:02:00Z","seq":0,"type":"fault","bin":null,"sensor":"system","code":"system.boot","active":true,"detail":""}"#,
                .outOfRange
            ),
            (
                #"{"schema":1,"device":"pt-1","ts":"2026-06-01T06:02:00Z","seq":3,"type":"fault","bin":null,"sensor":"system","code":"System Boot","active":true,"detail":""}"#,
                .invalidField
            ),
            (#"{"schema":1,"device":"pt-1","ts":"2026-06-01T06:02:00Z","seq":3,"type":"explosion"}"#, .invalidField),
            (
                #"{"schema":1,"device":"pt-1","ts":"yesterday","seq":3,"type":"collection","bin":"a","stream":"dry","mass_kg":1,"fill_before":null}"#,
                .invalidField
            ),
            (
                #"{"schema":1,"device":"pt-1","ts":"2026-06-01T06:02:00Z","seq":3,"type":"collection","bin":"a","stream":"dry","mass_kg":-1,"fill_before":null}"#,
                .outOfRange
            ),
            (
                #"{"schema":1,"device":"pt-1","ts":"2026-06-01T06:02:00Z","seq":3,"type":"collection","bin":"a","stream":"dry","mass_kg":"1","fill_before":null}"#,
                .invalidField
            ),
            (
                #"{"schema":1,"device":"pt-1","ts":"1970-01-01T00:00:00Z","seq":3,"type":"collection","bin":"a","stream":"dry","mass_kg":1,"fill_before":null}"#,
                .outOfRange
            ),
            (
                #"{"schema":1,"device":"pt-2","ts":"2026-06-01T06:02:00Z","seq":3,"type":"collection","bin":"a","stream":"dry","mass_kg":1,"fill_before":null}"#,
                .deviceMismatch
            ),
            (
                #"{"schema":1,"device":"pt-1","ts":"2026-06-01T06:02:00Z","seq":3,"type":"deposit","bin":"a/b","stream":"wet","mass_kg":1,"volume_l":2,"density_kg_l":0.5,"observed":"wet","confidence":0.9,"contaminated":false,"quality":"good"}"#,
                .invalidField
            ),
            (
                #"{"schema":1,"device":"pt-1","ts":"2026-06-01T06:02:00Z","seq":3,"type":"deposit","bin":"a","stream":"wet","mass_kg":1,"volume_l":2,"density_kg_l":0.5,"observed":"wet","confidence":1.5,"contaminated":false,"quality":"good"}"#,
                .outOfRange
            ),
        ])
    func rejects(text: String, reason: RejectReason) {
        #expect(throws: WireError.self) {
            _ = try WireCodec.decode(EventPayload.self, from: json(text), topicDevice: "pt-1")
        }
        do {
            _ = try WireCodec.decode(EventPayload.self, from: json(text), topicDevice: "pt-1")
        } catch {
            #expect(error.reason == reason, "\(error)")
        }
    }

    @Test("refuses oversized payloads before parsing them")
    func oversized() {
        let big = [UInt8](repeating: UInt8(ascii: " "), count: WireSchema.maxPayloadBytes + 1)
        do {
            _ = try WireCodec.decode(StatusPayload.self, from: big)
            Issue.record("an oversized payload was accepted")
        } catch {
            #expect(error.reason == .oversized)
        }
    }

    @Test("names the missing field")
    func missingFieldMessage() {
        let text = #"{"schema":1,"device":"pt-1","ts":"2026-06-01T06:02:00Z","online":true}"#
        do {
            _ = try WireCodec.decode(StatusPayload.self, from: json(text))
            Issue.record("a status without session was accepted")
        } catch {
            #expect(error.reason == .invalidField)
            #expect(error.message.contains("session"))
        }
    }

    @Test("commands need a bin and a reference mass where the operation does")
    func commands() throws {
        let good = json(#"{"id":"c1","op":"calibrate","bin":"wet","known_kg":5}"#)
        #expect(try WireCodec.decode(CommandPayload.self, from: good).knownKg == 5)
        for bad in [
            #"{"id":"c1","op":"calibrate","bin":"wet"}"#, #"{"id":"c1","op":"tare"}"#, #"{"id":"c1","op":"reboot"}"#,
        ] {
            #expect(throws: WireError.self) { _ = try WireCodec.decode(CommandPayload.self, from: json(bad)) }
        }
    }
}

@Suite("Topics")
struct TopicsTests {
    @Test("builds and parses every device topic")
    func roundTrip() {
        #expect(Topics.parse(Topics.status("pt-1"))! == ("pt-1", .status))
        #expect(Topics.parse(Topics.birth("pt-1"))! == ("pt-1", .birth))
        #expect(Topics.parse(Topics.state("pt-1", bin: "wet"))! == ("pt-1", .state(bin: "wet")))
        #expect(Topics.parse(Topics.events("pt-1"))! == ("pt-1", .events))
        #expect(Topics.parse(Topics.health("pt-1"))! == ("pt-1", .health))
        #expect(Topics.parse(Topics.command("pt-1"))! == ("pt-1", .command))
        #expect(Topics.parse(Topics.commandReply("pt-1"))! == ("pt-1", .commandReply))
    }

    @Test(
        "rejects foreign and malformed topics",
        arguments: [
            "bins/v2/pt-1/status", "bins/v1/pt+1/status", "bins/v1//status", "bins/v1/pt-1/state",
            "bins/v1/pt-1/state/a/b", "bins/v1/pt-1/events/x", "sanitation/v1/alerts", "bins/v1/pt-1",
        ])
    func rejects(topic: String) {
        #expect(Topics.parse(topic) == nil)
    }

    @Test("identifiers exclude wildcards, separators and overlong names")
    func identifiers() {
        #expect(Topics.isValidIdentifier("pt-0001"))
        #expect(Topics.isValidIdentifier("wet_2.a"))
        for bad in ["", "a/b", "a+b", "a#", "a b", String(repeating: "x", count: 65), "点"] {
            #expect(!Topics.isValidIdentifier(bad))
        }
    }
}
