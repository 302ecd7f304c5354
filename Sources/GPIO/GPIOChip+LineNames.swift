extension GPIOChip {
    /// The offset of the line with this name (as `gpioinfo` shows it, e.g. `GPIO17`), so a board
    /// file can name lines instead of numbering them. Names are not unique in the kernel; the first
    /// match wins, as with `gpiod_chip_find_line`.
    public func lineOffset(named name: String) throws(GPIOError) -> LineOffset {
        for offset in 0..<LineOffset(info.lineCount) where try lineInfo(offset).name == name {
            return offset
        }
        throw GPIOError(.noSuchLine, chip: info.name, detail: "no line is named '\(name)'")
    }
}
