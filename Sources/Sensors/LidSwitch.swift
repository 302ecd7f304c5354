import GPIO
import Synchronization

/// A debounced change of the lid.
public struct LidEdge: Sendable, Hashable {
    public var isOpen: Bool
    /// Chip-clock time of the first raw edge of the movement (when the lid actually moved).
    public var timestampNanoseconds: UInt64
    /// When the line had been stable long enough to believe it.
    public var confirmedAtNanoseconds: UInt64

    public init(isOpen: Bool, timestampNanoseconds: UInt64, confirmedAtNanoseconds: UInt64) {
        self.isOpen = isOpen
        self.timestampNanoseconds = timestampNanoseconds
        self.confirmedAtNanoseconds = confirmedAtNanoseconds
    }
}

/// Debouncing as a value: raw level changes go in, a change comes out once the line has held still
/// for `stableNanoseconds`. A burst that ends where it started (a knock, a glitch) produces nothing.
/// Pure and clock-free: the caller passes the times, so it is tested without any I/O.
public struct LidDebouncer: Sendable, Hashable {
    public let stableNanoseconds: UInt64
    /// The debounced state.
    public private(set) var isOpen: Bool
    private var rawOpen: Bool
    private var firstChange: UInt64?
    private var lastChange: UInt64?

    public init(isOpen: Bool, stableNanoseconds: UInt64) {
        self.isOpen = isOpen
        rawOpen = isOpen
        self.stableNanoseconds = stableNanoseconds
    }

    /// The line moved to `rawOpen` at `atNanoseconds` (an edge event).
    public mutating func record(rawOpen: Bool, atNanoseconds time: UInt64) {
        self.rawOpen = rawOpen
        if firstChange == nil { firstChange = time }
        lastChange = max(lastChange ?? time, time)
    }

    /// When a pending change will be confirmed if the line stays still; nil when nothing is pending.
    public var deadlineNanoseconds: UInt64? {
        lastChange.map { $0 &+ stableNanoseconds }
    }

    /// Confirms the pending change once the line has been still for the stable time. `currentRawOpen`,
    /// if given, is the line read now: if it disagrees with the last edge seen (edges were dropped
    /// from a full queue), the line is treated as having just moved there.
    public mutating func settle(nowNanoseconds now: UInt64, currentRawOpen: Bool? = nil) -> LidEdge? {
        guard let last = lastChange, now >= last &+ stableNanoseconds else { return nil }
        if let current = currentRawOpen, current != rawOpen {
            record(rawOpen: current, atNanoseconds: now)
            return nil
        }
        let first = firstChange ?? last
        firstChange = nil
        lastChange = nil
        guard rawOpen != isOpen else { return nil }
        isOpen = rawOpen
        return LidEdge(isOpen: isOpen, timestampNanoseconds: first, confirmedAtNanoseconds: last &+ stableNanoseconds)
    }
}

/// A lid switch on an input requested for both edges, debounced.
///
/// The daemon's sampling thread waits on all its lids at once with
/// `LidSwitch.waitForEdges(on:timeoutNanoseconds:wakeup:)`, which bounds the wait by the heartbeat
/// and by the earliest pending debounce deadline; or it waits on `eventLine`s itself and hands the
/// raw events to `process(_:nowNanoseconds:)`, using `deadlineNanoseconds` to bound its wait.
public final class LidSwitch: Sendable {
    public struct Configuration: Sendable, Hashable {
        public var name: String
        /// Line level while the lid is open (switch to ground with a pull-up, closed by the closed
        /// lid: high = open).
        public var openLevel: Bool
        public var bias: LineBias
        /// The line must hold still this long before a change is believed.
        public var debounceNanoseconds: UInt64

        public init(
            name: String = "lid", openLevel: Bool = true, bias: LineBias = .pullUp,
            debounceNanoseconds: UInt64 = 20_000_000
        ) {
            self.name = name
            self.openLevel = openLevel
            self.bias = bias
            self.debounceNanoseconds = debounceNanoseconds
        }
    }

    /// A debounced edge of one lid of a group.
    public struct GroupEdge: Sendable, Hashable {
        /// Index of the lid in the array passed to `waitForEdges(on:…)`.
        public var lidIndex: Int
        public var edge: LidEdge
    }

    public let name: String
    public let chipName: String
    public let lineOffset: LineOffset
    public let configuration: Configuration
    /// The requested line, for callers that wait on it together with other lines.
    public let eventLine: any GPIOEventLine

    private let identity: SensorIdentity
    private let debouncer: Mutex<LidDebouncer>

