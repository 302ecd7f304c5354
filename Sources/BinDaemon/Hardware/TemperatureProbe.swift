import Synchronization

#if canImport(Glibc)
import Glibc
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The air temperature for the speed of sound and the state messages.
public struct TemperatureReading: Sendable, Equatable {
    public var celsius: Double?
    /// False when the value is a fallback (no sensor answered) rather than a measurement.
    public var measured: Bool
    /// Why there is no measurement, for logs and `binsd read`.
    public var problem: String?

    public init(celsius: Double?, measured: Bool, problem: String? = nil) {
        self.celsius = celsius
        self.measured = measured
        self.problem = problem
    }
}

/// Where the temperature comes from. Called on the sampling thread, which may block briefly.
public protocol TemperatureProbe: Sendable {
    func read() -> TemperatureReading
}

/// A configured constant (a board without a sensor).
public struct FixedTemperature: TemperatureProbe {
    public let celsius: Double

    public init(celsius: Double) { self.celsius = celsius }

    public func read() -> TemperatureReading { TemperatureReading(celsius: celsius, measured: true) }
}

/// A DS18B20 on the kernel's 1-Wire bus (`w1-gpio` + `w1-therm`): `temperature` holds millidegrees. Reading
/// the file starts a conversion that takes up to 750 ms, so a value is reused for `maximumAgeNanoseconds`
/// (on the monotonic clock). While the sensor is missing or returns its power-on value (85 °C), `fallbackC`
/// is used and the reading says it is not measured.
public final class DS18B20Probe: TemperatureProbe {
    public let pathGlob: String
    public let fallbackC: Double?
    public let maximumAgeNanoseconds: UInt64
    private let cache = Mutex<(value: TemperatureReading, at: UInt64)?>(nil)

    public init(pathGlob: String, fallbackC: Double?, maximumAgeNanoseconds: UInt64 = 60_000_000_000) {
        self.pathGlob = pathGlob
        self.fallbackC = fallbackC
        self.maximumAgeNanoseconds = maximumAgeNanoseconds
    }

    public func read() -> TemperatureReading {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let nowNs = UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
        if let cached = cache.withLock({ $0 }), nowNs &- cached.at < maximumAgeNanoseconds { return cached.value }
        let reading = measure()
        cache.withLock { $0 = (reading, nowNs) }
        return reading
    }

    private func measure() -> TemperatureReading {
        guard let path = Self.firstMatch(pathGlob) else {
            return TemperatureReading(celsius: fallbackC, measured: false, problem: "no DS18B20 at \(pathGlob)")
        }
        let text: String
        do {
            text = try FileText.read(path)
        } catch {
            return TemperatureReading(celsius: fallbackC, measured: false, problem: error.message)
        }
        guard let milli = Int(text.filter { !$0.isWhitespace }) else {
            return TemperatureReading(celsius: fallbackC, measured: false, problem: "\(path): not a number")
        }
        let celsius = Double(milli) / 1000
        // 85 °C is the power-on reset value: the conversion did not run.
        guard celsius != 85, (-55...125).contains(celsius) else {
            return TemperatureReading(
                celsius: fallbackC, measured: false, problem: "\(path): \(celsius) °C is not a conversion")
        }
        return TemperatureReading(celsius: celsius, measured: true)
    }

    static func firstMatch(_ pattern: String) -> String? {
        var matches = glob_t()
        defer { globfree(&matches) }
        guard glob(pattern, 0, nil, &matches) == 0, matches.gl_pathc > 0, let first = matches.gl_pathv[0] else {
            return nil
        }
        return String(cString: first)
    }
}
