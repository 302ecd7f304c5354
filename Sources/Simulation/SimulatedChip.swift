import GPIO
import Synchronization
import SystemCalls

#if canImport(Glibc)
import Glibc
#endif

/// A GPIO chip in virtual time, whose lines are wired to line-level device models
/// (`SimulatedLineDevice`). Drivers cannot tell it from a `LibgpiodChip`: same requests, same
/// errors (a second request of a line is `EBUSY`, named like libgpiod's), edge events queued like
/// the kernel queues them, and time read only through `clock`.
///
/// Time moves only when the host spins, sleeps or waits (or `advance` is called), and on the way
/// every scheduled action runs at its own due time: an HX711 finishing a conversion, a ranger's echo
/// edges, a lid's bounce, or a change of the simulated world scheduled by a scenario. In `.virtual`
/// pacing a wait jumps straight to the next due action or its timeout, so an idle day costs a few
/// thousand loop turns; in `.realTime` pacing virtual time is the wall clock since the chip was made
/// (plus `startNanoseconds`) and waits really sleep until the next due action, a newly scheduled one,
/// or a wakeup.
///
/// Thread safety: all state sits behind one lock. One thread is expected to drive the lines (the
/// sampling thread); any thread may schedule actions, `perform` changes, or signal a `GPIOWakeup`.
public final class SimulatedChip: GPIOChip {
    public enum Pacing: String, Sendable, Hashable {
        /// As fast as possible: virtual time jumps over idle periods.
        case virtual
        /// Virtual time follows the wall clock: used to run `binsd` on the `sim` board in real time.
        case realTime = "real-time"
    }

    public let info: ChipInfo
    public let clock: any ChipClock
    public let pacing: Pacing
    let core: SimulationCore

    /// - Parameters:
    ///   - lineNames: one entry per line (an empty string leaves a line unnamed).
    ///   - startNanoseconds: virtual time at creation; scenario runners map it to their start date.
    public init(
        name: String = "sim0", label: String = "bins-sim", lineNames: [String], pacing: Pacing = .virtual,
        startNanoseconds: UInt64 = 0
    ) {
        info = ChipInfo(name: name, label: label, path: "sim:\(name)", lineCount: lineNames.count)
        self.pacing = pacing
        core = SimulationCore(
            bus: SimulationBus(
                chipName: name, lineNames: lineNames, pacing: pacing, startNanoseconds: startNanoseconds),
            pacing: pacing)
        clock = SimulatedClock(core: core)
    }

    /// A chip of `lineCount` unnamed lines.
    public convenience init(
        name: String = "sim0", label: String = "bins-sim", lineCount: Int, pacing: Pacing = .virtual,
        startNanoseconds: UInt64 = 0
    ) {
        self.init(
            name: name, label: label, lineNames: Array(repeating: "", count: max(0, lineCount)), pacing: pacing,
            startNanoseconds: startNanoseconds)
    }

    // MARK: Time and scheduling

    /// Virtual time now (the same value `clock.nanoseconds()` returns).
    public var nowNanoseconds: UInt64 { core.now() }

    /// Moves virtual time forward, running what falls due (in real-time pacing: sleeps that long).
    public func advance(byNanoseconds delta: UInt64) {
        core.pause(delta)
    }

    /// Moves virtual time forward to `target` (no-op if it has passed).
    public func advance(toNanoseconds target: UInt64) {
        let now = core.now()
        if target > now { core.pause(target - now) }
    }

    /// Runs `action` under the chip's lock when virtual time reaches `due`. Safe from any thread and
    /// from inside other actions (through `bus.schedule` there). A scenario schedules world changes
    /// this way, e.g. `chip.schedule(atNanoseconds: t) { bus in lid.setOpen(true, on: &bus) }`.
    @discardableResult
    public func schedule(atNanoseconds due: UInt64, _ action: @escaping SimulationAction) -> ScheduledActionID {
        core.perform { bus in bus.schedule(atNanoseconds: due, action) }
    }

    @discardableResult
    public func schedule(afterNanoseconds delay: UInt64, _ action: @escaping SimulationAction)
        -> ScheduledActionID
    {
        core.perform { bus in bus.schedule(afterNanoseconds: delay, action) }
    }

