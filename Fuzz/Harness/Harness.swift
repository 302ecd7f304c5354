import Foundation

#if FUZZING
/// libFuzzer's entry: one input for the target named by `BINS_FUZZ_TARGET`.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    FuzzHarness.target.run(bytes)
    return 0
}

// swift-format-ignore: AlwaysUseLowerCamelCase
// libFuzzer's own name for its entry point.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

/// SwiftPM links an executable with `--defsym main=<module>_main`; this is that entry point, and it hands
/// the process to libFuzzer's driver (options and corpus directories on the command line, as usual).
@_cdecl("bins_fuzz_main")
func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv, fuzzOneInput)
}

enum FuzzHarness {
    static let target: FuzzTarget = {
        let name = ProcessInfo.processInfo.environment["BINS_FUZZ_TARGET"] ?? ""
        guard let target = FuzzTarget(rawValue: name) else {
            fatalError("set BINS_FUZZ_TARGET to one of: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return target
    }()
}
#else
/// Without the fuzzer (an ordinary build): `bins-fuzz replay TARGET PATH...` runs every file (directories
/// are walked) through a target once, the way the fuzzer would, so the corpus in the repository is a
/// regression suite that runs in every test run. Exit status 0 when no input trapped.
@main
struct FuzzHarness {
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        guard arguments.count >= 3, arguments[0] == "replay", let target = FuzzTarget(rawValue: arguments[1]) else {
            let targets = FuzzTarget.allCases.map(\.rawValue).joined(separator: "|")
            FileHandle.standardError.write(Data("usage: bins-fuzz replay \(targets) FILE_OR_DIRECTORY...\n".utf8))
            exit(2)
        }
        var count = 0
        for path in arguments.dropFirst(2) {
            for file in files(at: path) {
                guard let data = FileManager.default.contents(atPath: file) else {
                    FileHandle.standardError.write(Data("bins-fuzz: cannot read \(file)\n".utf8))
                    exit(1)
                }
                target.run(Array(data))
                count += 1
            }
        }
        print("bins-fuzz: replayed \(count) input(s) through \(target.rawValue)")
    }

    static func files(at path: String) -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return [] }
        guard isDirectory.boolValue else { return [path] }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.sorted().flatMap { files(at: "\(path)/\($0)") }
    }
}
#endif
