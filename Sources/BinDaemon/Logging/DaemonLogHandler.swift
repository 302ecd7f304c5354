import BinProtocol
import Logging
import Synchronization
import SystemCalls

#if canImport(Glibc)
import Glibc
#endif

/// The daemon's log level, shared by every logger so a configuration reload (SIGHUP) can change it.
public final class LogLevelControl: Sendable {
    private let raw: Atomic<Int>

    public init(_ level: Logger.Level) { raw = Atomic(Self.index(level)) }

    public var level: Logger.Level {
        get { Logger.Level.allCases[raw.load(ordering: .relaxed)] }
        set { raw.store(Self.index(newValue), ordering: .relaxed) }
    }

    public func set(_ level: LogLevel) { self.level = level.loggerLevel }

    private static func index(_ level: Logger.Level) -> Int { Logger.Level.allCases.firstIndex(of: level) ?? 2 }

    /// Sends every logger of the process to a `DaemonLogHandler` in `format` at this control's level
    /// (`binsd` and `binsd-simulate` call it once, before logging anything).
    public func bootstrap(_ format: LogFormat) {
        LoggingSystem.bootstrap { label in DaemonLogHandler(label: label, format: format, control: self) }
    }
}

extension LogLevel {
    public var loggerLevel: Logger.Level {
        switch self {
        case .trace: .trace
        case .debug: .debug
        case .info: .info
        case .notice: .notice
        case .warning: .warning
        case .error: .error
        case .critical: .critical
        }
    }
}

/// One line per message on standard error (systemd's journal takes it from there): text
/// (`2026-06-01T06:02:00.000+08:00 info binsd: event.recorded event.seq=12 ...`) or one JSON object per line
/// with the metadata's dotted keys flat beside `ts`, `level`, `label` and `message`.
public struct DaemonLogHandler: LogHandler {
    public let label: String
    public let format: LogFormat
    public let control: LogLevelControl
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?

    public init(label: String, format: LogFormat, control: LogLevelControl) {
        self.label = label
        self.format = format
        self.control = control
    }

    public var logLevel: Logger.Level {
        get { control.level }
        set { control.level = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        let ts = WireTimestamp.now().rfc3339
        var line: String
        switch format {
        case .text:
            line = "\(ts) \(event.level) \(label): \(event.message)"
            for key in merged.keys.sorted() { line += " \(key)=\(merged[key]!)" }
        case .json:
            line =
                "{\"ts\":\(Self.quote(ts)),\"level\":\(Self.quote("\(event.level)")),\"label\":\(Self.quote(label)),\"message\":\(Self.quote("\(event.message)"))"
            for key in merged.keys.sorted() { line += ",\(Self.quote(key)):\(Self.quote("\(merged[key]!)"))" }
            line += "}"
        }
        line += "\n"
        // One write(2) per line: lines from several threads do not interleave.
        var bytes = Array(line.utf8)
        var offset = 0
        while offset < bytes.count {
            guard
                let n = try? systemCall({
                    bytes[offset...].withUnsafeMutableBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
                }),
                n > 0
            else { break }
            offset += n
        }
    }

    static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let s where s.value < 0x20:
                let hex = String(s.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
