import GPIO
import Synchronization

/// Opens each gpiochip the configuration names once, by label, and hands the same object to every sensor
/// on it: lines waited on together must come from one chip object, and a chip stays open as long as one of
/// its lines is requested.
public final class ChipDirectory: Sendable {
    public typealias Opener = @Sendable (_ label: String) throws(GPIOError) -> any GPIOChip

    private let opener: Opener
    private let opened = Mutex<[String: any GPIOChip]>([:])

    public init(opener: @escaping Opener) {
        self.opener = opener
    }

    /// The system's chips through libgpiod (`/dev/gpiochipN`, found by label).
    public static func hardware() -> ChipDirectory {
        ChipDirectory { label throws(GPIOError) -> any GPIOChip in try LibgpiodChip(label: label) }
    }

    /// The chip of `address`: the first of its labels that opens. The error names every label tried and
    /// why each failed (absent, permission denied with errno).
    public func chip(for address: LineAddress) throws(BinDaemonError) -> any GPIOChip {
        var failures: [String] = []
        for label in address.chipLabels {
            if let chip = opened.withLock({ $0[label] }) { return chip }
            do throws(GPIOError) {
                let chip = try opener(label)
                guard address.line < chip.info.lineCount else {
                    throw GPIOError(
                        .noSuchLine, chip: label, line: address.line,
                        detail: "the chip has \(chip.info.lineCount) lines")
                }
                return opened.withLock { opened in
                    if let existing = opened[label] { return existing }
                    opened[label] = chip
                    return chip
                }
            } catch {
                failures.append(error.description)
                if error.code != .noSuchChip { break }
            }
        }
        throw BinDaemonError(.hardware, "\(address): cannot open the chip: \(failures.joined(separator: "; "))")
    }
}