    public func cancel(_ id: ScheduledActionID) {
        core.perform { bus in bus.cancel(id) }
    }

    /// Runs `body` now, under the chip's lock, with the bus at the current virtual time: how another
    /// thread changes what devices drive. Do not call the chip from `body` (the lock is not re-entrant).
    public func perform<Result: Sendable, Failure: Error>(
        _ body: (inout SimulationBus) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        try core.perform(body)
    }

    /// Number of scheduled actions not yet run.
    public var pendingActionCount: Int { core.perform { bus in bus.queue.count } }

    // MARK: Wiring and inspection

    /// Wires `device` to the lines it listens to: it is called whenever the host changes their level.
    public func attach(_ device: any SimulatedLineDevice, listeningTo offsets: [LineOffset]) throws(GPIOError) {
        let chipName = info.name
        try core.perform { bus throws(GPIOError) in
            for offset in offsets where Int(offset) >= bus.lines.count {
                throw GPIOError(
                    .noSuchLine, chip: chipName, line: offset, detail: "the chip has \(bus.lines.count) lines")
            }
            for offset in offsets { bus.lines[Int(offset)].listeners.append(device) }
        }
    }

    /// The level on the wire, whoever drives it.
    public func level(of offset: LineOffset) -> Bool {
        core.perform { bus in bus.level(of: offset) }
    }

    /// Events the line's queue dropped because it was full (the kernel drops them the same way).
    public func droppedEventCount(of offset: LineOffset) -> Int {
        core.perform { bus in Int(offset) < bus.lines.count ? bus.lines[Int(offset)].droppedEvents : 0 }
    }

    /// Fault injection: the next output operation (`set`) takes `nanoseconds` longer after the level
    /// changed, as if the process were preempted in the middle of bit-banging. In virtual pacing time
    /// jumps; in real-time pacing the thread really sleeps.
    public func injectOutputStretch(nanoseconds: UInt64) {
        core.perform { bus in bus.injectOutputStretch(nanoseconds: nanoseconds) }
    }

    // MARK: GPIOChip

    public func lineInfo(_ offset: LineOffset) throws(GPIOError) -> LineInfo {
        let chipName = info.name
        return try core.perform { bus throws(GPIOError) -> LineInfo in
            guard Int(offset) < bus.lines.count else {
                throw GPIOError(
                    .noSuchLine, chip: chipName, line: offset, function: "gpiod_chip_get_line", errno: EINVAL,
                    detail: "the chip has \(bus.lines.count) lines")
            }
            let line = bus.lines[Int(offset)]
            let direction: LineDirection
            if let holder = line.holder {
                if case .output = holder.mode { direction = .output } else { direction = .input }
            } else {
                direction = line.hostDrives ? .output : .input
            }
            return LineInfo(
                offset: offset, name: line.name, consumer: line.holder?.consumer, direction: direction,
                isUsed: line.holder != nil, isActiveLow: false, bias: line.holder?.bias ?? line.pull)
        }
    }

    public func requestOutput(_ offset: LineOffset, consumer: String, initialValue: Bool) throws(GPIOError)
        -> any GPIOOutputLine
    {
        let token = try core.perform { bus throws(GPIOError) -> UInt64 in
            try bus.claim(
                offset, consumer: consumer, mode: .output, bias: .asIs, initialValue: initialValue,
                function: "gpiod_line_request_output")
        }
        return SimulatedOutputLine(handle: SimulatedLineHandle(chip: self, offset: offset, token: token))
    }

    public func requestInput(_ offset: LineOffset, consumer: String, bias: LineBias) throws(GPIOError)
        -> any GPIOInputLine
    {
        let token = try core.perform { bus throws(GPIOError) -> UInt64 in
            try bus.claim(
                offset, consumer: consumer, mode: .input, bias: bias, initialValue: false,
                function: "gpiod_line_request_input_flags")
        }
        return SimulatedInputLine(handle: SimulatedLineHandle(chip: self, offset: offset, token: token))
    }

