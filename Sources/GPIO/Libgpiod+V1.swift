#if !LIBGPIOD_V2
#if canImport(Glibc)
import Glibc
#endif
import SystemCalls
import CBinsGPIOD

/// libgpiod 1.x (Debian 12, Raspberry Pi OS 12), which speaks the kernel's v1 GPIO uAPI: a line is a
/// `struct gpiod_line` owned by its chip and requested in place. The one API `LibgpiodChip` is written
/// against; `Libgpiod+V2.swift` is the same for libgpiod 2.x, and Package.swift builds exactly one of them.
enum Libgpiod {
    static let apiVersion = 1
    static var libraryVersion: String { String(cString: gpiod_version_string()) }

    /// v1 uAPI edge timestamps were `CLOCK_REALTIME` before Linux 5.7 (see `KernelEventClock`).
    static var eventClock: KernelEventClock { KernelEventClock.forRunningKernel() }

    /// A held line: the chip's `struct gpiod_line *`, requested.
    struct Request: @unchecked Sendable {
        let line: OpaquePointer
        let offset: LineOffset
    }

    enum RequestKind {
        case output(initialValue: Bool)
        case input(bias: LineBias)
        case events(edges: EdgeDetection, bias: LineBias)
    }

    static func chipIdentity(_ chip: OpaquePointer) -> (name: String, label: String, lineCount: Int) {
        (
            String(cString: gpiod_chip_name(chip)), String(cString: gpiod_chip_label(chip)),
            Int(gpiod_chip_num_lines(chip))
        )
    }

    /// The line object of `offset`; a missing line names the chip's line count.
    private static func line(
        chip: OpaquePointer, offset: LineOffset, chipName: String, lineCount: Int
    ) throws(GPIOError) -> OpaquePointer {
        do {
            return try systemCall { gpiod_chip_get_line(chip, offset) }
        } catch {
            if error.rawValue == EINVAL {
                throw GPIOError(
                    .noSuchLine, chip: chipName, line: offset, function: "gpiod_chip_get_line", errno: error.rawValue,
                    detail: "the chip has \(lineCount) lines")
            }
            throw GPIOError.lineFailure(
                chip: chipName, line: offset, function: "gpiod_chip_get_line", errno: error.rawValue)
        }
    }

    static func lineInfo(chip: OpaquePointer, offset: LineOffset, chipName: String, lineCount: Int) throws(GPIOError)
        -> LineInfo
    {
        let line = try line(chip: chip, offset: offset, chipName: chipName, lineCount: lineCount)
        let bias: LineBias =
            switch gpiod_line_bias(line) {
            case Int32(GPIOD_LINE_BIAS_DISABLE): .disabled
            case Int32(GPIOD_LINE_BIAS_PULL_UP): .pullUp
            case Int32(GPIOD_LINE_BIAS_PULL_DOWN): .pullDown
            default: .asIs
            }
        return LineInfo(
            offset: offset, name: gpiod_line_name(line).map { String(cString: $0) },
            consumer: gpiod_line_consumer(line).map { String(cString: $0) },
            direction: gpiod_line_direction(line) == Int32(GPIOD_LINE_DIRECTION_OUTPUT) ? .output : .input,
            isUsed: gpiod_line_is_used(line),
            isActiveLow: gpiod_line_active_state(line) == Int32(GPIOD_LINE_ACTIVE_STATE_LOW), bias: bias)
    }

    static func request(
        chip: OpaquePointer, offset: LineOffset, consumer: String, kind: RequestKind, chipName: String, lineCount: Int
    ) throws(GPIOError) -> Request {
        let line = try line(chip: chip, offset: offset, chipName: chipName, lineCount: lineCount)
        let function: String
        let call: () -> Int32
        switch kind {
        case .output(let initialValue):
            function = "gpiod_line_request_output"
            call = { gpiod_line_request_output(line, consumer, initialValue ? 1 : 0) }
        case .input(let bias):
            function = "gpiod_line_request_input_flags"
            call = { gpiod_line_request_input_flags(line, consumer, flags(for: bias)) }
        case .events(.rising, let bias):
            function = "gpiod_line_request_rising_edge_events_flags"
            call = { gpiod_line_request_rising_edge_events_flags(line, consumer, flags(for: bias)) }
        case .events(.falling, let bias):
            function = "gpiod_line_request_falling_edge_events_flags"
            call = { gpiod_line_request_falling_edge_events_flags(line, consumer, flags(for: bias)) }
        case .events(.both, let bias):
            function = "gpiod_line_request_both_edges_events_flags"
            call = { gpiod_line_request_both_edges_events_flags(line, consumer, flags(for: bias)) }
        }
        _ = try GPIOError.lineCall(chip: chipName, line: offset, function: function, call)
        return Request(line: line, offset: offset)
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

    static func release(_ request: Request) {
        gpiod_line_release(request.line)
    }

    static func get(_ request: Request, chipName: String) throws(GPIOError) -> Bool {
        let value = try GPIOError.lineCall(chip: chipName, line: request.offset, function: "gpiod_line_get_value") {
            gpiod_line_get_value(request.line)
        }
        return value != 0
    }

    static func set(_ request: Request, high: Bool, chipName: String) throws(GPIOError) {
        _ = try GPIOError.lineCall(chip: chipName, line: request.offset, function: "gpiod_line_set_value") {
            gpiod_line_set_value(request.line, high ? 1 : 0)
        }
    }

    static func eventFileDescriptor(_ request: Request, chipName: String) throws(GPIOError) -> Int32 {
        let descriptor = try GPIOError.lineCall(
            chip: chipName, line: request.offset, function: "gpiod_line_event_get_fd"
        ) {
            gpiod_line_event_get_fd(request.line)
        }
        return descriptor
    }

    /// One batched read (`gpiod_line_event_read_multiple`, up to 16 events, the v1 uAPI's queue per
    /// line) of a descriptor that poll said is readable: kernel timestamps and edge types.
    static func readEvents(_ request: Request, chipName: String) throws(GPIOError)
        -> (events: [(UInt64, EdgeType)], mayHaveMore: Bool)
    {
        var buffer = [gpiod_line_event](repeating: gpiod_line_event(), count: 16)
        let count = buffer.withUnsafeMutableBufferPointer {
            gpiod_line_event_read_multiple(request.line, $0.baseAddress, UInt32($0.count))
        }
        _ = try GPIOError.lineCall(chip: chipName, line: request.offset, function: "gpiod_line_event_read_multiple") {
            count
        }
        let events = buffer.prefix(Int(count)).map { event -> (UInt64, EdgeType) in
            let stamp = UInt64(event.ts.tv_sec) &* 1_000_000_000 &+ UInt64(event.ts.tv_nsec)
            return (stamp, event.event_type == Int32(GPIOD_LINE_EVENT_RISING_EDGE) ? .rising : .falling)
        }
        return (events, Int(count) == buffer.count)
    }
}
#endif
