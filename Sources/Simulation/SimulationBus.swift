import GPIO
import SystemCalls

#if canImport(Glibc)
import Glibc
#endif

/// A device model wired to lines of a `SimulatedChip`: the other end of the wires.
///
/// The chip calls `hostDidDrive` when the host (a driver, through an output request) changes the
/// level of a line the device listens to. The call runs under the chip's lock at the chip's current
/// virtual time: use `bus` to read levels, drive the device's own output lines and schedule future
/// edges, and never call the `SimulatedChip` itself from here (its lock is not re-entrant). Levels a
/// device drives with `bus.drive` do not call devices back.
public protocol SimulatedLineDevice: AnyObject, Sendable {
    func hostDidDrive(_ offset: LineOffset, high: Bool, bus: inout SimulationBus)
}

/// The wires and the time of a `SimulatedChip`, as device models and scheduled actions see them.
///
/// It is only ever handed out `inout` while the chip's lock is held (to `SimulatedLineDevice`
/// callbacks, scheduled `SimulationAction`s and `SimulatedChip.perform`), so everything done through
/// it happens at one instant of virtual time, atomically with respect to the host's line operations.
public struct SimulationBus: ~Copyable, Sendable {
    /// The kernel's v1 uAPI keeps at most 16 events per requested line (a kfifo) and drops newer
    /// ones while it is full; the simulator queues the same way.
    public static let eventQueueCapacity = 16

    /// Virtual time, in nanoseconds on the chip's clock.
    public internal(set) var nowNanoseconds: UInt64
    /// The chip's name, for messages.
    public let chipName: String

    var lines: [SimulatedLineState]
    var queue = ScheduledActionQueue()
    var pendingOutputStretch: UInt64 = 0
    var nextRequestToken: UInt64 = 1
    let pacing: SimulatedChip.Pacing
    /// `CLOCK_MONOTONIC` and virtual time when the chip was made: in real-time pacing virtual time is
    /// `virtualOrigin + (monotonic now - wallOrigin)`.
    let wallOrigin: UInt64
    let virtualOrigin: UInt64

    init(chipName: String, lineNames: [String], pacing: SimulatedChip.Pacing, startNanoseconds: UInt64) {
        self.chipName = chipName
        lines = lineNames.map { SimulatedLineState(name: $0.isEmpty ? nil : $0) }
        self.pacing = pacing
        nowNanoseconds = startNanoseconds
        virtualOrigin = startNanoseconds
        wallOrigin = MonotonicTime.now()
    }

    public var lineCount: Int { lines.count }

    /// The level on the wire: what the host drives on an output, otherwise what a device drives, and
    /// with nothing driving it the requested pull (pull-up reads high, anything else low).
    public func level(of offset: LineOffset) -> Bool {
        guard Int(offset) < lines.count else { return false }
        return lines[Int(offset)].level
    }

    /// A device drives the line. If the host requested it for edge events, the change is queued as
    /// an event stamped with the current virtual time. If the host drives it as an output, the
    /// host wins and the device's level shows again once the host stops driving it.
    public mutating func drive(_ offset: LineOffset, high: Bool) {
        guard Int(offset) < lines.count else { return }
        updateLine(Int(offset)) { $0.modelLevel = high }
    }

    /// The device lets go of the line (a disconnected part): it floats to its pull.
    public mutating func stopDriving(_ offset: LineOffset) {
        guard Int(offset) < lines.count else { return }
        updateLine(Int(offset)) { $0.modelLevel = nil }
    }

    /// Runs `action` when virtual time reaches `due` (at once, at the next opportunity, if `due` has
    /// passed). Actions due at the same nanosecond run in the order they were scheduled.
    @discardableResult
    public mutating func schedule(atNanoseconds due: UInt64, _ action: @escaping SimulationAction)
        -> ScheduledActionID
    {
        queue.push(due: due, action)
    }

    @discardableResult
    public mutating func schedule(afterNanoseconds delay: UInt64, _ action: @escaping SimulationAction)
        -> ScheduledActionID
    {
        queue.push(due: nowNanoseconds.saturatingAdd(delay), action)
    }

    public mutating func cancel(_ id: ScheduledActionID) {
        queue.cancel(id)
    }

    /// Fault injection from inside the simulation: the host's output operation in progress (when
    /// called from `hostDidDrive`) or its next one takes `nanoseconds` longer after the level
    /// changed, as if the process were preempted right after the edge.
    public mutating func injectOutputStretch(nanoseconds: UInt64) {
        pendingOutputStretch = pendingOutputStretch.saturatingAdd(nanoseconds)
    }

    // MARK: Time

    /// Moves virtual time forward to `target`, running every action due on the way at its own due
    /// time (so the events they cause carry the right timestamps).
    mutating func advance(to target: UInt64) {
        while let entry = queue.popDue(notAfter: target) {
            if entry.due > nowNanoseconds { nowNanoseconds = entry.due }
            entry.action(&self)
        }
        if target > nowNanoseconds { nowNanoseconds = target }
    }

