#if canImport(Glibc)
import Glibc
#endif

// gpio-guest-check: runs inside the gpio-sim qemu guest (scripts/gpio-sim/run) and exercises the
// libgpiod backend against the simulated chips /init created. Prints one `ok`/`FAIL` line per check
// and exits non-zero if any failed.
//
//   gpio-guest-check [--label L] [--other-label L] [--hogged-line N] [--hog-consumer NAME] [--line-prefix P]
//                    [--expect-libgpiod-api 1|2]

var layout = GuestChipLayout()
var arguments = CommandLine.arguments.dropFirst()
while let option = arguments.popFirst() {
    guard let value = arguments.popFirst() else {
        print("gpio-guest-check: \(option) needs a value")
        exit(2)
    }
    switch option {
    case "--label": layout.label = value
    case "--other-label": layout.otherLabel = value
    case "--hog-consumer": layout.hogConsumer = value
    case "--line-prefix": layout.linePrefix = value
    case "--expect-libgpiod-api":
        guard let api = Int(value) else {
            print("gpio-guest-check: --expect-libgpiod-api: '\(value)' is not 1 or 2")
            exit(2)
        }
        layout.expectedLibgpiodAPI = api
    case "--hogged-line":
        guard let offset = UInt32(value) else {
            print("gpio-guest-check: --hogged-line: '\(value)' is not a line offset")
            exit(2)
        }
        layout.hoggedLine = offset
    default:
        print("gpio-guest-check: unknown option \(option)")
        exit(2)
    }
}

let runner = CheckRunner()
do {
    try BackendChecks(layout: layout, runner: runner).runAll()
} catch {
    print("FAIL setting up the checks: \(error)")
    exit(1)
}
print("\(runner.passed) passed, \(runner.failures.count) failed")
exit(runner.failures.isEmpty ? 0 : 1)
