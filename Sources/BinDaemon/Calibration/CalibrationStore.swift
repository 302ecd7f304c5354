import BinProtocol
import Sensors
import SystemCalls

#if canImport(Glibc)
import Glibc
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A bin's scale calibration as the state directory keeps it: the zero (from a tare, moved by bounded
/// auto-zero after collections) and the slope (from a known reference mass). A tare alone is stored too,
/// so an installer can tare, fetch the reference weight, and calibrate in a second step.
public struct StoredCalibration: Codable, Sendable, Equatable {
    /// HX711 counts with the bin empty.
    public var offsetCounts: Double
    /// Counts per kilogram; nil until `calibrate --known-kg` has run.
    public var countsPerKg: Double?
    /// σ of one reading in counts, measured during the last tare (what `scale_noise_kg` should be).
    public var noiseCounts: Double?
    public var taredAt: WireTimestamp?
    public var calibratedAt: WireTimestamp?

    public init(
        offsetCounts: Double, countsPerKg: Double? = nil, noiseCounts: Double? = nil, taredAt: WireTimestamp? = nil,
        calibratedAt: WireTimestamp? = nil
    ) {
        self.offsetCounts = offsetCounts
        self.countsPerKg = countsPerKg
        self.noiseCounts = noiseCounts
        self.taredAt = taredAt
        self.calibratedAt = calibratedAt
    }

    enum CodingKeys: String, CodingKey {
        case offsetCounts = "offset_counts"
        case countsPerKg = "counts_per_kg"
        case noiseCounts = "noise_counts"
        case taredAt = "tared_at"
        case calibratedAt = "calibrated_at"
    }

    /// Decoding checks what the initializers of `ScaleCalibration` check, so a hand-edited file cannot
    /// define a degenerate scale (a zero slope, a NaN offset).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        offsetCounts = try container.decode(Double.self, forKey: .offsetCounts)
        countsPerKg = try container.decodeIfPresent(Double.self, forKey: .countsPerKg)
        noiseCounts = try container.decodeIfPresent(Double.self, forKey: .noiseCounts)
        taredAt = try container.decodeIfPresent(WireTimestamp.self, forKey: .taredAt)
        calibratedAt = try container.decodeIfPresent(WireTimestamp.self, forKey: .calibratedAt)
        if let countsPerKg {
            do {
                _ = try ScaleCalibration(offsetCounts: offsetCounts, countsPerKilogram: countsPerKg)
            } catch {
                throw DecodingError.dataCorruptedError(
                    forKey: .countsPerKg, in: container, debugDescription: error.description)
            }
        } else if !offsetCounts.isFinite {
            throw DecodingError.dataCorruptedError(
                forKey: .offsetCounts, in: container, debugDescription: "not a finite number")
        }
    }

    /// The counts-to-kilograms map, once both points are known and usable.
    public var scale: ScaleCalibration? {
        guard let countsPerKg else { return nil }
        return try? ScaleCalibration(offsetCounts: offsetCounts, countsPerKilogram: countsPerKg)
    }

    /// σ of one reading in kilograms, when both the noise and the slope are known.
    public var noiseKg: Double? {
        guard let noiseCounts, let countsPerKg, countsPerKg != 0 else { return nil }
        return noiseCounts / abs(countsPerKg)
    }
}

/// One JSON file per bin in `<state_dir>/calibration/<bin>.json`, written atomically (temporary file,
/// fsync, rename, fsync of the directory) so a power cut leaves the old or the new calibration, never half
/// of one.
public struct CalibrationStore: Sendable {
    public let directory: String

    public init(directory: String) {
        self.directory = directory
    }

    public func path(bin: String) -> String { "\(directory)/\(bin).json" }

    /// The stored calibration of `bin`; nil when there is none. A file that exists but cannot be read or
    /// decoded is an error naming it (never silently treated as "uncalibrated").
    public func load(bin: String) throws(BinDaemonError) -> StoredCalibration? {
        try JSONStateFile.read(
            StoredCalibration.self, path: path(bin: bin), what: "calibration", code: .calibrationMissing)
    }

