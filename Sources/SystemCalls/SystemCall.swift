#if canImport(Glibc)
import Glibc
#endif

/// The funnel every blocking or failing C call of the project goes through (in the spirit of NIO's
/// `syscall`): a call that reports failure as a negative result and errno. errno is read right after the
/// call, and an interrupted call (EINTR) is made again unless `retryingOnInterrupt` is false (callers that
/// must recompute a timeout between attempts).
@inlinable
public func systemCall<Result: BinaryInteger>(
    retryingOnInterrupt: Bool = true, _ call: () -> Result
) throws(Errno) -> Result {
    while true {
        let result = call()
        if result >= 0 { return result }
        let error = Errno.current
        if retryingOnInterrupt && error.rawValue == EINTR { continue }
        throw error
    }
}

/// The same for a call that reports failure as a NULL pointer and errno (`opendir`, `gpiod_chip_open`).
@inlinable
public func systemCall<Pointer>(_ call: () -> Pointer?) throws(Errno) -> Pointer {
    while true {
        if let pointer = call() { return pointer }
        let error = Errno.current
        if error.rawValue == EINTR { continue }
        throw error
    }
}

/// For C libraries that set errno only on some failures (libmosquitto's `MOSQ_ERR_ERRNO`, a NULL from
/// `mosquitto_new`): errno is cleared before the call and read right after it, so a stale value from an
/// earlier call is never reported. `errno` is nil when the call left it untouched.
@inlinable
public func withErrno<Result>(_ call: () -> Result) -> (result: Result, errno: Errno?) {
    Glibc.errno = 0
    let result = call()
    let captured = Glibc.errno
    return (result, captured == 0 ? nil : Errno(rawValue: captured))
}
