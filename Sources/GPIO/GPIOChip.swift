/// The line-level view of a GPIO chip that everything above this module programs against. The
/// libgpiod backend and the simulated chip both implement it, and nothing above may tell them apart.

/// Index of a line on its chip, as the kernel numbers it.
public typealias LineOffset = UInt32

public enum LineDirection: String, Sendable, Hashable {
    case input, output
}

/// Internal pull resistor to request for an input.
public enum LineBias: String, Sendable, Hashable, CaseIterable, Codable {
    /// Leave whatever the board or a previous user configured.
    case asIs = "as-is"
    case disabled
    case pullUp = "pull-up"
    case pullDown = "pull-down"
}

/// Which transitions of an input to report as events.
public enum EdgeDetection: String, Sendable, Hashable {
    case rising, falling, both
}

public enum EdgeType: String, Sendable, Hashable {
    case rising, falling
}

/// One transition of an input line, stamped by the kernel (or the simulator) when it happened, not
/// when the process got round to reading it.
public struct EdgeEvent: Sendable, Hashable {
    public var offset: LineOffset
    public var type: EdgeType
    /// Nanoseconds on the chip's clock (`ChipClock.nanoseconds()`).
    public var timestampNanoseconds: UInt64

    public init(offset: LineOffset, type: EdgeType, timestampNanoseconds: UInt64) {
        self.offset = offset
        self.type = type
        self.timestampNanoseconds = timestampNanoseconds
    }
}

public struct ChipInfo: Sendable, Hashable {
    /// Kernel name, e.g. `gpiochip0`.
    public var name: String
    /// Driver label, e.g. `pinctrl-bcm2711`; stable across boots, unlike the number in the name.
    public var label: String
    /// Device path, e.g. `/dev/gpiochip0`; the simulator reports a pseudo path.
    public var path: String
    public var lineCount: Int

    public init(name: String, label: String, path: String, lineCount: Int) {
        self.name = name
        self.label = label
        self.path = path
        self.lineCount = lineCount
    }
}

public struct LineInfo: Sendable, Hashable {
    public var offset: LineOffset
    /// Name from the device tree, e.g. `GPIO17`, if any.
    public var name: String?
    /// Who holds the line, if anyone.
    public var consumer: String?
    public var direction: LineDirection
    public var isUsed: Bool
    public var isActiveLow: Bool
    public var bias: LineBias

    public init(
        offset: LineOffset, name: String?, consumer: String?, direction: LineDirection, isUsed: Bool,
        isActiveLow: Bool, bias: LineBias
    ) {
        self.offset = offset
        self.name = name
        self.consumer = consumer
        self.direction = direction
        self.isUsed = isUsed
        self.isActiveLow = isActiveLow
        self.bias = bias
    }
}

/// Time as the chip sees it. Drivers never read the wall clock: on real lines this is
/// `CLOCK_MONOTONIC`, the base of the kernel's edge timestamps; on the simulator it is virtual time,
/// which only moves when a driver spins, sleeps or waits, so a day of sensing runs in seconds.
public protocol ChipClock: AnyObject, Sendable {
    /// Nanoseconds on the same base as `EdgeEvent.timestampNanoseconds`.
    func nanoseconds() -> UInt64
    /// Busy-waits for a short delay (microseconds): bit-banging needs sub-scheduler-tick timing.
    func spin(nanoseconds: UInt64)
    /// Blocks the calling thread for a short pause (up to about a second). Longer or interruptible
    /// waits go through `GPIOChip.waitForEvents(on:timeoutNanoseconds:wakeup:)`.
    func sleep(nanoseconds: UInt64)
}

/// A requested line. Holding the object holds the line; releasing the last reference (or calling
/// `release()`) gives it back to the kernel. A request keeps its chip alive.
public protocol GPIOLineRequest: AnyObject, Sendable {
    var chip: any GPIOChip { get }
    var offset: LineOffset { get }
    /// Gives the line back now; later calls on this request throw `GPIOError.Code.released`.
    func release()
}

public protocol GPIOOutputLine: GPIOLineRequest {
    /// Drives the line: `true` = high (physical level; active-low is not used by this project).
    func set(_ high: Bool) throws(GPIOError)
}

public protocol GPIOInputLine: GPIOLineRequest {
    func get() throws(GPIOError) -> Bool
}

/// An input requested for edge events. Its level can still be read with `get()`.
public protocol GPIOEventLine: GPIOInputLine {
    /// Reads the events already pending without blocking, oldest first.
    func readPendingEvents() throws(GPIOError) -> [EdgeEvent]
}

/// A GPIO chip: lines, their requests, and the chip's time.
public protocol GPIOChip: AnyObject, Sendable {
    var info: ChipInfo { get }
    var clock: any ChipClock { get }

    func lineInfo(_ offset: LineOffset) throws(GPIOError) -> LineInfo

    func requestOutput(_ offset: LineOffset, consumer: String, initialValue: Bool) throws(GPIOError)
        -> any GPIOOutputLine
    func requestInput(_ offset: LineOffset, consumer: String, bias: LineBias) throws(GPIOError) -> any GPIOInputLine
    func requestEvents(_ offset: LineOffset, consumer: String, edges: EdgeDetection, bias: LineBias)
        throws(GPIOError) -> any GPIOEventLine

    /// Blocks the calling thread (never call it from Swift's cooperative pool) until an edge is pending
    /// on any of `lines`, `timeoutNanoseconds` pass on the chip's clock, or `wakeup` is signalled.
    /// Returns the pending events of all `lines` in timestamp order; empty on timeout or wakeup. With no
    /// lines it is an interruptible sleep.
    func waitForEvents(on lines: [any GPIOEventLine], timeoutNanoseconds: UInt64, wakeup: GPIOWakeup?)
        throws(GPIOError) -> [EdgeEvent]
}

extension GPIOChip {
    /// All lines, for `gpioinfo`-style listings.
    public func allLineInfo() throws(GPIOError) -> [LineInfo] {
        var result: [LineInfo] = []
        for offset in 0..<LineOffset(info.lineCount) { result.append(try lineInfo(offset)) }
        return result
    }
}