    /// Whether `bin` has a complete calibration (tare and slope).
    public func isCalibrated(bin: String) -> Bool {
        (try? load(bin: bin))??.scale != nil
    }

    public func save(_ calibration: StoredCalibration, bin: String) throws(BinDaemonError) {
        try JSONStateFile.write(calibration, path: path(bin: bin), directory: directory, what: "calibration")
    }
}

/// A small JSON file of the state directory: read with an error that names the file and what is wrong in
/// it, written atomically (`AtomicFile`).
package enum JSONStateFile {
    /// The value in `path`; nil when there is no such file. A file that cannot be read or decoded is an error
    /// with `code`, naming the file and `what` it should hold.
    package static func read<Value: Decodable>(
        _ type: Value.Type, path: String, what: String, code: BinDaemonErrorCode
    ) throws(BinDaemonError) -> Value? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let text = try FileText.read(path)
        do {
            return try JSONDecoder().decode(type, from: Data(text.utf8))
        } catch {
            throw BinDaemonError(code, "\(path): not a usable \(what): \(describe(error))")
        }
    }

    /// Writes `value` as sorted, indented JSON to `path`, creating `directory` first.
    package static func write<Value: Encodable>(
        _ value: Value, path: String, directory: String, what: String
    ) throws(BinDaemonError) {
        if let problem = AtomicFile.createDirectories(directory) {
            throw BinDaemonError(.fileUnwritable, "\(directory): cannot create the \(what) directory: \(problem)")
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        let data: Data
        do {
            data = try encoder.encode(value)
        } catch {
            throw BinDaemonError(.fileUnwritable, "\(path): cannot encode the \(what): \(error)", cause: error)
        }
        try AtomicFile.write(Array(data) + [0x0A], to: path)
    }

    private static func describe(_ error: any Error) -> String {
        if let error = error as? DecodingError {
            switch error {
            case .dataCorrupted(let context): return context.debugDescription
            case .keyNotFound(let key, _): return "missing \(key.stringValue)"
            case .typeMismatch(_, let context), .valueNotFound(_, let context):
                return "\(context.codingPath.map(\.stringValue).joined(separator: ".")): \(context.debugDescription)"
            @unknown default: return "\(error)"
            }
        }
        return "\(error)"
    }
}

/// Replaces a small file atomically and durably.
package enum AtomicFile {
    /// Creates `path` and any missing parents (mode 0755, as `mkdir -p`); nil when it exists afterwards,
    /// else what failed: the call, the directory and errno.
    package static func createDirectories(_ path: String) -> String? {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/") {
            prefix += prefix.isEmpty || prefix.hasSuffix("/") ? String(component) : "/\(component)"
            do {
                _ = try systemCall { mkdir(prefix, 0o755) }
            } catch {
                var status = stat()
                guard error == EEXIST, stat(prefix, &status) == 0, (status.st_mode & S_IFMT) == S_IFDIR else {
                    return "mkdir \(prefix) failed: \(error)"
                }
            }
        }
        return nil
    }

    package static func write(_ bytes: [UInt8], to path: String, mode: mode_t = 0o600) throws(BinDaemonError) {
        let temporary = "\(path).tmp"
        let fd: Int32
        do {
            fd = try systemCall { open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode) }
        } catch {
            throw failure("open", temporary, error)
        }
        do {
            var written = 0
            while written < bytes.count {
                written += try systemCall {
                    bytes[written...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
                }
            }
        } catch {
            close(fd)
            unlink(temporary)
            throw failure("write", temporary, error)
        }
        do {
            _ = try systemCall { fsync(fd) }
        } catch {
            close(fd)
            unlink(temporary)
            throw failure("fsync", temporary, error)
        }
        close(fd)
        do {
            _ = try systemCall { rename(temporary, path) }
        } catch {
            unlink(temporary)
            throw failure("rename", path, error)
        }
        let directory = PathText.directory(of: path)
        let dirfd = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dirfd >= 0 {
            _ = fsync(dirfd)
            close(dirfd)
        }
    }

    private static func failure(_ function: String, _ path: String, _ error: Errno) -> BinDaemonError {
        BinDaemonError(.fileUnwritable, "\(path): \(function) failed: \(error)", cause: error)
    }
}
