import CBinsGPIOD
import Synchronization
import SystemCalls

#if canImport(Glibc)
import Glibc
#endif

/// A GPIO chip opened through libgpiod (`/dev/gpiochipN`, the kernel's GPIO character device): 1.6 (Debian
/// 12) or 2.x (Debian 13, Raspberry Pi OS), whichever the build found (`Libgpiod`, chosen by Package.swift
/// from pkg-config); everything above `Libgpiod` is the same for both.
///
/// The object owns the `struct gpiod_chip *` and closes it in `deinit`; every line request keeps its
/// chip alive. libgpiod objects are not thread-safe (and in 1.6 line handles live inside the chip object),
/// so every libgpiod call on this chip is made under one lock; only the blocking `poll()` of
/// `waitForEvents` runs outside it.
public final class LibgpiodChip: GPIOChip {
    public let info: ChipInfo
    public let clock: any ChipClock

    /// The `struct gpiod_chip *`, guarded: libgpiod keeps per-line state inside the chip object.
    let handle: Mutex<GPIODPointer>
    let eventClock: KernelEventClock

    /// Opens `/dev/gpiochipN` or any path to a GPIO character device.
    public convenience init(path: String) throws(GPIOError) {
        let pointer = try Self.open(displayName: path, function: "gpiod_chip_open") { gpiod_chip_open(path) }
        self.init(adopting: pointer)
    }

    /// Opens a chip by its kernel name, e.g. `gpiochip0` (`/dev/gpiochip0`).
    public convenience init(name: String, devicesDirectory: String = "/dev") throws(GPIOError) {
        let path = "\(devicesDirectory)/\(name)"
        let pointer = try Self.open(displayName: name, function: "gpiod_chip_open") { gpiod_chip_open(path) }
        self.init(adopting: pointer)
    }

    /// Opens `gpiochipN` by its number.
    public convenience init(number: UInt32, devicesDirectory: String = "/dev") throws(GPIOError) {
        try self.init(name: "gpiochip\(number)", devicesDirectory: devicesDirectory)
    }

    /// Opens the chip whose driver label matches, e.g. `pinctrl-bcm2711`: labels are stable across
    /// boots and kernels, chip numbers are not. The chips are scanned here rather than with
    /// `gpiod_chip_open_by_label`, which gives up on the first chip it cannot open; a chip this
    /// process may not open is skipped and named in the error if no other chip matches.
    public convenience init(label: String, devicesDirectory: String = "/dev") throws(GPIOError) {
        var firstRefusal: GPIOError?
        for path in try Self.chipDevicePaths(in: devicesDirectory) {
            let pointer: OpaquePointer
            do {
                pointer = try systemCall { gpiod_chip_open(path) }
            } catch {
                if firstRefusal == nil, error == EACCES || error == EPERM {
                    firstRefusal = Self.openError(displayName: path, function: "gpiod_chip_open", errno: error.rawValue)
                }
                continue
            }
            if Libgpiod.chipIdentity(pointer).label == label {
                self.init(adopting: pointer)
                return
            }
            gpiod_chip_close(pointer)
        }
        if var refusal = firstRefusal {
            refusal.detail = "no readable chip is labelled '\(label)'"
            throw refusal
        }
        throw GPIOError(.noSuchChip, chip: label, errno: ENOENT)
    }

    /// Opens a chip the way a configuration file names it: a path (`/dev/gpiochip0`), a number
    /// (`0`), a kernel name (`gpiochip0`) or otherwise a label (`pinctrl-bcm2711`).
    public convenience init(lookup description: String) throws(GPIOError) {
        if description.hasPrefix("/") {
            try self.init(path: description)
        } else if let number = UInt32(description) {
            try self.init(number: number)
        } else if description.hasPrefix("gpiochip"), UInt32(description.dropFirst("gpiochip".count)) != nil {
            try self.init(name: description)
        } else {
            try self.init(label: description)
        }
    }

    private init(adopting pointer: OpaquePointer) {
        let identity = Libgpiod.chipIdentity(pointer)
        info = ChipInfo(
            name: identity.name, label: identity.label, path: "/dev/\(identity.name)", lineCount: identity.lineCount)
        handle = Mutex(GPIODPointer(pointer))
        clock = MonotonicClock()
        eventClock = Libgpiod.eventClock
    }

