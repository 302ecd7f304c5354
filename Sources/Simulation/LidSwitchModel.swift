import GPIO
import Synchronization

/// A lid switch (reed or micro switch) on one input line. When the lid moves, the contact bounces:
/// after the first touch the line toggles a few more times over a few milliseconds (count and
/// timing drawn from a seeded generator) before it settles, which is what a debouncer must absorb.
///
/// `setOpen(_:)` may be called from any thread; inside a scheduled action (a scenario opening the lid
/// at a virtual time) use `setOpen(_:on:)` with the action's bus.
public final class LidSwitchModel: Sendable {
    public struct Configuration: Sendable, Hashable {
        /// Line level while the lid is open. With the usual wiring (switch to ground, pull-up, switch
        /// closed by the closed lid) the line is high when the lid is open.
        public var openLevel: Bool
        /// How long the contact bounces after the first touch.
        public var bounceNanoseconds: ClosedRange<UInt64>
        /// Extra back-and-forth toggles during the bounce.
        public var bounceToggles: ClosedRange<Int>
        public var seed: UInt64

        public init(
            openLevel: Bool = true, bounceNanoseconds: ClosedRange<UInt64> = 500_000...5_000_000,
            bounceToggles: ClosedRange<Int> = 1...6, seed: UInt64 = 1
        ) {
            self.openLevel = openLevel
            self.bounceNanoseconds = bounceNanoseconds
            self.bounceToggles = bounceToggles
            self.seed = seed
        }
    }

    public enum Fault: Sendable, Hashable {
        /// The switch wire is cut: the model stops driving and the line floats to its pull.
        case disconnected
        /// The switch reads as open (or closed) whatever the lid does.
        case stuck(open: Bool)
        /// The contact bounces for this much longer than configured (a worn switch).
        case extraBounce(nanoseconds: UInt64)
    }

    public let line: LineOffset
    public let configuration: Configuration
    private weak let chip: SimulatedChip?
    private let state: Mutex<State>

    private struct State: Sendable {
        var isOpen: Bool
        var fault: Fault?
        var random: SeededRandomGenerator
        var generation: UInt64 = 0
        var transitions = 0
    }

    public init(
        chip: SimulatedChip, line: LineOffset, configuration: Configuration = .init(), initiallyOpen: Bool = false
    ) throws(GPIOError) {
        guard Int(line) < chip.info.lineCount else {
            throw GPIOError(.noSuchLine, chip: chip.info.name, line: line, detail: "lid switch")
        }
        self.chip = chip
        self.line = line
        self.configuration = configuration
        state = Mutex(State(isOpen: initiallyOpen, random: SeededRandomGenerator(seed: configuration.seed)))
        let level = initiallyOpen ? configuration.openLevel : !configuration.openLevel
        chip.perform { bus in bus.drive(line, high: level) }
    }

    /// Where the lid physically is (not necessarily what the line says, under a fault).
    public var isOpen: Bool { state.withLock { $0.isOpen } }
    public var fault: Fault? { state.withLock { $0.fault } }
    /// Lid movements so far.
    public var transitionCount: Int { state.withLock { $0.transitions } }

    public func setOpen(_ open: Bool) {
        chip?.perform { bus in setOpen(open, on: &bus) }
    }

    /// Moves the lid at the bus's current time; the line bounces and settles at the new level.
    public func setOpen(_ open: Bool, on bus: inout SimulationBus) {
        state.withLock { state in
            guard state.isOpen != open else { return }
            state.isOpen = open
            state.transitions += 1
            state.generation += 1
            switch state.fault {
            case .disconnected, .stuck: return
            case .extraBounce(let extra): bounce(&state, extraNanoseconds: extra, bus: &bus)
            case nil: bounce(&state, extraNanoseconds: 0, bus: &bus)
            }
        }
    }

    public func setFault(_ fault: Fault?) {
        chip?.perform { bus in setFault(fault, on: &bus) }
    }

    public func setFault(_ fault: Fault?, on bus: inout SimulationBus) {
        let line = self.line
        let openLevel = configuration.openLevel
        state.withLock { state in
            state.fault = fault
            state.generation += 1  // cancels a bounce in progress
            switch fault {
            case .disconnected: bus.stopDriving(line)
            case .stuck(let open): bus.drive(line, high: open ? openLevel : !openLevel)
            case .extraBounce, nil: bus.drive(line, high: state.isOpen ? openLevel : !openLevel)
            }
        }
    }

    private func bounce(_ state: inout State, extraNanoseconds: UInt64, bus: inout SimulationBus) {
        let line = self.line
        let target = state.isOpen ? configuration.openLevel : !configuration.openLevel
        let generation = state.generation
        let range = configuration.bounceNanoseconds
        let duration =
            range.lowerBound
            + UInt64((Double(range.upperBound - range.lowerBound) * state.random.nextUnit()).rounded())
            + extraNanoseconds
        let toggles = Int.random(in: configuration.bounceToggles, using: &state.random)
        bus.drive(line, high: target)
        var level = target
        let offsets = (0..<(2 * toggles)).map { _ in
            UInt64((Double(duration) * state.random.nextUnit()).rounded())
        }.sorted()
        for offset in offsets {
            level.toggle()
            let driven = level
            bus.schedule(afterNanoseconds: offset) { bus in
                self.driveIfCurrent(generation: generation, line: line, high: driven, bus: &bus)
            }
        }
        bus.schedule(afterNanoseconds: duration) { bus in
            self.driveIfCurrent(generation: generation, line: line, high: target, bus: &bus)
        }
    }

    private func driveIfCurrent(generation: UInt64, line: LineOffset, high: Bool, bus: inout SimulationBus) {
        let current = state.withLock { $0.generation == generation }
        if current { bus.drive(line, high: high) }
    }
}
