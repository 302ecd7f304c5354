/// What a chip keeps for one requested line: the request itself, released once, and the chip kept alive.
/// Chips hand it out wrapped in a `LineRequest`, which offers only what the line was requested for.
public protocol LineHandle: AnyObject, Sendable {
    /// The chip the line was requested from, as the request types show it.
    var requestingChip: any GPIOChip { get }
    var offset: LineOffset { get }
    func release()
    func set(_ high: Bool) throws(GPIOError)
    func get() throws(GPIOError) -> Bool
    func readPendingEvents() throws(GPIOError) -> [EdgeEvent]
}

/// What a line was requested for; a `LineRequest`'s second parameter, which decides the protocols it
/// conforms to (an output cannot be read through it, an input cannot be driven).
public enum LineUse {
    public enum Output {}
    public enum Input: ReadableLineUse {}
    public enum Events: ReadableLineUse {}
}

/// The uses whose level can be read.
public protocol ReadableLineUse {}

/// A requested line of any chip, seen as what it was requested for: the one request type libgpiod's chip
/// and the simulated chip share.
public final class LineRequest<Handle: LineHandle, Use>: GPIOLineRequest {
    public let handle: Handle

    public init(handle: Handle) { self.handle = handle }

    public var chip: any GPIOChip { handle.requestingChip }
    public var offset: LineOffset { handle.offset }
    public func release() { handle.release() }
}

extension LineRequest: GPIOOutputLine where Use == LineUse.Output {
    public func set(_ high: Bool) throws(GPIOError) { try handle.set(high) }
}

extension LineRequest: GPIOInputLine where Use: ReadableLineUse {
    public func get() throws(GPIOError) -> Bool { try handle.get() }
}

extension LineRequest: GPIOEventLine where Use == LineUse.Events {
    public func readPendingEvents() throws(GPIOError) -> [EdgeEvent] { try handle.readPendingEvents() }
}