    deinit {
        handle.withLock { gpiod_chip_close($0.pointer) }
    }

    /// libgpiod's version string as the shared library reports it, e.g. `1.6.3` or `2.2.1`.
    public static var libraryVersion: String { Libgpiod.libraryVersion }

    /// The libgpiod API this backend was built for: 1 (libgpiod 1.x) or 2 (libgpiod 2.x).
    public static var apiVersion: Int { Libgpiod.apiVersion }

    // MARK: Listing

    /// The GPIO chips of this machine, in number order, like `gpiodetect`: every `gpiochip*` entry of
    /// `/dev` that is a GPIO character device. Entries that are not (ENOTTY/ENODEV) or vanished
    /// (ENOENT) are skipped; a chip that cannot be opened otherwise (EACCES) throws, naming it.
    public static func listChips(devicesDirectory: String = "/dev") throws(GPIOError) -> [ChipInfo] {
        var chips: [ChipInfo] = []
        for path in try chipDevicePaths(in: devicesDirectory) {
            let pointer: OpaquePointer
            do {
                pointer = try systemCall { gpiod_chip_open(path) }
            } catch {
                if error == ENOENT || error == ENOTTY || error == ENODEV { continue }
                throw openError(displayName: path, function: "gpiod_chip_open", errno: error.rawValue)
            }
            let identity = Libgpiod.chipIdentity(pointer)
            chips.append(
                ChipInfo(name: identity.name, label: identity.label, path: path, lineCount: identity.lineCount))
            gpiod_chip_close(pointer)
        }
        return chips
    }