    public func requestEvents(_ offset: LineOffset, consumer: String, edges: EdgeDetection, bias: LineBias)
        throws(GPIOError) -> any GPIOEventLine
    {
        let function =
            switch edges {
            case .rising: "gpiod_line_request_rising_edge_events_flags"
            case .falling: "gpiod_line_request_falling_edge_events_flags"
            case .both: "gpiod_line_request_both_edges_events_flags"
            }
        let token = try core.perform { bus throws(GPIOError) -> UInt64 in
            try bus.claim(
                offset, consumer: consumer, mode: .events(edges), bias: bias, initialValue: false, function: function)
        }
        return SimulatedEventLine(handle: SimulatedLineHandle(chip: self, offset: offset, token: token))
    }

    /// Waits in virtual time: runs due actions one instant at a time until an edge is queued on one of
    /// `lines`, the timeout passes, or `wakeup` is signalled (consumed on return). In `.virtual`
    /// pacing nothing blocks; in `.realTime` pacing the thread sleeps in `poll()` until the next due
    /// action, a newly scheduled one, or the wakeup.
    public func waitForEvents(on lines: [any GPIOEventLine], timeoutNanoseconds: UInt64, wakeup: GPIOWakeup?)
        throws(GPIOError) -> [EdgeEvent]
    {
        var watched: [(LineOffset, UInt64)] = []
        for line in lines {
            guard let simulated = line as? SimulatedEventLine, simulated.handle.chip === self else {
                throw GPIOError(
                    .invalidArgument, chip: info.name, line: line.offset,
                    detail: "the line was not requested from this chip")
            }
            watched.append((simulated.handle.offset, simulated.handle.token))
        }
        return try core.waitForEvents(watched, timeoutNanoseconds: timeoutNanoseconds, wakeup: wakeup)
    }
}

/// The state of a `SimulatedChip`, shared by the chip and its clock (the clock must not keep the
/// chip alive: devices and requests do).
final class SimulationCore: Sendable {
    private let state: Mutex<SimulationBus>
    /// nil only if the process could not get an eventfd: a real-time sleep then runs its slice out.
    private let notifier = try? EventFD()
    let pacing: SimulatedChip.Pacing
    let chipName: String

    init(bus: consuming SimulationBus, pacing: SimulatedChip.Pacing) {
        chipName = bus.chipName
        state = Mutex(bus)
        self.pacing = pacing
    }

    /// Runs `body` under the lock after catching up with the wall clock (real-time pacing), and wakes
    /// a thread sleeping in a real-time wait so it sees what changed.
    func perform<Result: Sendable, Failure: Error>(
        _ body: (inout SimulationBus) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        let result = try state.withLock { bus throws(Failure) -> Result in
            bus.catchUp()
            return try body(&bus)
        }
        if pacing == .realTime { notifier?.signal() }
        return result
    }

    /// Like `perform`, for the host's own line operations: no wakeup needed, the host is the waiter.
    func hostOperation<Result: Sendable, Failure: Error>(
        _ body: (inout SimulationBus) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        try state.withLock { bus throws(Failure) -> Result in
            bus.catchUp()
            return try body(&bus)
        }
    }

    func now() -> UInt64 {
        state.withLock { bus in
            bus.catchUp()
            return bus.nowNanoseconds
        }
    }

    /// Lets `delta` of virtual time pass: at once in virtual pacing, by sleeping in real time.
    func pause(_ delta: UInt64) {
        switch pacing {
        case .virtual:
            state.withLock { bus in bus.advance(to: bus.nowNanoseconds.saturatingAdd(delta)) }
        case .realTime:
            MonotonicTime.sleep(until: MonotonicTime.now().saturatingAdd(delta))
            state.withLock { bus in bus.catchUp() }
        }
    }

    /// A busy delay: in real-time pacing it spins on the monotonic clock, running due actions as it goes.
    func spin(_ delta: UInt64) {
        switch pacing {
        case .virtual:
            pause(delta)
        case .realTime:
            MonotonicTime.spin(until: MonotonicTime.now().saturatingAdd(delta))
            state.withLock { bus in bus.catchUp() }
        }
    }

    private enum WaitStep: Sendable {
        case events([EdgeEvent])
        case woken
        case timedOut
        case again
        case sleep(UInt64)
    }

