/// A single-board computer's GPIO header as one file in `boards/` describes it: which gpiochip (found by
/// its label, which is stable across boots unlike `gpiochipN`) and which line offset sits behind each
/// header pin, and which pins are risky to use.
public struct BoardDefinition: Sendable, Equatable, Hashable {
    /// Short name, as written in the daemon's `board:` field and announced in the birth message.
    public var name: String
    public var description: String
    /// Where the pin facts come from (datasheets, kernel sources), for whoever checks or extends the file.
    public var sources: [String]
    /// Connector that bare physical numbers (`pin11`) refer to, e.g. `P1` on a Raspberry Pi.
    public var defaultHeader: String?
    public var chips: [BoardChip]
    public var pins: [BoardPin]
    public var notes: String?

    public init(
        name: String, description: String, sources: [String], defaultHeader: String?, chips: [BoardChip],
        pins: [BoardPin], notes: String?
    ) {
        self.name = name
        self.description = description
        self.sources = sources
        self.defaultHeader = defaultHeader
        self.chips = chips
        self.pins = pins
        self.notes = notes
    }

    public func chip(id: String) -> BoardChip? { chips.first { $0.id == id } }

    /// The board chip one of whose labels is `label`.
    public func chip(label: String) -> BoardChip? { chips.first { $0.labels.contains(label) } }

    /// Finds a pin by name (`GPIO17`), alias (`GPIO1_28`), header position (`P1-11`, `P9_12`) or, when
    /// the board has a default header, bare physical number (`pin11`). Case and the separator (`-`, `_`,
    /// `.`) do not matter.
    public func pin(named reference: String) -> BoardPin? {
        let wanted = Self.normalize(reference)
        if let pin = pins.first(where: { pin in
            Self.normalize(pin.name) == wanted || pin.aliases.contains { Self.normalize($0) == wanted }
                || pin.header.map { Self.normalize($0) == wanted } == true
        }) {
            return pin
        }
        if let header = defaultHeader, wanted.hasPrefix("pin"), let number = Int(wanted.dropFirst(3)) {
            let designator = Self.normalize("\(header)-\(number)")
            return pins.first { $0.header.map(Self.normalize) == designator }
        }
        return nil
    }

    static func normalize(_ text: String) -> String {
        String(text.lowercased().map { $0 == "_" || $0 == "." ? "-" : $0 })
    }
}

/// One gpiochip of a board.
public struct BoardChip: Sendable, Equatable, Hashable {
    /// Name the board file's pins refer to, e.g. `main` or `gpio1`.
    public var id: String
    /// Kernel labels the chip may carry (alternatives, e.g. `pinctrl-bcm2711` on a Pi 4 and
    /// `pinctrl-bcm2835` on a Pi 3 for the same header); the first one present on the running system is used.
    public var labels: [String]
    /// Number of lines the chip has, when known; offsets beyond it are rejected.
    public var lineCount: Int?

    public init(id: String, labels: [String], lineCount: Int?) {
        self.id = id
        self.labels = labels
        self.lineCount = lineCount
    }
}

/// One usable header pin.
public struct BoardPin: Sendable, Equatable, Hashable {
    /// Canonical name, e.g. `GPIO17` or `P9_12`.
    public var name: String
    public var aliases: [String]
    /// Id of the `BoardChip` the line belongs to.
    public var chip: String
    public var line: UInt32
    /// Physical position, `CONNECTOR-NUMBER`, e.g. `P1-11`.
    public var header: String?
    /// Why the pin is risky to use for a sensor (UART console, I2C pull-ups, boot strapping), if it is.
    public var caution: String?

    public init(
        name: String, aliases: [String] = [], chip: String, line: UInt32, header: String?, caution: String? = nil
    ) {
        self.name = name
        self.aliases = aliases
        self.chip = chip
        self.line = line
        self.header = header
        self.caution = caution
    }
}

/// A GPIO line as the daemon will request it: a chip found by label and an offset on it.
public struct LineAddress: Sendable, Hashable, Encodable, CustomStringConvertible {
    /// Labels to look for, in order; the first chip present with one of them is used.
    public var chipLabels: [String]
    public var line: UInt32
    /// The board pin it came from, when it was given by name.
    public var pinName: String?

    public init(chipLabels: [String], line: UInt32, pinName: String? = nil) {
        self.chipLabels = chipLabels
        self.line = line
        self.pinName = pinName
    }

    /// `pinctrl-bcm2711 line 17 (GPIO17)`, the form errors use.
    public var description: String {
        let chip = chipLabels.joined(separator: "|")
        return pinName.map { "\(chip) line \(line) (\($0))" } ?? "\(chip) line \(line)"
    }
}