    /// Requests the line for both edges and takes its current level as the initial state.
    public init(
        chip: any GPIOChip, line: LineOffset, consumer: String = "binsd", configuration: Configuration = .init()
    )
        throws(SensorError)
    {
        let identity = SensorIdentity(name: configuration.name, chip: chip.info.name, lines: [line])
        let eventLine = try identity.gpio { () throws(GPIOError) in
            try chip.requestEvents(line, consumer: consumer, edges: .both, bias: configuration.bias)
        }
        let level = try identity.gpio { () throws(GPIOError) in try eventLine.get() }
        self.identity = identity
        self.eventLine = eventLine
        self.configuration = configuration
        name = configuration.name
        chipName = chip.info.name
        lineOffset = line
        debouncer = Mutex(
            LidDebouncer(isOpen: level == configuration.openLevel, stableNanoseconds: configuration.debounceNanoseconds)
        )
    }

    /// The debounced state.
    public var isOpen: Bool { debouncer.withLock { $0.isOpen } }

    /// When a pending change would be confirmed; the caller's next wait should end by then.
    public var deadlineNanoseconds: UInt64? { debouncer.withLock { $0.deadlineNanoseconds } }

    /// Feeds raw events (those of other lines are skipped) and returns the debounced edge, if one is
    /// confirmed by `nowNanoseconds`.
    public func process(_ events: [EdgeEvent], nowNanoseconds: UInt64) throws(SensorError) -> [LidEdge] {
        let openLevel = configuration.openLevel
        let offset = lineOffset
        let pending = debouncer.withLock { debouncer -> Bool in
            for event in events where event.offset == offset {
                debouncer.record(
                    rawOpen: (event.type == .rising) == openLevel, atNanoseconds: event.timestampNanoseconds)
            }
            return debouncer.deadlineNanoseconds.map { nowNanoseconds >= $0 } ?? false
        }
        guard pending else { return [] }
        let level = try identity.gpio { () throws(GPIOError) in try eventLine.get() }
        let edge = debouncer.withLock { debouncer in
            debouncer.settle(nowNanoseconds: nowNanoseconds, currentRawOpen: level == openLevel)
        }
        return edge.map { [$0] } ?? []
    }

    /// Waits for a debounced edge of this lid (see `waitForEdges(on:timeoutNanoseconds:wakeup:)`).
    public func waitForEdges(timeoutNanoseconds: UInt64, wakeup: GPIOWakeup?) throws(SensorError) -> [LidEdge] {
        try Self.waitForEdges(on: [self], timeoutNanoseconds: timeoutNanoseconds, wakeup: wakeup).map(\.edge)
    }

    /// Waits until one of `lids` has a debounced edge, `timeoutNanoseconds` pass on the chip's clock,
    /// or `wakeup` is signalled; returns the edges (empty on timeout or wakeup). The lids must be on
    /// one chip. Idle, it is one blocking `waitForEvents` per timeout: no polling.
    public static func waitForEdges(on lids: [LidSwitch], timeoutNanoseconds: UInt64, wakeup: GPIOWakeup?)
        throws(SensorError) -> [GroupEdge]
    {
        guard let first = lids.first else { return [] }
        let chip = first.eventLine.chip
        guard lids.allSatisfy({ $0.eventLine.chip === chip }) else {
            throw first.identity.error(.invalidConfiguration, "lids waited on together must be on one chip")
        }
        let clock = chip.clock
        let deadline = clock.nanoseconds() &+ timeoutNanoseconds
        let lines = lids.map(\.eventLine)
        while true {
            let now = clock.nanoseconds()
            let target = lids.compactMap(\.deadlineNanoseconds).reduce(deadline) { min($0, $1) }
            let events: [EdgeEvent]
            do {
                events = try chip.waitForEvents(
                    on: lines, timeoutNanoseconds: target > now ? target - now : 0, wakeup: wakeup)
            } catch {
                throw SensorError(
                    .gpio, sensor: lids.map(\.name).joined(separator: ", "), chip: chip.info.name,
                    lines: lids.map(\.lineOffset), gpio: error)
            }
            let after = clock.nanoseconds()
            var edges: [GroupEdge] = []
            for (index, lid) in lids.enumerated() {
                for edge in try lid.process(events, nowNanoseconds: after) {
                    edges.append(GroupEdge(lidIndex: index, edge: edge))
                }
            }
            if !edges.isEmpty || after >= deadline { return edges }
            if events.isEmpty && after < target { return [] }  // woken
        }
    }
}