    /// `gpiochip*` entries of a directory, sorted by chip number (gpiochip10 after gpiochip9).
    static func chipDevicePaths(in directory: String) throws(GPIOError) -> [String] {
        let stream: OpaquePointer
        do {
            stream = try systemCall { opendir(directory) }
        } catch {
            throw GPIOError(
                lineCode(forOpenErrno: error.rawValue), chip: directory, function: "opendir", errno: error.rawValue)
        }
        defer { closedir(stream) }
        var numbered: [(UInt64, String)] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard name.hasPrefix("gpiochip"), let number = UInt64(name.dropFirst("gpiochip".count)) else {
                continue
            }
            numbered.append((number, directory.hasSuffix("/") ? directory + name : directory + "/" + name))
        }
        return numbered.sorted { $0.0 < $1.0 }.map(\.1)
    }

    // MARK: Opening

    private static func open(
        displayName: String, function: String, _ call: () -> OpaquePointer?
    ) throws(GPIOError) -> OpaquePointer {
        do {
            return try systemCall(call)
        } catch {
            throw openError(displayName: displayName, function: function, errno: error.rawValue)
        }
    }

    /// A missing chip reads `gpiochip9: no such chip (ENOENT)`; anything else names the C function.
    static func openError(displayName: String, function: String, errno error: Int32) -> GPIOError {
        switch error {
        case ENOENT:
            GPIOError(.noSuchChip, chip: displayName, errno: ENOENT)
        case ENOTTY, ENODEV:
            GPIOError(
                .noSuchChip, chip: displayName, function: function, errno: error,
                detail: "not a GPIO character device")
        default:
            GPIOError(lineCode(forOpenErrno: error), chip: displayName, function: function, errno: error)
        }
    }

    private static func lineCode(forOpenErrno error: Int32) -> GPIOError.Code {
        switch error {
        case ENOENT, ENOTTY, ENODEV, ENXIO: .noSuchChip
        case EACCES, EPERM: .permissionDenied
        default: .io
        }
    }

    // MARK: Lines

    public func lineInfo(_ offset: LineOffset) throws(GPIOError) -> LineInfo {
        let chipName = info.name
        let lineCount = info.lineCount
        return try handle.withLock { chip throws(GPIOError) -> LineInfo in
            try Libgpiod.lineInfo(chip: chip.pointer, offset: offset, chipName: chipName, lineCount: lineCount)
        }
    }

    public func requestOutput(_ offset: LineOffset, consumer: String, initialValue: Bool) throws(GPIOError)
        -> any GPIOOutputLine
    {
        LibgpiodOutputLine(handle: try request(offset, consumer: consumer, kind: .output(initialValue: initialValue)))
    }

    public func requestInput(_ offset: LineOffset, consumer: String, bias: LineBias) throws(GPIOError)
        -> any GPIOInputLine
    {
        LibgpiodInputLine(handle: try request(offset, consumer: consumer, kind: .input(bias: bias)))
    }

    public func requestEvents(_ offset: LineOffset, consumer: String, edges: EdgeDetection, bias: LineBias)
        throws(GPIOError) -> any GPIOEventLine
    {
        LibgpiodEventLine(handle: try request(offset, consumer: consumer, kind: .events(edges: edges, bias: bias)))
    }

    private func request(_ offset: LineOffset, consumer: String, kind: Libgpiod.RequestKind) throws(GPIOError)
        -> LibgpiodLineHandle
    {
        let chipName = info.name
        let lineCount = info.lineCount
        let requested = try handle.withLock { chip throws(GPIOError) -> Libgpiod.Request in
            try Libgpiod.request(
                chip: chip.pointer, offset: offset, consumer: consumer, kind: kind, chipName: chipName,
                lineCount: lineCount)
        }
        return LibgpiodLineHandle(chip: self, offset: offset, request: requested)
    }

    // MARK: Events

    /// Polls the lines' event descriptors and the wakeup's eventfd until an edge is pending, the
    /// timeout passes (on `CLOCK_MONOTONIC`) or the wakeup is signalled; EINTR resumes the wait with
    /// the time left. A signalled wakeup is consumed. The returned events of all lines are in
    /// timestamp order.
    public func waitForEvents(on lines: [any GPIOEventLine], timeoutNanoseconds: UInt64, wakeup: GPIOWakeup?)
        throws(GPIOError) -> [EdgeEvent]
    {
        var handles: [LibgpiodLineHandle] = []
        for line in lines {
            guard let eventLine = line as? LibgpiodEventLine, eventLine.handle.chip === self else {
                throw GPIOError(
                    .invalidArgument, chip: info.name, line: line.offset,
                    detail: "the line was not requested from this chip")
            }
            handles.append(eventLine.handle)
        }
        let deadline = MonotonicTime.now().saturatingAdd(timeoutNanoseconds)
        var descriptors: [Int32] = []
        for handle in handles { descriptors.append(try handle.eventFileDescriptor()) }
        let wakeupDescriptor = wakeup.map(\.fileDescriptor) ?? -1
        if wakeupDescriptor >= 0 { descriptors.append(wakeupDescriptor) }

        while true {
            if let wakeup, wakeup.isSignalled {
                wakeup.consume()
                return []
            }
            // A wakeup without an eventfd cannot interrupt poll: look at its flag between short slices.
            let pollsFlagOnly = wakeup != nil && wakeupDescriptor < 0
            let sliceDeadline =
                pollsFlagOnly
                ? min(deadline, MonotonicTime.now().saturatingAdd(GPIOWakeup.fallbackSliceNanoseconds)) : deadline
            let readiness: [DescriptorPoll.Readiness]
            do {
                readiness = try DescriptorPoll.wait(descriptors, deadline: sliceDeadline)
            } catch {
                throw GPIOError(.io, chip: info.name, function: "poll", errno: error.rawValue)
            }
            var events: [EdgeEvent] = []
            for (index, handle) in handles.enumerated() where readiness[index].isSet {
                if readiness[index].isBroken && !readiness[index].isReadable {
                    throw GPIOError(
                        .io, chip: info.name, line: handle.offset, function: "poll",
                        detail:
                            "the line's event descriptor reported an error (revents 0x\(String(readiness[index].revents, radix: 16)))"
                    )
                }
                events.append(contentsOf: try handle.readPendingEvents())
            }
            if !events.isEmpty {
                return events.sorted { $0.timestampNanoseconds < $1.timestampNanoseconds }
            }
            if wakeupDescriptor >= 0, readiness[descriptors.count - 1].isSet {
                wakeup?.consume()
                return []
            }
            if !readiness.contains(where: \.isSet) {
                if pollsFlagOnly && MonotonicTime.now() < deadline { continue }
                return []
            }
        }
    }
}

