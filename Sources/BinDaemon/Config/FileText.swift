#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Small text files (configs, board files, credentials) read with errno in the error.
enum FileText {
    static let maxBytes = 4 * 1024 * 1024

    static func read(_ path: String) throws(BinDaemonError) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            let code = errno
            throw BinDaemonError(.fileUnreadable, "\(path): open failed: \(String(cString: strerror(code))) (errno \(code))")
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                let code = errno
                if code == EINTR { continue }
                throw BinDaemonError(.fileUnreadable, "\(path): read failed: \(String(cString: strerror(code))) (errno \(code))")
            }
            if n == 0 { break }
            bytes.append(contentsOf: buffer[0..<n])
            if bytes.count > maxBytes {
                throw BinDaemonError(.fileUnreadable, "\(path): larger than \(maxBytes) bytes")
            }
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw BinDaemonError(.fileUnreadable, "\(path): not UTF-8 text")
        }
        return text
    }
}
