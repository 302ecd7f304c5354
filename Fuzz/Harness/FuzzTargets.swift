import Aggregator
import BinDaemon
import BinProtocol
import Foundation

/// What the fuzzer feeds: the decoders of everything that arrives from outside. A target must never trap
/// on any input; where it accepts one, it must also hold the properties checked here (a decoded payload
/// encodes and decodes to itself). A failed check is a crash, which libFuzzer reports with the input.
enum FuzzTarget: String, CaseIterable, Sendable {
    /// The wire contract's payload decoders (`WireCodec`, `WireJSON`): the first byte picks the payload
    /// type, the rest is the payload.
    case wire
    /// binsd's configuration reader (`ConfigLoader`).
    case binsdConfig = "binsd-config"
    /// bins-aggregator's configuration reader (`AggregatorConfiguration.parse`).
    case aggregatorConfig = "aggregator-config"

    /// Board files for `board:` references in binsd configurations (`BINS_FUZZ_BOARDS`, else none).
    static let boardDirectories: [String] = ProcessInfo.processInfo.environment["BINS_FUZZ_BOARDS"].map { [$0] } ?? []

    func run(_ bytes: [UInt8]) {
        switch self {
        case .wire: Self.wire(bytes)
        case .binsdConfig:
            let text = String(decoding: bytes, as: UTF8.self)
            let options = ConfigLoader.Options(boardSearchPaths: Self.boardDirectories, checkReferencedFiles: false)
            if let config = try? ConfigLoader.parse(yaml: text, file: "/nonexistent/fuzz/binsd.yaml", options: options)
            {
                // The hash of an accepted configuration is defined (it is what the birth message carries).
                precondition(ConfigLoader.configHash(config).count == 16, "config hash of an accepted configuration")
            }
        case .aggregatorConfig:
            let text = String(decoding: bytes, as: UTF8.self)
            if let configuration = try? AggregatorConfiguration.parse(
                yaml: text, source: "fuzz.yaml", baseDirectory: "/nonexistent/fuzz")
            {
                _ = configuration.summary
            }
        }
    }

    /// Decodes with the payload type the first byte picks; an accepted payload must survive a round trip.
    static func wire(_ bytes: [UInt8]) {
        guard let selector = bytes.first else { return }
        let payload = Array(bytes.dropFirst())
        switch selector % 9 {
        case 0: roundTrip(EventPayload.self, payload)
        case 1: roundTrip(StatePayload.self, payload)
        case 2: roundTrip(StatusPayload.self, payload)
        case 3: roundTrip(BirthPayload.self, payload)
        case 4: roundTrip(HealthPayload.self, payload)
        case 5: roundTrip(CommandPayload.self, payload)
        case 6: roundTrip(ReceiptPayload.self, payload)
        case 7: roundTrip(AggregatorStatusPayload.self, payload)
        default: _ = Topics.parse(String(decoding: payload, as: UTF8.self))
        }
    }

    static func roundTrip<T: Encodable & WireDecodable & WireValidatable & Equatable>(
        _ type: T.Type, _ payload: [UInt8]
    ) {
        guard let value = try? WireCodec.decode(type, from: payload) else { return }
        guard let encoded = try? WireCodec.encode(value) else {
            preconditionFailure("an accepted \(type) does not encode")
        }
        guard let again = try? WireCodec.decode(type, from: encoded) else {
            preconditionFailure(
                "an accepted \(type) re-encodes to something refused: \(String(decoding: encoded, as: UTF8.self))")
        }
        precondition(again == value, "\(type) changes in a round trip: \(String(decoding: encoded, as: UTF8.self))")
    }
}
