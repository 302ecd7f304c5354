#if LIBGPIOD_V2
#if canImport(Glibc)
import Glibc
#endif
import SystemCalls
import CBinsGPIOD

/// libgpiod 2.x (Debian 13, Raspberry Pi OS 13), which speaks the kernel's v2 GPIO uAPI: a request is its
/// own object (`struct gpiod_line_request`) built from line settings, a line config and a request config,
/// and edge events come through an event buffer with their kernel timestamps. The same functions as
/// `Libgpiod+V1.swift`, so `LibgpiodChip` does not know which one it was built with.
enum Libgpiod {
    static let apiVersion = 2
    static var libraryVersion: String { String(cString: gpiod_api_version()) }

    /// The v2 uAPI stamps with `CLOCK_MONOTONIC` unless asked otherwise, and requests ask for it explicitly.
    static var eventClock: KernelEventClock { .monotonic }

    /// A held line: its `struct gpiod_line_request *` and, for edge events, the buffer they are read into.
    struct Request: @unchecked Sendable {
        let request: OpaquePointer
        let events: OpaquePointer?
        let offset: LineOffset
    }

    enum RequestKind {
        case output(initialValue: Bool)
        case input(bias: LineBias)
        case events(edges: EdgeDetection, bias: LineBias)
    }

    /// Events read per `gpiod_line_request_read_edge_events` call: the kernel's default queue per line.
    static let eventBatch = 16

    static func chipIdentity(_ chip: OpaquePointer) -> (name: String, label: String, lineCount: Int) {
        guard let info = gpiod_chip_get_info(chip) else {
            // Only an allocation failure or a vanished device; the path still names the chip.
            let path = gpiod_chip_get_path(chip).map { String(cString: $0) } ?? "gpiochip?"
            return (String(path.split(separator: "/").last ?? Substring(path)), "", 0)
        }
        defer { gpiod_chip_info_free(info) }
        return (
            String(cString: gpiod_chip_info_get_name(info)), String(cString: gpiod_chip_info_get_label(info)),
            Int(gpiod_chip_info_get_num_lines(info))
        )
    }

    private static func checkOffset(_ offset: LineOffset, chipName: String, lineCount: Int, function: String)
        throws(GPIOError)
    {
        guard Int(offset) < lineCount else {
            throw GPIOError(
                .noSuchLine, chip: chipName, line: offset, function: function, errno: EINVAL,
                detail: "the chip has \(lineCount) lines")
        }
    }

    static func lineInfo(chip: OpaquePointer, offset: LineOffset, chipName: String, lineCount: Int) throws(GPIOError)
        -> LineInfo
    {
        try checkOffset(offset, chipName: chipName, lineCount: lineCount, function: "gpiod_chip_get_line_info")
        guard let info = gpiod_chip_get_line_info(chip, offset) else {
            let error = Errno.current.rawValue
            throw GPIOError.lineFailure(
                chip: chipName, line: offset, function: "gpiod_chip_get_line_info", errno: error)
        }
        defer { gpiod_line_info_free(info) }
        let bias: LineBias =
            switch gpiod_line_info_get_bias(info) {
            case GPIOD_LINE_BIAS_DISABLED: .disabled
            case GPIOD_LINE_BIAS_PULL_UP: .pullUp
            case GPIOD_LINE_BIAS_PULL_DOWN: .pullDown
            default: .asIs
            }
        return LineInfo(
            offset: offset, name: gpiod_line_info_get_name(info).map { String(cString: $0) },
            consumer: gpiod_line_info_get_consumer(info).map { String(cString: $0) },
            direction: gpiod_line_info_get_direction(info) == GPIOD_LINE_DIRECTION_OUTPUT ? .output : .input,
            isUsed: gpiod_line_info_is_used(info), isActiveLow: gpiod_line_info_is_active_low(info), bias: bias)
    }

