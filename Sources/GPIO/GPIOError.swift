import SystemCalls

/// The one error type of the GPIO layer. Its description names the chip, the line, the C function and
/// the errno, e.g. `gpiochip9: no such chip (ENOENT)` or
/// `gpiochip0 line 17: gpiod_line_request_output failed: Device or resource busy (EBUSY)`.
public struct GPIOError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable {
        case noSuchChip = "no such chip"
        case noSuchLine = "no such line"
        case busy = "line busy"
        case permissionDenied = "permission denied"
        case invalidArgument = "invalid argument"
        case io = "I/O error"
        case released = "line released"
        case unsupported = "unsupported"
    }

    public var code: Code
    /// Chip name, label or path as the caller gave it.
    public var chip: String
    public var line: LineOffset?
    /// The C function that failed, if any.
    public var function: String?
    /// errno captured right after the failing call, if any.
    public var errno: Int32?
    /// Extra explanation (optional).
    public var detail: String?

    public init(
        _ code: Code, chip: String, line: LineOffset? = nil, function: String? = nil, errno: Int32? = nil,
        detail: String? = nil
    ) {
        self.code = code
        self.chip = chip
        self.line = line
        self.function = function
        self.errno = errno
        self.detail = detail
    }

    public var description: String {
        var text = chip
        if let line { text += " line \(line)" }
        text += ": "
        if let function {
            text += "\(function) failed: "
            if let errno {
                text += Errno(rawValue: errno).symbolicDescription
            } else {
                text += code.rawValue
            }
        } else {
            text += code.rawValue
            if let errno { text += " (\(Errno(rawValue: errno).name))" }
        }
        if let detail { text += ": \(detail)" }
        return text
    }
}
