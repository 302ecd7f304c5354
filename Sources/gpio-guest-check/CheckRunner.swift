import GPIO

/// Runs named checks one after another, prints `ok   <name>` or `FAIL <name>: <why>` for each (the
/// same lines as the shell checks in scripts/gpio-sim/checks) and counts the failures. Figures a check
/// measures are printed as `info <text>`: informative only, never asserted.
final class CheckRunner {
    private(set) var failures: [String] = []
    private(set) var passed = 0

    func run(_ name: String, _ body: () throws -> Void) {
        do {
            try body()
            passed += 1
            print("ok   \(name)")
        } catch {
            failures.append(name)
            print("FAIL \(name): \(error)")
        }
    }

    func info(_ text: String) {
        print("info \(text)")
    }
}

func expect(_ condition: Bool, _ message: @autoclosure () -> String) throws(GuestCheckError) {
    if !condition { throw GuestCheckError(.expectation, message()) }
}

func expectEqual<Value: Equatable>(_ actual: Value, _ expected: Value, _ what: String) throws(GuestCheckError) {
    if actual != expected { throw GuestCheckError(.expectation, "\(what): expected \(expected), got \(actual)") }
}

/// Runs `body`, which must fail with a `GPIOError` of `code`; returns the error for further checks.
@discardableResult
func expectGPIOError<Result>(
    _ code: GPIOError.Code, _ what: String, _ body: () throws -> Result
) throws(GuestCheckError) -> GPIOError {
    let result: Result
    do {
        result = try body()
    } catch let error as GPIOError {
        guard error.code == code else {
            throw GuestCheckError(.expectation, "\(what): expected a '\(code.rawValue)' error, got: \(error)")
        }
        return error
    } catch {
        throw GuestCheckError(.expectation, "\(what): expected a '\(code.rawValue)' error, got: \(error)")
    }
    throw GuestCheckError(.expectation, "\(what): expected a '\(code.rawValue)' error, got \(result)")
}