/// One line request on a `LibgpiodChip`: owns the request (released in `deinit` or by `release()`)
/// and keeps the chip alive (in libgpiod 1.6 the chip owns the `struct gpiod_line`).
public final class LibgpiodLineHandle: LineHandle {
    let chip: LibgpiodChip
    public let offset: LineOffset
    /// The request while held; nil once released. Guarded by the chip lock too: every call goes chip
    /// lock, then this lock.
    private let request: Mutex<Libgpiod.Request?>

    init(chip: LibgpiodChip, offset: LineOffset, request: Libgpiod.Request) {
        self.chip = chip
        self.offset = offset
        self.request = Mutex(request)
    }

    deinit { release() }

    public var requestingChip: any GPIOChip { chip }

    public func release() {
        chip.handle.withLock { _ in
            request.withLock { request in
                if let held = request { Libgpiod.release(held) }
                request = nil
            }
        }
    }

    /// Runs `body` on the held request under the chip lock; throws `.released` once it is given back.
    private func withRequest<Result>(_ body: (Libgpiod.Request) throws(GPIOError) -> Result) throws(GPIOError) -> Result
    {
        let chipName = chip.info.name
        let offset = self.offset
        return try chip.handle.withLock { _ throws(GPIOError) -> Result in
            try request.withLock { request throws(GPIOError) -> Result in
                guard let held = request else { throw GPIOError(.released, chip: chipName, line: offset) }
                return try body(held)
            }
        }
    }

    public func get() throws(GPIOError) -> Bool {
        let chipName = chip.info.name
        return try withRequest { held throws(GPIOError) in try Libgpiod.get(held, chipName: chipName) }
    }

    public func set(_ high: Bool) throws(GPIOError) {
        let chipName = chip.info.name
        try withRequest { held throws(GPIOError) in try Libgpiod.set(held, high: high, chipName: chipName) }
    }

    func eventFileDescriptor() throws(GPIOError) -> Int32 {
        let chipName = chip.info.name
        return try withRequest { held throws(GPIOError) in try Libgpiod.eventFileDescriptor(held, chipName: chipName) }
    }

    /// Reads what the kernel has queued (16 events per line by default) without blocking: the descriptor
    /// is polled with a zero timeout before each batched read.
    public func readPendingEvents() throws(GPIOError) -> [EdgeEvent] {
        let chipName = chip.info.name
        let offset = self.offset
        let raw = try withRequest { held throws(GPIOError) -> [(UInt64, EdgeType)] in
            let descriptor = try Libgpiod.eventFileDescriptor(held, chipName: chipName)
            var raw: [(UInt64, EdgeType)] = []
            while true {
                var probe = pollfd(fd: descriptor, events: Int16(POLLIN | POLLPRI), revents: 0)
                let ready = try GPIOError.lineCall(chip: chipName, line: offset, function: "poll") {
                    poll(&probe, 1, 0)
                }
                if ready == 0 { return raw }
                let batch = try Libgpiod.readEvents(held, chipName: chipName)
                raw += batch.events
                if !batch.mayHaveMore { return raw }
            }
        }
        let stamps = chip.eventClock.monotonic(raw.map(\.0))
        return zip(raw, stamps).map { EdgeEvent(offset: offset, type: $0.0.1, timestampNanoseconds: $0.1) }
    }
}

public typealias LibgpiodOutputLine = LineRequest<LibgpiodLineHandle, LineUse.Output>
public typealias LibgpiodInputLine = LineRequest<LibgpiodLineHandle, LineUse.Input>
public typealias LibgpiodEventLine = LineRequest<LibgpiodLineHandle, LineUse.Events>

/// A libgpiod object pointer kept inside a `Mutex`. libgpiod objects may be used from any thread as
/// long as calls do not overlap; the mutex that holds this value is what guarantees that, which is
/// why the wrapper may cross threads.
struct GPIODPointer: @unchecked Sendable {
    let pointer: OpaquePointer

    init(_ pointer: OpaquePointer) { self.pointer = pointer }
}
