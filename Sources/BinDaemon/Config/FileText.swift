import YAMLConfig

/// Small text files (configs, board files, credentials, calibration, sysfs values), read with the failing
/// call and errno in the error.
package enum FileText {
    package static func read(_ path: String) throws(BinDaemonError) -> String {
        do {
            return try TextFile.read(path)
        } catch {
            throw BinDaemonError(error, invalid: .fileUnreadable)
        }
    }
}
