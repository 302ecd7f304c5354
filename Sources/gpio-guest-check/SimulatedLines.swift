import GPIO

#if canImport(Glibc)
import Glibc
#endif

/// What the outside world does to a gpio-sim line: its `pull` attribute, the level an input reads
/// while nothing drives it.
enum SimulatedPull: String {
    case pullUp = "pull-up"
    case pullDown = "pull-down"
}

/// The gpio-sim sysfs attributes of one simulated chip (`/sys/devices/platform/gpio-sim.N/gpiochipM`):
/// `sim_gpioK/pull` is how the check plays the world outside an input, `sim_gpioK/value` is how it sees
/// the level an output drives. This is the test's side channel only; the code under test uses the GPIO
/// character device through libgpiod.
struct SimulatedLines {
    /// The chip's sysfs directory, holding `sim_gpio0` ... `sim_gpioN`.
    let directory: String

    /// Finds the gpio-sim device that holds the chip named `chipName` (e.g. `gpiochip0`, from the
    /// chip the backend opened by label) by searching `platformDirectory/gpio-sim.*/`.
    init(chipName: String, platformDirectory: String = "/sys/devices/platform") throws(GuestCheckError) {
        guard let stream = opendir(platformDirectory) else {
            throw .system(.simulator, path: platformDirectory, function: "opendir", errno: errno)
        }
        defer { closedir(stream) }
        var simulators: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard name.hasPrefix("gpio-sim.") else { continue }
            simulators.append(name)
            let candidate = "\(platformDirectory)/\(name)/\(chipName)"
            if access("\(candidate)/sim_gpio0/pull", F_OK) == 0 {
                directory = candidate
                return
            }
        }
        let searched = simulators.isEmpty ? "no gpio-sim devices" : simulators.sorted().joined(separator: ", ")
        throw GuestCheckError(
            .simulator, "\(chipName) is not a gpio-sim chip under \(platformDirectory) (searched: \(searched))")
    }

    func setPull(_ offset: LineOffset, _ pull: SimulatedPull) throws(GuestCheckError) {
        try Self.writeAttribute(pull.rawValue, to: attribute(offset, "pull"))
    }

    func pull(_ offset: LineOffset) throws(GuestCheckError) -> SimulatedPull {
        let path = attribute(offset, "pull")
        let text = try Self.readAttribute(path)
        guard let pull = SimulatedPull(rawValue: text) else {
            throw GuestCheckError(.simulator, "\(path): unexpected content '\(text)'")
        }
        return pull
    }

    /// The level on the line as the simulated chip sees it: the driven value of an output, else the pull.
    func level(_ offset: LineOffset) throws(GuestCheckError) -> Bool {
        let path = attribute(offset, "value")
        switch try Self.readAttribute(path) {
        case "0": return false
        case "1": return true
        case let text: throw GuestCheckError(.simulator, "\(path): unexpected content '\(text)'")
        }
    }

    private func attribute(_ offset: LineOffset, _ name: String) -> String {
        "\(directory)/sim_gpio\(offset)/\(name)"
    }

    private static func readAttribute(_ path: String) throws(GuestCheckError) -> String {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .system(.simulator, path: path, function: "open", errno: errno) }
        defer { close(descriptor) }
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        guard count >= 0 else { throw .system(.simulator, path: path, function: "read", errno: errno) }
        return String(decoding: buffer.prefix(count), as: UTF8.self).trimmingTrailingNewlines()
    }

    private static func writeAttribute(_ text: String, to path: String) throws(GuestCheckError) {
        let descriptor = open(path, O_WRONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .system(.simulator, path: path, function: "open", errno: errno) }
        defer { close(descriptor) }
        let bytes = Array(text.utf8)
        let count = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        guard count == bytes.count else {
            throw .system(.simulator, path: path, function: "write", errno: count < 0 ? errno : EIO)
        }
    }
}

extension String {
    func trimmingTrailingNewlines() -> String {
        var text = Substring(self)
        while let last = text.last, last == "\n" || last == " " { text = text.dropLast() }
        return String(text)
    }
}
