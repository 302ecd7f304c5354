#if canImport(Glibc)
import Glibc
#endif
import CBinsGPIOD
import Synchronization

/// A GPIO chip opened through libgpiod 1.6 (`/dev/gpiochipN`, the kernel's GPIO character device).
///
/// The object owns the `struct gpiod_chip *` and closes it in `deinit`; every line request keeps its
/// chip alive. libgpiod objects are not thread-safe and line handles live inside the chip object, so
/// every libgpiod call on this chip is made under one lock; only the blocking `poll()` of
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

    /// Opens a chip by its kernel name, e.g. `gpiochip0`.
    public convenience init(name: String) throws(GPIOError) {
        let pointer = try Self.open(displayName: name, function: "gpiod_chip_open_by_name") {
            gpiod_chip_open_by_name(name)
        }
        self.init(adopting: pointer)
    }

    /// Opens `gpiochipN` by its number.
    public convenience init(number: UInt32) throws(GPIOError) {
        let pointer = try Self.open(displayName: "gpiochip\(number)", function: "gpiod_chip_open_by_number") {
            gpiod_chip_open_by_number(number)
        }
        self.init(adopting: pointer)
    }

    /// Opens the chip whose driver label matches, e.g. `pinctrl-bcm2711`: labels are stable across
    /// boots and kernels, chip numbers are not. The chips are scanned here rather than with
    /// `gpiod_chip_open_by_label`, which gives up on the first chip it cannot open; a chip this
    /// process may not open is skipped and named in the error if no other chip matches.
    public convenience init(label: String, devicesDirectory: String = "/dev") throws(GPIOError) {
        var firstRefusal: GPIOError?
        for path in try Self.chipDevicePaths(in: devicesDirectory) {
            guard let pointer = gpiod_chip_open(path) else {
                let error = errno
                if firstRefusal == nil, error == EACCES || error == EPERM {
                    firstRefusal = Self.openError(displayName: path, function: "gpiod_chip_open", errno: error)
                }
                continue
            }
            if String(cString: gpiod_chip_label(pointer)) == label {
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
        let name = String(cString: gpiod_chip_name(pointer))
        info = ChipInfo(
            name: name, label: String(cString: gpiod_chip_label(pointer)), path: "/dev/\(name)",
            lineCount: Int(gpiod_chip_num_lines(pointer)))
        handle = Mutex(GPIODPointer(pointer))
        clock = MonotonicClock()
        eventClock = KernelEventClock.forRunningKernel()
    }

    deinit {
        handle.withLock { gpiod_chip_close($0.pointer) }
    }

    /// libgpiod's version string, e.g. `1.6.3`.
    public static var libraryVersion: String { String(cString: gpiod_version_string()) }

    // MARK: Listing

    /// The GPIO chips of this machine, in number order, like `gpiodetect`: every `gpiochip*` entry of
    /// `/dev` that is a GPIO character device. Entries that are not (ENOTTY/ENODEV) or vanished
    /// (ENOENT) are skipped; a chip that cannot be opened otherwise (EACCES) throws, naming it.
    public static func listChips(devicesDirectory: String = "/dev") throws(GPIOError) -> [ChipInfo] {
        var chips: [ChipInfo] = []
        for path in try chipDevicePaths(in: devicesDirectory) {
            guard let pointer = gpiod_chip_open(path) else {
                let error = errno
                if error == ENOENT || error == ENOTTY || error == ENODEV { continue }
                throw openError(displayName: path, function: "gpiod_chip_open", errno: error)
            }
            let name = String(cString: gpiod_chip_name(pointer))
            chips.append(
                ChipInfo(
                    name: name, label: String(cString: gpiod_chip_label(pointer)), path: path,
                    lineCount: Int(gpiod_chip_num_lines(pointer))))
            gpiod_chip_close(pointer)
        }
        return chips
    }

    /// `gpiochip*` entries of a directory, sorted by chip number (gpiochip10 after gpiochip9).
    static func chipDevicePaths(in directory: String) throws(GPIOError) -> [String] {
        guard let stream = opendir(directory) else {
            let error = errno
            throw GPIOError(
                lineCode(forOpenErrno: error), chip: directory, function: "opendir", errno: error)
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
        guard let pointer = call() else {
            let error = errno
            throw openError(displayName: displayName, function: function, errno: error)
        }
        return pointer
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
        try withLine(offset) { line throws(GPIOError) in
            let name = gpiod_line_name(line).map { String(cString: $0) }
            let consumer = gpiod_line_consumer(line).map { String(cString: $0) }
            let direction: LineDirection =
                gpiod_line_direction(line) == Int32(GPIOD_LINE_DIRECTION_OUTPUT) ? .output : .input
            let bias: LineBias =
                switch gpiod_line_bias(line) {
                case Int32(GPIOD_LINE_BIAS_DISABLE): .disabled
                case Int32(GPIOD_LINE_BIAS_PULL_UP): .pullUp
                case Int32(GPIOD_LINE_BIAS_PULL_DOWN): .pullDown
                default: .asIs
                }
            return LineInfo(
                offset: offset, name: name, consumer: consumer, direction: direction,
                isUsed: gpiod_line_is_used(line),
                isActiveLow: gpiod_line_active_state(line) == Int32(GPIOD_LINE_ACTIVE_STATE_LOW), bias: bias)
        }
    }

    public func requestOutput(_ offset: LineOffset, consumer: String, initialValue: Bool) throws(GPIOError)
        -> any GPIOOutputLine
    {
        let line = try request(offset, function: "gpiod_line_request_output") { line in
            gpiod_line_request_output(line, consumer, initialValue ? 1 : 0)
        }
        return LibgpiodOutputLine(handle: LibgpiodLineHandle(chip: self, offset: offset, line: line))
    }

    public func requestInput(_ offset: LineOffset, consumer: String, bias: LineBias) throws(GPIOError)
        -> any GPIOInputLine
    {
        let line = try request(offset, function: "gpiod_line_request_input_flags") { line in
            gpiod_line_request_input_flags(line, consumer, Self.flags(for: bias))
        }
        return LibgpiodInputLine(handle: LibgpiodLineHandle(chip: self, offset: offset, line: line))
    }

    public func requestEvents(_ offset: LineOffset, consumer: String, edges: EdgeDetection, bias: LineBias)
        throws(GPIOError) -> any GPIOEventLine
    {
        let flags = Self.flags(for: bias)
        let line: OpaquePointer
        switch edges {
        case .rising:
            line = try request(offset, function: "gpiod_line_request_rising_edge_events_flags") { line in
                gpiod_line_request_rising_edge_events_flags(line, consumer, flags)
            }
        case .falling:
            line = try request(offset, function: "gpiod_line_request_falling_edge_events_flags") { line in
                gpiod_line_request_falling_edge_events_flags(line, consumer, flags)
            }
        case .both:
            line = try request(offset, function: "gpiod_line_request_both_edges_events_flags") { line in
                gpiod_line_request_both_edges_events_flags(line, consumer, flags)
            }
        }
        return LibgpiodEventLine(handle: LibgpiodLineHandle(chip: self, offset: offset, line: line))
    }

    /// Request flags for a bias, from the libgpiod header.
    static func flags(for bias: LineBias) -> Int32 {
        switch bias {
        case .asIs: 0
        case .disabled: Int32(GPIOD_LINE_REQUEST_FLAG_BIAS_DISABLE)
        case .pullUp: Int32(GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP)
        case .pullDown: Int32(GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN)
        }
    }

    /// Looks a line up and runs `body` on it under the chip lock.
    private func withLine<Result>(
        _ offset: LineOffset, _ body: (OpaquePointer) throws(GPIOError) -> Result
    ) throws(GPIOError) -> Result {
        let chipName = info.name
        return try handle.withLock { chip throws(GPIOError) -> Result in
            guard let line = gpiod_chip_get_line(chip.pointer, offset) else {
                let error = errno
                if error == EINVAL {
                    throw GPIOError(
                        .noSuchLine, chip: chipName, line: offset, function: "gpiod_chip_get_line", errno: error,
                        detail: "the chip has \(gpiod_chip_num_lines(chip.pointer)) lines")
                }
                throw GPIOError.lineFailure(
                    chip: chipName, line: offset, function: "gpiod_chip_get_line", errno: error)
            }
            return try body(line)
        }
    }

    private func request(
        _ offset: LineOffset, function: String, _ call: (OpaquePointer) -> Int32
    ) throws(GPIOError) -> OpaquePointer {
        let chipName = info.name
        return try withLine(offset) { line throws(GPIOError) -> OpaquePointer in
            if call(line) < 0 {
                let error = errno
                throw GPIOError.lineFailure(chip: chipName, line: offset, function: function, errno: error)
            }
            return line
        }
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
        let deadline = MonotonicClock.now(CLOCK_MONOTONIC).saturatingAdd(timeoutNanoseconds)
        var descriptors: [Int32] = []
        for handle in handles { descriptors.append(try handle.eventFileDescriptor()) }
        let wakeupDescriptor = wakeup.map(\.fileDescriptor) ?? -1
        if wakeupDescriptor >= 0 { descriptors.append(wakeupDescriptor) }

        while true {
            if let wakeup, wakeup.isSignalled {
                wakeup.consume()
                return []
            }
            let readiness: [DescriptorPoll.Readiness]
            do {
                readiness = try DescriptorPoll.wait(descriptors, deadline: deadline)
            } catch {
                throw GPIOError(.io, chip: info.name, function: "poll", errno: error.errno)
            }
            var events: [EdgeEvent] = []
            for (index, handle) in handles.enumerated() where readiness[index].isSet {
                if readiness[index].isBroken && !readiness[index].isReadable {
                    throw GPIOError(
                        .io, chip: info.name, line: handle.offset, function: "poll",
                        detail: "the line's event descriptor reported an error (revents 0x\(String(readiness[index].revents, radix: 16)))")
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
            if !readiness.contains(where: \.isSet) { return [] }
        }
    }
}

/// One line request on a `LibgpiodChip`: owns the request (released in `deinit` or by `release()`)
/// and keeps the chip, which owns the `struct gpiod_line`, alive.
final class LibgpiodLineHandle: Sendable {
    let chip: LibgpiodChip
    let offset: LineOffset
    /// The `struct gpiod_line *` while requested; nil once released. Guarded by the chip lock too:
    /// every call goes chip lock, then this lock.
    private let line: Mutex<GPIODPointer?>

    init(chip: LibgpiodChip, offset: LineOffset, line: OpaquePointer) {
        self.chip = chip
        self.offset = offset
        self.line = Mutex(GPIODPointer(line))
    }

    deinit { release() }

    func release() {
        chip.handle.withLock { _ in
            line.withLock { line in
                if let requested = line { gpiod_line_release(requested.pointer) }
                line = nil
            }
        }
    }

    /// Runs a libgpiod call on the requested line under the chip lock; a negative result throws with
    /// errno captured right after the call.
    func call(_ function: String, _ body: (OpaquePointer) -> Int32) throws(GPIOError) -> Int32 {
        let chipName = chip.info.name
        let offset = self.offset
        return try chip.handle.withLock { _ throws(GPIOError) -> Int32 in
            try line.withLock { line throws(GPIOError) -> Int32 in
                guard let requested = line else { throw GPIOError(.released, chip: chipName, line: offset) }
                let result = body(requested.pointer)
                if result < 0 {
                    let error = errno
                    throw GPIOError.lineFailure(chip: chipName, line: offset, function: function, errno: error)
                }
                return result
            }
        }
    }

    func eventFileDescriptor() throws(GPIOError) -> Int32 {
        try call("gpiod_line_event_get_fd") { gpiod_line_event_get_fd($0) }
    }

    /// Reads what the kernel has queued (at most 16 events per line in the v1 uAPI) without
    /// blocking: the descriptor is polled with a zero timeout before each read, and
    /// `gpiod_line_event_read_multiple` (the batched `gpiod_line_event_read`) takes up to 16 at once.
    func readPendingEvents() throws(GPIOError) -> [EdgeEvent] {
        let chipName = chip.info.name
        let offset = self.offset
        var raw: [(UInt64, EdgeType)] = []
        try chip.handle.withLock { _ throws(GPIOError) in
            try line.withLock { line throws(GPIOError) in
                guard let requested = line else { throw GPIOError(.released, chip: chipName, line: offset) }
                let descriptor = gpiod_line_event_get_fd(requested.pointer)
                if descriptor < 0 {
                    let error = errno
                    throw GPIOError.lineFailure(
                        chip: chipName, line: offset, function: "gpiod_line_event_get_fd", errno: error)
                }
                var buffer = [gpiod_line_event](repeating: gpiod_line_event(), count: 16)
                while true {
                    var probe = pollfd(fd: descriptor, events: Int16(POLLIN | POLLPRI), revents: 0)
                    let ready = poll(&probe, 1, 0)
                    if ready < 0 {
                        let error = errno
                        if error == EINTR { continue }
                        throw GPIOError.lineFailure(chip: chipName, line: offset, function: "poll", errno: error)
                    }
                    if ready == 0 { return }
                    let count = buffer.withUnsafeMutableBufferPointer {
                        gpiod_line_event_read_multiple(requested.pointer, $0.baseAddress, UInt32($0.count))
                    }
                    if count < 0 {
                        let error = errno
                        throw GPIOError.lineFailure(
                            chip: chipName, line: offset, function: "gpiod_line_event_read_multiple", errno: error)
                    }
                    for event in buffer.prefix(Int(count)) {
                        let stamp = UInt64(event.ts.tv_sec) &* 1_000_000_000 &+ UInt64(event.ts.tv_nsec)
                        let type: EdgeType =
                            event.event_type == Int32(GPIOD_LINE_EVENT_RISING_EDGE) ? .rising : .falling
                        raw.append((stamp, type))
                    }
                    if count < buffer.count { return }
                }
            }
        }
        let stamps = chip.eventClock.monotonic(raw.map(\.0))
        return zip(raw, stamps).map { EdgeEvent(offset: offset, type: $0.0.1, timestampNanoseconds: $0.1) }
    }
}

/// An output line requested from a `LibgpiodChip`.
public final class LibgpiodOutputLine: GPIOOutputLine {
    let handle: LibgpiodLineHandle

    init(handle: LibgpiodLineHandle) { self.handle = handle }

    public var chip: any GPIOChip { handle.chip }
    public var offset: LineOffset { handle.offset }
    public func release() { handle.release() }

    public func set(_ high: Bool) throws(GPIOError) {
        _ = try handle.call("gpiod_line_set_value") { gpiod_line_set_value($0, high ? 1 : 0) }
    }
}

/// An input line requested from a `LibgpiodChip`.
public final class LibgpiodInputLine: GPIOInputLine {
    let handle: LibgpiodLineHandle

    init(handle: LibgpiodLineHandle) { self.handle = handle }

    public var chip: any GPIOChip { handle.chip }
    public var offset: LineOffset { handle.offset }
    public func release() { handle.release() }

    public func get() throws(GPIOError) -> Bool {
        try handle.call("gpiod_line_get_value") { gpiod_line_get_value($0) } != 0
    }
}

/// An input requested for edge events from a `LibgpiodChip`.
public final class LibgpiodEventLine: GPIOEventLine {
    let handle: LibgpiodLineHandle

    init(handle: LibgpiodLineHandle) { self.handle = handle }

    public var chip: any GPIOChip { handle.chip }
    public var offset: LineOffset { handle.offset }
    public func release() { handle.release() }

    public func get() throws(GPIOError) -> Bool {
        try handle.call("gpiod_line_get_value") { gpiod_line_get_value($0) } != 0
    }

    public func readPendingEvents() throws(GPIOError) -> [EdgeEvent] {
        try handle.readPendingEvents()
    }
}

/// A libgpiod object pointer kept inside a `Mutex`. libgpiod objects may be used from any thread as
/// long as calls do not overlap; the mutex that holds this value is what guarantees that, which is
/// why the wrapper may cross threads.
struct GPIODPointer: @unchecked Sendable {
    let pointer: OpaquePointer

    init(_ pointer: OpaquePointer) { self.pointer = pointer }
}
