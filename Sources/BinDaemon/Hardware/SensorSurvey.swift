import BinProtocol
import Sensors

/// One reading of every sensor of a bin, for an installer (`binsd read`) or an operator (the MQTT `read`
/// command): raw counts and the calibrated mass, the ranger's distance and the fill it means, the lid,
/// the temperature, and every error in words.
public enum SensorSurvey {
    /// Conversions whose median is reported: enough to smooth one reading's noise, short enough (0.5 s at
    /// 10 SPS) to take between two samples of the running daemon.
    public static let scaleConversions = 5

    public static func read(
        _ sensors: BinSensors, calibration: StoredCalibration?, temperature: TemperatureReading, pings: Int,
        quality: ReadingQuality
    ) -> SensorReading {
        var errors: [String] = []
        var raw: Int32?
        var massKg: Double?
        do {
            let burst = try sensors.scale.read(samples: scaleConversions)
            try sensors.scale.powerDown()
            raw = Int32(burst.median.rounded())
            if let scale = calibration?.scale {
                massKg = DepositDetector.round(scale.kilograms(fromCounts: burst.median), places: 3)
            } else {
                errors.append("scale not calibrated: run binsd calibrate --tare, then --known-kg")
            }
        } catch {
            errors.append("\(error)")
        }
        var distance: Double?
        var fill: Double?
        if let ranger = sensors.ranger, let config = sensors.bin.ranger {
            do {
                switch try ranger.measure(temperatureCelsius: temperature.celsius ?? 20, pings: pings).reading {
                case .distance(let millimetres):
                    distance = DepositDetector.round(millimetres, places: 1)
                    fill = DepositDetector.round(
                        sensors.bin.geometry.fill(distanceMm: millimetres, mountMm: config.mountMm).fraction, places: 3)
                case .blindZone:
                    fill = 1
                    errors.append("ranger: echo inside the blind zone (full, or the sensor is covered)")
                case .noEcho:
                    errors.append("ranger: no echo")
                }
            } catch {
                errors.append("\(error)")
            }
        }
        if let problem = temperature.problem { errors.append("temperature: \(problem)") }
        let worst = errors.isEmpty ? quality : quality.worse(.degraded)
        return SensorReading(
            bin: sensors.bin.id, massKg: massKg, rawCounts: raw, distanceMm: distance, fill: fill,
            lidOpen: sensors.lid?.isOpen, temperatureC: temperature.celsius, quality: worst, errors: errors)
    }
}
