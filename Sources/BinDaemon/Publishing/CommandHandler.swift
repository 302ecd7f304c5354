import BinProtocol
import Logging
import MQTT

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Carries out what an operator sends on `cmd` (rebirth, read, tare, calibrate) and writes the reply. The
/// live publisher only receives commands and sends the replies; the sensors are reached through the
/// sampling control, whose thread alone owns the lines.
struct CommandHandler: Sendable {
    let control: SamplingControl
    let now: @Sendable () -> WireTimestamp
    let logger: Logger
    /// Publishes status, birth and every bin's state again (the live publisher's).
    let rebirth: @Sendable () -> Void

    func handle(_ message: MQTTMessage, device: String) async -> CommandReplyPayload? {
        struct Identified: Decodable { var id: String? }
        guard let id = (try? JSONDecoder().decode(Identified.self, from: Data(message.payload)))?.id, !id.isEmpty,
            id.utf8.count <= 128
        else {
            logger.warning(
                "cmd.unparseable",
                metadata: ["mqtt.topic": "\(message.topic)", "cmd.bytes": "\(message.payload.count)"])
            return nil
        }
        func reply(
            ok: Bool, error: String? = nil, readings: [SensorReading]? = nil, calibration: StoredCalibration? = nil,
            bin: String? = nil
        )
            -> CommandReplyPayload
        {
            CommandReplyPayload(
                device: device, ts: now(), id: id, ok: ok, error: error, readings: readings,
                calibration: calibration.map {
                    CalibrationSummary(bin: bin ?? "", offsetCounts: $0.offsetCounts, countsPerKg: $0.countsPerKg)
                })
        }
        let command: CommandPayload
        do {
            command = try WireCodec.decode(CommandPayload.self, from: message.payload, topicDevice: device)
        } catch {
            logger.warning("cmd.invalid", metadata: ["cmd.id": "\(id)", "cmd.error": "\(error)"])
            return reply(ok: false, error: "invalid command: \(error.message)")
        }
        logger.notice("cmd.received", metadata: ["cmd.id": "\(id)", "cmd.op": "\(command.op.rawValue)"])
        switch command.op {
        case .rebirth:
            rebirth()
            return reply(ok: true)
        case .read:
            let readings = await control.read()
            return readings.isEmpty
                ? reply(ok: false, error: "the sampling loop is not running") : reply(ok: true, readings: readings)
        case .tare:
            guard let bin = command.bin else { return reply(ok: false, error: "tare needs \"bin\"") }
            switch await control.tare(bin: bin) {
            case .success(let calibration): return reply(ok: true, calibration: calibration, bin: bin)
            case .failure(let error): return reply(ok: false, error: error.message)
            }
        case .calibrate:
            guard let bin = command.bin else { return reply(ok: false, error: "calibrate needs \"bin\"") }
            guard let knownKg = command.knownKg else { return reply(ok: false, error: "calibrate needs \"known_kg\"") }
            switch await control.calibrate(bin: bin, knownKg: knownKg) {
            case .success(let calibration): return reply(ok: true, calibration: calibration, bin: bin)
            case .failure(let error): return reply(ok: false, error: error.message)
            }
        }
    }
}
