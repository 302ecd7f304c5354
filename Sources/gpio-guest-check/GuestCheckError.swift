import SystemCalls

#if canImport(Glibc)
import Glibc
#endif

/// The one error type of the guest check: a broken expectation about the libgpiod backend, or a
/// failure to reach the simulator's sysfs attributes (naming the path, the C function and errno).
struct GuestCheckError: Error, CustomStringConvertible {
    enum Code: String {
        /// The backend did something other than what the check expected.
        case expectation = "expectation failed"
        /// The gpio-sim sysfs attributes could not be found, read or written.
        case simulator = "gpio-sim sysfs"
        /// The check harness itself failed (thread creation, /proc).
        case harness = "harness"
    }

    var code: Code
    var message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// A failed C call on `path`, with errno captured by the caller right after the call.
    static func system(_ code: Code, path: String, function: String, errno value: Int32) -> GuestCheckError {
        GuestCheckError(code, "\(path): \(function) failed: \(Errno(rawValue: value))")
    }

    var description: String { code == .expectation ? message : "\(code.rawValue): \(message)" }
}
