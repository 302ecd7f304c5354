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
