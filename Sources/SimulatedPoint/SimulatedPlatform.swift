import BinDaemon
import BinProtocol
import GPIO
import Simulation

/// A simulated point: virtual time maps to the scenario's calendar.
public struct ScenarioWallClock: WallClock {
    public let world: BinWorld

    public init(world: BinWorld) {
        self.world = world
    }

    public func timestamp(atChipNanoseconds nanoseconds: UInt64) -> WireTimestamp {
        world.timestamp(atNanoseconds: nanoseconds)
    }
}

/// The simulated world's air, as a DS18B20 next to the bins would report it.
public struct WorldTemperature: TemperatureProbe {
    public let world: BinWorld

    public init(world: BinWorld) { self.world = world }

    public func read() -> TemperatureReading { TemperatureReading(celsius: world.temperatureC, measured: true) }
}

extension ChipDirectory {
    /// One simulated chip, answering to its own label only.
    public static func simulated(_ chip: SimulatedChip) -> ChipDirectory {
        ChipDirectory { label throws(GPIOError) -> any GPIOChip in
            guard label == chip.info.label else {
                throw GPIOError(.noSuchChip, chip: label, detail: "the simulated point has only \(chip.info.label)")
            }
            return chip
        }
    }
}
