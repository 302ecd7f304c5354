import Foundation

/// mosquitto's password and ACL files, written the way an installer would.
public enum MosquittoAuthFiles {
    /// Writes a password file hashed by `mosquitto_passwd` (as the broker expects): the accounts in plain
    /// text first, then one `mosquitto_passwd -U` that hashes them all, so a city's thousands of device
    /// accounts cost one process, not one each.
    public static func writePasswordFile(
        at path: String, users: [(user: String, password: String)], in directory: TemporaryDirectory
    ) async throws {
        try? FileManager.default.removeItem(atPath: path)
        // mosquitto refuses to start without the file; an account file may well be empty.
        let plain = users.map { "\($0.user):\($0.password)\n" }.joined()
        guard
            FileManager.default.createFile(
                atPath: path, contents: Data(plain.utf8), attributes: [.posixPermissions: 0o600])
        else {
            throw TestSupportError("cannot create \(path)")
        }
        guard !users.isEmpty else { return }
        try await ChildProcess.run("mosquitto_passwd", ["-U", path], in: directory)
    }
}