    func waitForEvents(_ watched: [(LineOffset, UInt64)], timeoutNanoseconds: UInt64, wakeup: GPIOWakeup?)
        throws(GPIOError) -> [EdgeEvent]
    {
        let deadline = now().saturatingAdd(timeoutNanoseconds)
        let pacing = self.pacing
        while true {
            let step = try state.withLock { bus throws(GPIOError) -> WaitStep in
                bus.catchUp()
                var events: [EdgeEvent] = []
                for (offset, token) in watched { events.append(contentsOf: try bus.takeEvents(offset, token: token)) }
                if !events.isEmpty {
                    return .events(events.sorted { $0.timestampNanoseconds < $1.timestampNanoseconds })
                }
                if let wakeup, wakeup.isSignalled { return .woken }
                if bus.nowNanoseconds >= deadline { return .timedOut }
                let next = min(bus.queue.nextDue() ?? deadline, deadline)
                switch pacing {
                case .virtual:
                    bus.advance(to: max(next, bus.nowNanoseconds))
                    return .again
                case .realTime:
                    return next > bus.nowNanoseconds ? .sleep(next - bus.nowNanoseconds) : .again
                }
            }
            switch step {
            case .events(let events):
                return events
            case .woken:
                wakeup?.consume()
                return []
            case .timedOut:
                return []
            case .again:
                continue
            case .sleep(let nanoseconds):
                var descriptors: [Int32] = []
                if let notifier { descriptors.append(notifier.fileDescriptor) }
                var slice = nanoseconds
                if let wakeup, wakeup.fileDescriptor >= 0 {
                    descriptors.append(wakeup.fileDescriptor)
                } else if wakeup != nil {
                    slice = min(slice, 10_000_000)  // no eventfd: look at the wakeup's flag every 10 ms
                }
                let deadline = MonotonicTime.now().saturatingAdd(slice)
                do {
                    _ = try DescriptorPoll.wait(descriptors, deadline: deadline)
                } catch {
                    throw GPIOError(.io, chip: chipName, function: "poll", errno: error.rawValue)
                }
                notifier?.drain()
            }
        }
    }
}

/// The clock of a `SimulatedChip`: virtual time.
final class SimulatedClock: ChipClock {
    let core: SimulationCore

    init(core: SimulationCore) { self.core = core }

    func nanoseconds() -> UInt64 { core.now() }
    func spin(nanoseconds: UInt64) { core.spin(nanoseconds) }
    func sleep(nanoseconds: UInt64) { core.pause(nanoseconds) }
}

/// One request on a `SimulatedChip`: keeps the chip alive, gives the line back once.
public final class SimulatedLineHandle: LineHandle {
    let chip: SimulatedChip
    public let offset: LineOffset
    let token: UInt64

    init(chip: SimulatedChip, offset: LineOffset, token: UInt64) {
        self.chip = chip
        self.offset = offset
        self.token = token
    }

    deinit { release() }

    public var requestingChip: any GPIOChip { chip }

    public func release() {
        let offset = self.offset
        let token = self.token
        chip.core.hostOperation { bus in bus.release(offset, token: token) }
    }

    public func set(_ high: Bool) throws(GPIOError) {
        let offset = self.offset
        let token = self.token
        let stretch = try chip.core.hostOperation { bus throws(GPIOError) -> UInt64 in
            try bus.hostSet(offset, token: token, high: high)
        }
        if stretch > 0 { chip.core.pause(stretch) }
    }

    public func get() throws(GPIOError) -> Bool {
        let offset = self.offset
        let token = self.token
        return try chip.core.hostOperation { bus throws(GPIOError) -> Bool in try bus.hostGet(offset, token: token) }
    }

    public func readPendingEvents() throws(GPIOError) -> [EdgeEvent] {
        let offset = self.offset
        let token = self.token
        return try chip.core.hostOperation { bus throws(GPIOError) -> [EdgeEvent] in
            try bus.takeEvents(offset, token: token)
        }
    }
}

public typealias SimulatedOutputLine = LineRequest<SimulatedLineHandle, LineUse.Output>
public typealias SimulatedInputLine = LineRequest<SimulatedLineHandle, LineUse.Input>
public typealias SimulatedEventLine = LineRequest<SimulatedLineHandle, LineUse.Events>
