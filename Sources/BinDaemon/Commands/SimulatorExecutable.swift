import SystemCalls

#if canImport(Glibc)
import Glibc
#endif

/// `binsd-simulate`, the executable that runs simulated points, found and started the way git starts its
/// subcommands: `binsd` links none of the simulator (the device models, the bin world, the scenario runner),
/// so `binsd simulate ...` and `binsd run` on the `sim` board replace the `binsd` process with
/// `binsd-simulate` and the same arguments. The process keeps its id, standard streams and signal
/// dispositions, so callers (tests, `scripts/demo`, `scripts/bench`, systemd) see one process as before.
public enum SimulatorExecutable {
    public static let name = "binsd-simulate"

    /// Where it is looked for, in order: `$BINSD_SIMULATE`; next to the running `binsd` (a build
    /// directory); `../lib/binsd/` from it (the Debian package's `/usr/lib/binsd/binsd-simulate`).
    public static func candidates(environment: [String: String], ownExecutable: String?) -> [String] {
        var paths: [String] = []
        if let explicit = environment["BINSD_SIMULATE"], !explicit.isEmpty { paths.append(explicit) }
        if let own = ownExecutable, let slash = own.lastIndex(of: "/") {
            let directory = String(own[..<slash])
            paths.append("\(directory)/\(name)")
            let parent = directory.lastIndex(of: "/").map { String(directory[..<$0]) } ?? directory
            paths.append("\(parent)/lib/binsd/\(name)")
        }
        return paths
    }

    /// Replaces this process with `binsd-simulate ARGUMENTS`; returns only if no candidate could be
    /// executed, with a message naming every path tried and why it failed.
    public static func exec(_ arguments: [String]) -> String {
        var environment: [String: String] = [:]
        if let value = getenv("BINSD_SIMULATE") { environment["BINSD_SIMULATE"] = String(cString: value) }
        var failures: [String] = []
        for path in candidates(environment: environment, ownExecutable: ownExecutablePath()) {
            let argv = [path] + arguments
            var cStrings: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) }
            cStrings.append(nil)
            let failure = withErrno { execv(path, cStrings) }.errno ?? Errno(rawValue: ENOEXEC)
            for pointer in cStrings { free(pointer) }
            failures.append("\(path): \(failure)")
        }
        return "cannot start \(name), which runs simulated points (install the binsd package, or build the "
            + "\(name) product next to binsd): " + failures.joined(separator: "; ")
    }

    /// The running executable, from `/proc/self/exe`.
    static func ownExecutablePath() -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard count > 0 else { return nil }
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
