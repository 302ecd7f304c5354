import BinProtocol
import YAMLConfig

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Reads and validates board files (`boards/*.yaml`).
public enum BoardLoader {
    /// Where `board: NAME` is looked up, in order, after the directories a caller passes: an installed
    /// package puts the shipped boards in `/usr/share/binsd/boards`, an installer's own in `/etc/binsd/boards`.
    public static let systemSearchPaths = [
        "/etc/binsd/boards", "/usr/local/share/binsd/boards", "/usr/share/binsd/boards",
    ]

    /// Loads the board a daemon config names: a path when `reference` contains `/` or ends in `.yaml`
    /// (relative paths are taken from `relativeTo`), otherwise `NAME.yaml` in the first of `searchPaths`
    /// that has it.
    public static func load(reference: String, relativeTo directory: String?, searchPaths: [String])
        throws(BinDaemonError) -> BoardDefinition
    {
        guard let path = locate(reference: reference, relativeTo: directory, searchPaths: searchPaths) else {
            let looked = searchPaths.isEmpty ? "no board directories" : searchPaths.joined(separator: ", ")
            throw BinDaemonError(.invalidBoard, "board \"\(reference)\" not found (looked in \(looked))")
        }
        return try load(path: path)
    }

    /// The file `reference` refers to, if it exists.
    public static func locate(reference: String, relativeTo directory: String?, searchPaths: [String]) -> String? {
        let fileManager = FileManager.default
        if reference.contains("/") || reference.hasSuffix(".yaml") || reference.hasSuffix(".yml") {
            let path = reference.hasPrefix("/") || directory == nil ? reference : "\(directory!)/\(reference)"
            return fileManager.fileExists(atPath: path) ? path : nil
        }
        guard Topics.isValidIdentifier(reference) else { return nil }
        for directory in searchPaths {
            let path = "\(directory)/\(reference).yaml"
            if fileManager.fileExists(atPath: path) { return path }
        }
        return nil
    }

    public static func load(path: String) throws(BinDaemonError) -> BoardDefinition {
        try parse(yaml: try FileText.read(path), file: path)
    }

    /// Every `*.yaml` in `directory`, sorted by file name.
    public static func boardFiles(in directory: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasSuffix(".yaml") }.sorted().map { "\(directory)/\($0)" }
    }

    public static func parse(yaml text: String, file: String) throws(BinDaemonError) -> BoardDefinition {
        do {
            return try YAMLDocument.parse(yaml: text, file: file, what: "board file", read).value
        } catch {
            throw BinDaemonError(error, invalid: .invalidBoard)
        }
    }

    static func read(_ root: YAMLValue) -> BoardDefinition? {
        root.fields { fields in
            let name = fields.required("board")?.string(
                "board name", rule: Topics.identifierRule, isValid: Topics.isValidIdentifier)
            let description = fields.required("description")?.string() ?? ""
            let sources = fields.optional("sources")?.list()?.compactMap { $0.string() } ?? []
            let defaultHeader = fields.optional("header")?.string()
            let notes = fields.optional("notes")?.string()
            let chips = fields.required("chips").map(readChips) ?? []
            let pins = fields.required("pins").map { readPins($0, chips: chips) } ?? []
            guard let name else { return nil }
            return BoardDefinition(
                name: name, description: description, sources: sources, defaultHeader: defaultHeader, chips: chips,
                pins: pins, notes: notes)
        }
    }

    /// `chips: {ID: {labels: [...], lines: N}}`.
    static func readChips(_ value: YAMLValue) -> [BoardChip] {
        let chips =
            value.fields { chipFields -> [BoardChip]? in
                chipFields.keys.compactMap { id in
                    chipFields.optional(id)?.fields { chip -> BoardChip? in
                        let labelsValue = chip.required("labels")
                        let labels = labelsValue?.list()?.compactMap { $0.string() } ?? []
                        if let labelsValue, labels.isEmpty { labelsValue.error("at least one label is needed") }
                        let lineCount = chip.optional("lines")?.int("must be greater than 0") { $0 > 0 }
                        return BoardChip(id: id, labels: labels, lineCount: lineCount)
                    }
                }
            } ?? []
        if chips.isEmpty { value.error("at least one chip is needed") }
        return chips
    }

    /// `pins: [{name, aliases, chip, line, header, caution}]`: every name, alias and header position
    /// names one pin, and every line is one pin.
    static func readPins(_ value: YAMLValue, chips: [BoardChip]) -> [BoardPin] {
        guard let list = value.list() else { return [] }
        if list.isEmpty { value.error("at least one pin is needed") }
        var pins: [BoardPin] = []
        var seenNames: [String: String] = [:]
        var seenLines: [String: String] = [:]
        for item in list {
            let pin = item.fields { pin -> BoardPin? in
                let pinName = pin.required("name")?.string()
                let aliases = pin.optional("aliases")?.list()?.compactMap { $0.string() } ?? []
                let chipValue = pin.required("chip")
                let chipID = chipValue?.string()
                let lineValue = pin.required("line")
                let line = lineValue?.int()
                let header = pin.optional("header")?.string()
                let caution = pin.optional("caution")?.string()
                guard let pinName, let chipID, let chipValue, let line, let lineValue else { return nil }
                guard let chip = chips.first(where: { $0.id == chipID }) else {
                    chipValue.error(
                        "unknown chip \"\(chipID)\" (the board declares \(chips.map(\.id).joined(separator: ", ")))")
                    return nil
                }
                if line < 0 || chip.lineCount.map({ line >= $0 }) == true {
                    let limit = chip.lineCount.map { " (chip \(chipID) has \($0) lines)" } ?? ""
                    lineValue.error("line \(line) does not exist\(limit)")
                    return nil
                }
                for reference in [pinName] + aliases + (header.map { [$0] } ?? []) {
                    let key = BoardDefinition.normalize(reference)
                    if let other = seenNames[key], other != pinName {
                        item.error("\"\(reference)\" is already used by pin \(other)")
                    }
                    seenNames[key] = pinName
                }
                let lineKey = "\(chipID)/\(line)"
                if let other = seenLines[lineKey] {
                    lineValue.error("chip \(chipID) line \(line) is already pin \(other)")
                }
                seenLines[lineKey] = pinName
                return BoardPin(
                    name: pinName, aliases: aliases, chip: chipID, line: UInt32(line), header: header, caution: caution)
            }
            if let pin { pins.append(pin) }
        }
        return pins
    }
}
