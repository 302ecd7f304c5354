import GPIO

/// The one error type of the sensor layer. Its description names the sensor, its chip and lines,
/// what went wrong and, for GPIO failures, the underlying C function and errno, e.g.
/// `hx711 wet (gpiochip0 lines 5, 6): not ready: DOUT stayed high for 700 ms`.
public struct SensorError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Stable identifiers (snake_case raw values) that fault reports can carry, e.g. `scale.not_ready`.
    public enum Code: String, Sendable, Hashable, CaseIterable {
        /// HX711: DOUT did not go low within the ready timeout (unplugged, unpowered, dead part).
        case notReady = "not_ready"
        /// HX711: the code was 0x7FFFFF or 0x800000 (overload, broken bridge wire).
        case saturated
        /// HX711: a PD_SCK high phase ran past the limit on every attempt (the process kept being
        /// preempted mid-read).
        case timingViolation = "timing_violation"
        /// HX711: DOUT did not return high after the read (shorted or stuck data line).
        case dataLineStuck = "data_line_stuck"
        /// A GPIO operation failed; `gpio` holds the details.
        case gpio
        case invalidConfiguration = "invalid_configuration"
        /// Calibration input that cannot define a scale (no span, zero or negative reference mass).
        case degenerateCalibration = "degenerate_calibration"

        public var summary: String {
            switch self {
            case .notReady: "not ready"
            case .saturated: "saturated"
            case .timingViolation: "bit-bang timing violated"
            case .dataLineStuck: "data line stuck"
            case .gpio: "GPIO error"
            case .invalidConfiguration: "invalid configuration"
            case .degenerateCalibration: "degenerate calibration"
            }
        }
    }

    public var code: Code
    /// The sensor's configured name, e.g. `hx711 wet`.
    public var sensor: String
    public var chip: String?
    public var lines: [LineOffset]
    public var detail: String?
    public var gpio: GPIOError?

    public init(
        _ code: Code, sensor: String, chip: String? = nil, lines: [LineOffset] = [], detail: String? = nil,
        gpio: GPIOError? = nil
    ) {
        self.code = code
        self.sensor = sensor
        self.chip = chip
        self.lines = lines
        self.detail = detail
        self.gpio = gpio
    }

    public var description: String {
        var text = sensor
        if let chip {
            let offsets = lines.map(String.init).joined(separator: ", ")
            text += lines.isEmpty ? " (\(chip))" : " (\(chip) \(lines.count == 1 ? "line" : "lines") \(offsets))"
        }
        text += ": \(code.summary)"
        if let detail { text += ": \(detail)" }
        if let gpio { text += ": \(gpio)" }
        return text
    }
}

/// Where a driver's lines are, for its errors.
struct SensorIdentity: Sendable, Hashable {
    var name: String
    var chip: String
    var lines: [LineOffset]

    func error(_ code: SensorError.Code, _ detail: String? = nil) -> SensorError {
        SensorError(code, sensor: name, chip: chip, lines: lines, detail: detail)
    }

    /// Runs a GPIO operation, wrapping its failure.
    func gpio<Result>(_ body: () throws(GPIOError) -> Result) throws(SensorError) -> Result {
        do {
            return try body()
        } catch {
            throw SensorError(.gpio, sensor: name, chip: chip, lines: lines, gpio: error)
        }
    }
}
