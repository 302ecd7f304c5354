#if canImport(Glibc)
import Glibc
#endif

/// An error number from the C library, the one way every module reads, keeps and prints errno. It is
/// captured by `systemCall` (or `withErrno`) right after the call that set it, before any other code can
/// overwrite it, which is why no module reads the global `errno` itself.
public struct Errno: Error, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: Int32

    public init(rawValue: Int32) {
        self.rawValue = rawValue
    }

    /// The calling thread's errno now: only right after a C call, before anything else runs.
    public static var current: Errno { Errno(rawValue: Glibc.errno) }

    /// The C library's own text (`strerror`), e.g. "No such file or directory".
    public var text: String {
        guard let text = strerror(rawValue) else { return "errno \(rawValue)" }
        return String(cString: text)
    }

    /// The symbolic name from the C headers for the values this project meets, e.g. "ENOENT";
    /// `errno N` for others.
    public var name: String {
        switch rawValue {
        case ENOENT: "ENOENT"
        case EBUSY: "EBUSY"
        case EACCES: "EACCES"
        case EPERM: "EPERM"
        case EINVAL: "EINVAL"
        case ENODEV: "ENODEV"
        case ENOTTY: "ENOTTY"
        case EIO: "EIO"
        case EINTR: "EINTR"
        case EAGAIN: "EAGAIN"
        case ENOMEM: "ENOMEM"
        case EBADF: "EBADF"
        case EMFILE: "EMFILE"
        case ENXIO: "ENXIO"
        case EOPNOTSUPP: "EOPNOTSUPP"
        case ENOSPC: "ENOSPC"
        case EROFS: "EROFS"
        case ECONNREFUSED: "ECONNREFUSED"
        default: "errno \(rawValue)"
        }
    }

    /// "No such file or directory (errno 2)": the form files, brokers and threads are reported with.
    public var description: String { "\(text) (errno \(rawValue))" }

    /// "No such file or directory (ENOENT)": the form chips and lines are reported with.
    public var symbolicDescription: String { "\(text) (\(name))" }

    public static var interrupted: Errno { Errno(rawValue: EINTR) }
    public static var wouldBlock: Errno { Errno(rawValue: EAGAIN) }
}

extension Errno {
    public static func == (lhs: Errno, rhs: Int32) -> Bool { lhs.rawValue == rhs }
}