    /// `gpiod_chip_request_lines` for one line: its settings (direction, output value, bias, edges, the
    /// monotonic event clock) in a line config, the consumer in a request config.
    static func request(
        chip: OpaquePointer, offset: LineOffset, consumer: String, kind: RequestKind, chipName: String, lineCount: Int
    ) throws(GPIOError) -> Request {
        try checkOffset(offset, chipName: chipName, lineCount: lineCount, function: "gpiod_chip_request_lines")
        func failure(_ function: String) -> GPIOError {
            let error = Errno.current.rawValue
            return GPIOError.lineFailure(chip: chipName, line: offset, function: function, errno: error)
        }
        guard let settings = gpiod_line_settings_new() else { throw failure("gpiod_line_settings_new") }
        defer { gpiod_line_settings_free(settings) }
        var edges: EdgeDetection?
        switch kind {
        case .output(let initialValue):
            guard gpiod_line_settings_set_direction(settings, GPIOD_LINE_DIRECTION_OUTPUT) == 0 else {
                throw failure("gpiod_line_settings_set_direction")
            }
            let value = initialValue ? GPIOD_LINE_VALUE_ACTIVE : GPIOD_LINE_VALUE_INACTIVE
            guard gpiod_line_settings_set_output_value(settings, value) == 0 else {
                throw failure("gpiod_line_settings_set_output_value")
            }
        case .input(let bias):
            guard gpiod_line_settings_set_direction(settings, GPIOD_LINE_DIRECTION_INPUT) == 0 else {
                throw failure("gpiod_line_settings_set_direction")
            }
            guard gpiod_line_settings_set_bias(settings, libgpiodBias(bias)) == 0 else {
                throw failure("gpiod_line_settings_set_bias")
            }
        case .events(let detection, let bias):
            edges = detection
            guard gpiod_line_settings_set_direction(settings, GPIOD_LINE_DIRECTION_INPUT) == 0 else {
                throw failure("gpiod_line_settings_set_direction")
            }
            guard gpiod_line_settings_set_bias(settings, libgpiodBias(bias)) == 0 else {
                throw failure("gpiod_line_settings_set_bias")
            }
            let edge: gpiod_line_edge =
                switch detection {
                case .rising: GPIOD_LINE_EDGE_RISING
                case .falling: GPIOD_LINE_EDGE_FALLING
                case .both: GPIOD_LINE_EDGE_BOTH
                }
            guard gpiod_line_settings_set_edge_detection(settings, edge) == 0 else {
                throw failure("gpiod_line_settings_set_edge_detection")
            }
            guard gpiod_line_settings_set_event_clock(settings, GPIOD_LINE_CLOCK_MONOTONIC) == 0 else {
                throw failure("gpiod_line_settings_set_event_clock")
            }
        }
        guard let lineConfig = gpiod_line_config_new() else { throw failure("gpiod_line_config_new") }
        defer { gpiod_line_config_free(lineConfig) }
        var offsets = [UInt32(offset)]
        guard gpiod_line_config_add_line_settings(lineConfig, &offsets, 1, settings) == 0 else {
            throw failure("gpiod_line_config_add_line_settings")
        }
        guard let requestConfig = gpiod_request_config_new() else { throw failure("gpiod_request_config_new") }
        defer { gpiod_request_config_free(requestConfig) }
        gpiod_request_config_set_consumer(requestConfig, consumer)
        var buffer: OpaquePointer?
        if edges != nil {
            guard let events = gpiod_edge_event_buffer_new(eventBatch) else {
                throw failure("gpiod_edge_event_buffer_new")
            }
            buffer = events
        }
        guard let request = gpiod_chip_request_lines(chip, requestConfig, lineConfig) else {
            let error = failure("gpiod_chip_request_lines")
            if let buffer { gpiod_edge_event_buffer_free(buffer) }
            throw error
        }
        return Request(request: request, events: buffer, offset: offset)
    }

    static func libgpiodBias(_ bias: LineBias) -> gpiod_line_bias {
        switch bias {
        case .asIs: GPIOD_LINE_BIAS_AS_IS
        case .disabled: GPIOD_LINE_BIAS_DISABLED
        case .pullUp: GPIOD_LINE_BIAS_PULL_UP
        case .pullDown: GPIOD_LINE_BIAS_PULL_DOWN
        }
    }

    static func release(_ request: Request) {
        gpiod_line_request_release(request.request)
        if let events = request.events { gpiod_edge_event_buffer_free(events) }
    }

    static func get(_ request: Request, chipName: String) throws(GPIOError) -> Bool {
        let value = gpiod_line_request_get_value(request.request, request.offset)
        if value == GPIOD_LINE_VALUE_ERROR {
            let error = Errno.current.rawValue
            throw GPIOError.lineFailure(
                chip: chipName, line: request.offset, function: "gpiod_line_request_get_value", errno: error)
        }
        return value == GPIOD_LINE_VALUE_ACTIVE
    }

    static func set(_ request: Request, high: Bool, chipName: String) throws(GPIOError) {
        let value = high ? GPIOD_LINE_VALUE_ACTIVE : GPIOD_LINE_VALUE_INACTIVE
        _ = try GPIOError.lineCall(chip: chipName, line: request.offset, function: "gpiod_line_request_set_value") {
            gpiod_line_request_set_value(request.request, request.offset, value)
        }
    }

    static func eventFileDescriptor(_ request: Request, chipName: String) throws(GPIOError) -> Int32 {
        let descriptor = try GPIOError.lineCall(
            chip: chipName, line: request.offset, function: "gpiod_line_request_get_fd"
        ) {
            gpiod_line_request_get_fd(request.request)
        }
        return descriptor
    }

    /// One `gpiod_line_request_read_edge_events` into the request's buffer (up to `eventBatch` events) of a
    /// descriptor that poll said is readable: kernel timestamps and edge types.
    static func readEvents(_ request: Request, chipName: String) throws(GPIOError)
        -> (events: [(UInt64, EdgeType)], mayHaveMore: Bool)
    {
        guard let buffer = request.events else {
            throw GPIOError(
                .invalidArgument, chip: chipName, line: request.offset,
                detail: "the line was not requested for edge events")
        }
        let count = try GPIOError.lineCall(
            chip: chipName, line: request.offset, function: "gpiod_line_request_read_edge_events"
        ) {
            gpiod_line_request_read_edge_events(request.request, buffer, eventBatch)
        }
        var events: [(UInt64, EdgeType)] = []
        for index in 0..<Int(count) {
            guard let event = gpiod_edge_event_buffer_get_event(buffer, UInt(index)) else { continue }
            let type: EdgeType =
                gpiod_edge_event_get_event_type(event) == GPIOD_EDGE_EVENT_RISING_EDGE ? .rising : .falling
            events.append((gpiod_edge_event_get_timestamp_ns(event), type))
        }
        return (events, Int(count) == eventBatch)
    }
}
#endif
