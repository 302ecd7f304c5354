import Foundation

/// Finds executables built with the tests (`mqtt-test-peer`, `binsd`, `bins-aggregator`): SwiftPM puts
/// them in the same directory as the test bundle, which on Linux is the running test binary. Set
/// `BINS_EXECUTABLES_DIR` to look elsewhere.
public enum TestExecutables {
    public static var directory: String {
        if let override = ProcessInfo.processInfo.environment["BINS_EXECUTABLES_DIR"] { return override }
        let running =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0]
        var directory = (running as NSString).deletingLastPathComponent
        // macOS-style bundles: …/debug/X.xctest/Contents/MacOS/X
        while let range = directory.range(of: ".xctest") {
            directory = (String(directory[..<range.lowerBound]) as NSString).deletingLastPathComponent
        }
        return directory
    }

    /// The path of `name` next to the test bundle; throws if it was not built.
    public static func path(_ name: String) throws -> String {
        let candidate = (directory as NSString).appendingPathComponent(name)
        guard FileManager.default.isExecutableFile(atPath: candidate) else {
            throw TestSupportError(
                "\(name) is not built in \(directory); build it with the tests (e.g. list it in BINS_ONLY)")
        }
        return candidate
    }

    /// The repository's root (for shipped files such as deploy/mosquitto), from this source file's path;
    /// `BINS_REPO_ROOT` overrides it.
    public static var repositoryRoot: String {
        if let override = ProcessInfo.processInfo.environment["BINS_REPO_ROOT"] { return override }
        var path = #filePath as NSString
        for _ in 0..<3 { path = path.deletingLastPathComponent as NSString }
        return path as String
    }
}
