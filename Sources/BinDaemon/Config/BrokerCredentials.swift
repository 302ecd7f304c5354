import SystemCalls
import YAMLConfig

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension BrokerConfig {
    /// The password to log in with: `password` from the config, or the first line of `passwordFile`,
    /// which must not be readable or writable by group or others (a password file anyone can read is
    /// refused, not used). The error names the file and its mode, never the content.
    public func loadPassword() throws(BinDaemonError) -> Secret? {
        if let password { return password }
        guard let path = passwordFile else { return nil }
        return try Self.readPasswordFile(path)
    }

    /// The first line of a password file that only its owner may read or write.
    public static func readPasswordFile(_ path: String) throws(BinDaemonError) -> Secret {
        var info = stat()
        do {
            _ = try systemCall { stat(path, &info) }
        } catch {
            throw BinDaemonError(.credentials, "\(path): stat failed: \(error)", cause: error)
        }
        let mode = info.st_mode & 0o777
        guard mode & 0o077 == 0 else {
            throw BinDaemonError(
                .credentials,
                "\(path): password file is accessible by group or others (mode \(String(mode, radix: 8))); run chmod 600 \(path)"
            )
        }
        let text = try FileText.read(path)
        let firstLine = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        let password = firstLine.hasSuffix("\r") ? firstLine.dropLast() : firstLine
        guard !password.isEmpty else {
            throw BinDaemonError(.credentials, "\(path): password file is empty")
        }
        return Secret(String(password))
    }
}
