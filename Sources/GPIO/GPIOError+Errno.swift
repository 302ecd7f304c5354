import SystemCalls

#if canImport(Glibc)
import Glibc
#endif

extension GPIOError {
    /// The closest code for an errno left by a line operation (chip opening maps its own, see
    /// `LibgpiodChip`). Unknown values become `.io`, so the errno itself still tells the story.
    static func lineCode(forErrno value: Int32) -> Code {
        switch value {
        case EBUSY: .busy
        case EACCES, EPERM: .permissionDenied
        case EINVAL: .invalidArgument
        case ENODEV, ENXIO: .noSuchLine
        case EOPNOTSUPP, ENOTTY: .unsupported
        default: .io
        }
    }

    /// An error for a failed C call on a line, with errno captured by the caller right after the call.
    static func lineFailure(chip: String, line: LineOffset?, function: String, errno value: Int32) -> GPIOError {
        GPIOError(lineCode(forErrno: value), chip: chip, line: line, function: function, errno: value)
    }
}

extension GPIOError {
    /// A libgpiod call on a line, through the project's system-call funnel: errno is captured right after
    /// the call, EINTR is retried, and a failure becomes the line's error naming the C function.
    static func lineCall<Result: BinaryInteger>(
        chip: String, line: LineOffset?, function: String, _ call: () -> Result
    ) throws(GPIOError) -> Result {
        do {
            return try systemCall(call)
        } catch {
            throw lineFailure(chip: chip, line: line, function: function, errno: error.rawValue)
        }
    }

    /// The same for a call that returns NULL on failure.
    static func lineCall<Pointer>(
        chip: String, line: LineOffset?, function: String, _ call: () -> Pointer?
    ) throws(GPIOError) -> Pointer {
        do {
            return try systemCall(call)
        } catch {
            throw lineFailure(chip: chip, line: line, function: function, errno: error.rawValue)
        }
    }
}
