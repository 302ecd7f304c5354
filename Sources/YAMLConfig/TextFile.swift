import SystemCalls

#if canImport(Glibc)
import Glibc
#endif

/// Small text files (configurations, boards, scenarios, credentials, sysfs values), read with the
/// failing call and errno in the error.
public enum TextFile {
    /// Larger than this is not a hand-written file.
    public static let defaultLimit = 4 * 1024 * 1024

    public static func read(_ path: String, limit: Int = defaultLimit) throws(ConfigError) -> String {
        let fd: Int32
        do {
            fd = try systemCall { open(path, O_RDONLY | O_CLOEXEC) }
        } catch {
            throw failure(path, "open", error)
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count: Int
            do {
                count = try systemCall { buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) } }
            } catch {
                throw failure(path, "read", error)
            }
            if count == 0 { break }
            bytes.append(contentsOf: buffer[0..<count])
            if bytes.count > limit {
                throw ConfigError(.unreadable, file: path, message: "\(path): larger than \(limit) bytes")
            }
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ConfigError(.unreadable, file: path, message: "\(path): not UTF-8 text")
        }
        return text
    }

    private static func failure(_ path: String, _ call: String, _ error: Errno) -> ConfigError {
        ConfigError(.unreadable, file: path, message: "\(path): \(call) failed: \(error)", errno: error.rawValue)
    }
}
