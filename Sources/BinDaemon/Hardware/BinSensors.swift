import GPIO
import Sensors

/// The parts of one bin, opened from its configuration: the HX711 (always), the ranger and the lid switch
/// (when fitted). Holding the object holds the lines; the sampling thread is the only one that drives them.
public final class BinSensors: Sendable {
    public let bin: BinConfig
    public let scale: HX711
    /// The chip the HX711's lines are on.
    public let scaleChip: any GPIOChip
    public let ranger: UltrasonicRanger?
    public let lid: LidSwitch?

    public init(bin: BinConfig, scale: HX711, scaleChip: any GPIOChip, ranger: UltrasonicRanger?, lid: LidSwitch?) {
        self.bin = bin
        self.scale = scale
        self.scaleChip = scaleChip
        self.ranger = ranger
        self.lid = lid
    }

    /// Requests the bin's lines. Errors name the bin, the sensor, the chip, the lines and errno (e.g. a line
    /// another process holds: `EBUSY`).
    public static func open(_ bin: BinConfig, chips: ChipDirectory, consumer: String = "binsd") throws(BinDaemonError)
        -> BinSensors
    {
        let scaleChip = try chips.chip(for: bin.scale.sck)
        try sameChip(
            bin.scale.dout, as: bin.scale.sck, chip: scaleChip, chips: chips, what: "bins.\(bin.id).sensors.hx711")
        let scale = try sensor("hx711", bin) { () throws(SensorError) in
            try HX711(
                chip: scaleChip, clockLine: bin.scale.sck.line, dataLine: bin.scale.dout.line, consumer: consumer,
                configuration: HX711.Configuration(
                    name: "hx711 \(bin.id)", gain: bin.scale.gain,
                    dataRate: bin.scale.rate == .sps80 ? .eightyPerSecond : .tenPerSecond))
        }
        var ranger: UltrasonicRanger?
        if let config = bin.ranger {
            let chip = try chips.chip(for: config.trigger)
            try sameChip(
                config.echo, as: config.trigger, chip: chip, chips: chips, what: "bins.\(bin.id).sensors.ranger")
            let name = "ranger \(bin.id)"
            ranger = try sensor("ranger", bin) { () throws(SensorError) in
                try UltrasonicRanger(
                    chip: chip, triggerLine: config.trigger.line, echoLine: config.echo.line, consumer: consumer,
                    configuration: config.model == .jsnSR04T ? .jsnSR04T(name: name) : .hcSR04(name: name))
            }
        }
        var lid: LidSwitch?
        if let config = bin.lid {
            let chip = try chips.chip(for: config.line)
            lid = try sensor("lid", bin) { () throws(SensorError) in
                try LidSwitch(
                    chip: chip, line: config.line.line, consumer: consumer,
                    configuration: LidSwitch.Configuration(
                        name: "lid \(bin.id)", openLevel: config.openLevel == .high, bias: config.bias,
                        debounceNanoseconds: UInt64(config.debounceMs) * 1_000_000))
            }
        }
        return BinSensors(bin: bin, scale: scale, scaleChip: scaleChip, ranger: ranger, lid: lid)
    }

    private static func sameChip(
        _ address: LineAddress, as reference: LineAddress, chip: any GPIOChip, chips: ChipDirectory, what: String
    ) throws(BinDaemonError) {
        let other = try chips.chip(for: address)
        guard other === chip else {
            throw BinDaemonError(
                .hardware,
                "\(what): \(address) and \(reference) are on different chips; the driver times both lines on one chip")
        }
    }

    private static func sensor<T>(_ kind: String, _ bin: BinConfig, _ open: () throws(SensorError) -> T)
        throws(BinDaemonError) -> T
    {
        do {
            return try open()
        } catch {
            throw BinDaemonError(.hardware, "bin \(bin.id): cannot open the \(kind): \(error)", cause: error)
        }
    }
}
