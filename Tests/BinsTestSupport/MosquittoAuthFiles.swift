import Foundation

/// mosquitto's password and ACL files, written the way an installer would.
public enum MosquittoAuthFiles {
    /// Writes a password file with `mosquitto_passwd -b` (hashed, as the broker expects).
    public static func writePasswordFile(
        at path: String, users: [(user: String, password: String)], in directory: TemporaryDirectory
    ) async throws {
        try? FileManager.default.removeItem(atPath: path)
        // mosquitto refuses to start without the file; an account file may well be empty.
        guard FileManager.default.createFile(atPath: path, contents: nil) else {
            throw TestSupportError("cannot create \(path)")
        }
        for (index, entry) in users.enumerated() {
            try await ChildProcess.run(
                "mosquitto_passwd", (index == 0 ? ["-c"] : []) + ["-b", path, entry.user, entry.password], in: directory)
        }
    }
}