    /// In real-time pacing, brings virtual time up to the wall clock (running what fell due).
    mutating func catchUp() {
        guard pacing == .realTime else { return }
        advance(to: wallNanoseconds())
    }

    func wallNanoseconds() -> UInt64 {
        let elapsed = MonotonicTime.now() &- wallOrigin
        return virtualOrigin.saturatingAdd(elapsed)
    }

    // MARK: Host side (line requests)

    mutating func claim(
        _ offset: LineOffset, consumer: String, mode: SimulatedLineState.Mode, bias: LineBias,
        initialValue: Bool, function: String
    ) throws(GPIOError) -> UInt64 {
        guard Int(offset) < lines.count else {
            throw GPIOError(
                .noSuchLine, chip: chipName, line: offset, function: "gpiod_chip_get_line", errno: EINVAL,
                detail: "the chip has \(lines.count) lines")
        }
        let index = Int(offset)
        guard lines[index].holder == nil else {
            throw GPIOError(.busy, chip: chipName, line: offset, function: function, errno: EBUSY)
        }
        let token = nextRequestToken
        nextRequestToken += 1
        let before = lines[index].level
        lines[index].holder = SimulatedLineState.Holder(token: token, consumer: consumer, mode: mode, bias: bias)
        lines[index].pendingEvents = []
        if case .output = mode {
            lines[index].hostDrives = true
            lines[index].hostLevel = initialValue
        } else {
            lines[index].hostDrives = false
            lines[index].pull = bias
        }
        let after = lines[index].level
        if case .output = mode, before != after { notifyDevices(offset, high: after) }
        return token
    }

    /// Gives the line back. An output keeps its last level (as a real pin does when released).
    mutating func release(_ offset: LineOffset, token: UInt64) {
        let index = Int(offset)
        guard index < lines.count, lines[index].holder?.token == token else { return }
        lines[index].holder = nil
        lines[index].pendingEvents = []
    }

    func checkHolder(_ offset: LineOffset, token: UInt64) throws(GPIOError) {
        guard Int(offset) < lines.count, lines[Int(offset)].holder?.token == token else {
            throw GPIOError(.released, chip: chipName, line: offset)
        }
    }

    /// The host drives an output; returns the stretch to apply after it (fault injection).
    mutating func hostSet(_ offset: LineOffset, token: UInt64, high: Bool) throws(GPIOError) -> UInt64 {
        try checkHolder(offset, token: token)
        let index = Int(offset)
        let before = lines[index].level
        lines[index].hostLevel = high
        let after = lines[index].level
        if before != after { notifyDevices(offset, high: after) }
        let stretch = pendingOutputStretch
        pendingOutputStretch = 0
        return stretch
    }

    func hostGet(_ offset: LineOffset, token: UInt64) throws(GPIOError) -> Bool {
        try checkHolder(offset, token: token)
        return lines[Int(offset)].level
    }

    mutating func takeEvents(_ offset: LineOffset, token: UInt64) throws(GPIOError) -> [EdgeEvent] {
        try checkHolder(offset, token: token)
        let events = lines[Int(offset)].pendingEvents
        lines[Int(offset)].pendingEvents = []
        return events
    }

    // MARK: Wiring

    private mutating func notifyDevices(_ offset: LineOffset, high: Bool) {
        let devices = lines[Int(offset)].listeners
        for device in devices { device.hostDidDrive(offset, high: high, bus: &self) }
    }

    private mutating func updateLine(_ index: Int, _ change: (inout SimulatedLineState) -> Void) {
        let before = lines[index].level
        change(&lines[index])
        let after = lines[index].level
        guard before != after, let holder = lines[index].holder, case .events(let edges) = holder.mode else {
            return
        }
        switch (edges, after) {
        case (.both, _), (.rising, true), (.falling, false): break
        default: return
        }
        if lines[index].pendingEvents.count >= Self.eventQueueCapacity {
            lines[index].droppedEvents += 1
            return
        }
        lines[index].pendingEvents.append(
            EdgeEvent(offset: LineOffset(index), type: after ? .rising : .falling, timestampNanoseconds: nowNanoseconds)
        )
    }
}

/// One simulated line: who holds it, who drives it, its queued events and the devices listening.
struct SimulatedLineState: Sendable {
    enum Mode: Sendable {
        case output
        case input
        case events(EdgeDetection)
    }

    struct Holder: Sendable {
        var token: UInt64
        var consumer: String
        var mode: Mode
        var bias: LineBias
    }

    var name: String?
    var holder: Holder?
    /// Set while the host has the line as an output (and kept after releasing it, as a real pin
    /// keeps driving); cleared when it is requested as an input.
    var hostDrives = false
    var hostLevel = false
    var modelLevel: Bool?
    var pull: LineBias = .asIs
    var pendingEvents: [EdgeEvent] = []
    var droppedEvents = 0
    var listeners: [any SimulatedLineDevice] = []

    init(name: String?) { self.name = name }

    var level: Bool { hostDrives ? hostLevel : (modelLevel ?? (pull == .pullUp)) }
}
