import GPIO

/// Finding chips (by label, path, name, number), listing them and their lines, and the errors for
/// chips that are not there.
extension BackendChecks {
    func runChipChecks() {
        runner.run("chip found by label") {
            try expectEqual(chip.info.label, layout.label, "label")
            try expectEqual(chip.info.lineCount, layout.lineCount, "line count")
            try expectEqual(chip.info.path, "/dev/\(chip.info.name)", "path")
        }

        runner.run("lookup by label picks the right one of several chips") {
            let other = try LibgpiodChip(label: layout.otherLabel)
            try expectEqual(other.info.label, layout.otherLabel, "label of the other chip")
            try expectEqual(other.info.lineCount, layout.otherLineCount, "line count of the other chip")
            try expect(other.info.name != chip.info.name, "both labels opened \(chip.info.name)")
        }

        runner.run("chip found by path, name, number and configuration lookup") {
            let number = String(chip.info.name.dropFirst("gpiochip".count))
            let opened: [(String, LibgpiodChip)] = [
                ("path \(chip.info.path)", try LibgpiodChip(path: chip.info.path)),
                ("name \(chip.info.name)", try LibgpiodChip(name: chip.info.name)),
                ("number \(number)", try LibgpiodChip(number: UInt32(number)!)),
                ("lookup \(chip.info.path)", try LibgpiodChip(lookup: chip.info.path)),
                ("lookup \(number)", try LibgpiodChip(lookup: number)),
                ("lookup \(chip.info.name)", try LibgpiodChip(lookup: chip.info.name)),
                ("lookup \(layout.label)", try LibgpiodChip(lookup: layout.label)),
            ]
            for (how, found) in opened { try expectEqual(found.info, chip.info, "chip opened by \(how)") }
        }

        runner.run("a missing chip is a clear 'no such chip' error") {
            let byLabel = try expectGPIOError(.noSuchChip, "open by label") {
                try LibgpiodChip(label: "no-such-chip")
            }
            try expect(byLabel.description.contains("no-such-chip"), "error does not name the label: \(byLabel)")
            let byPath = try expectGPIOError(.noSuchChip, "open by path") {
                try LibgpiodChip(path: "/dev/gpiochip99")
            }
            try expect(
                byPath.description.contains("/dev/gpiochip99") && byPath.errno != nil,
                "error does not name the path and errno: \(byPath)")
            runner.info("missing chip: \(byPath)")
        }

        runner.run("a device that is not a GPIO chip is refused") {
            let error = try expectGPIOError(.noSuchChip, "open /dev/null") { try LibgpiodChip(path: "/dev/null") }
            try expect(error.description.contains("/dev/null"), "error does not name the path: \(error)")
            runner.info("not a chip: \(error)")
        }

        runner.run("listing: both simulated chips with labels and line counts") {
            let chips = try LibgpiodChip.listChips()
            try expect(chips.contains(chip.info), "\(chip.info) missing from \(chips)")
            try expect(
                chips.contains { $0.label == layout.otherLabel && $0.lineCount == layout.otherLineCount },
                "\(layout.otherLabel) missing from \(chips)")
        }

        runner.run("listing: line names, the kernel's hog, free lines") {
            let lines = try chip.allLineInfo()
            try expectEqual(lines.count, layout.lineCount, "number of lines listed")
            for line in lines where line.offset != layout.hoggedLine {
                try expectEqual(line.name, "\(layout.linePrefix)\(line.offset)", "name of line \(line.offset)")
                try expect(!line.isUsed, "line \(line.offset) is in use before any check requested it: \(line)")
            }
            let hog = lines[Int(layout.hoggedLine)]
            try expect(hog.isUsed, "the hogged line is not in use: \(hog)")
            try expectEqual(hog.consumer, layout.hogConsumer, "consumer of the hogged line")
            try expectEqual(hog.direction, .output, "direction of the hogged line")
        }

        runner.run("an offset past the last line is 'no such line' naming chip and line") {
            let offset = LineOffset(layout.lineCount)
            let error = try expectGPIOError(.noSuchLine, "line info past the end") { try chip.lineInfo(offset) }
            try expect(
                error.description.contains("\(chip.info.name) line \(offset)"),
                "error does not name chip and line: \(error)")
        }
    }
}
