import GPIO

extension BoardDefinition {
    /// The name of the simulated board, as `board:` names it.
    public static let simulatedBoardName = "sim"

    /// The label `BinWorld` gives its chip (a test checks they agree).
    public static let simulatedChipLabel = "bins-sim"

    /// How many lines `BinWorld`'s chip has (a test checks they agree).
    public static let simulatedLineCount = 64

    /// The board of the Simulation module's chip (`BinWorld`): one chip labelled `bins-sim` whose lines are
    /// named `GPIO0`...`GPIO63`. It is plain data here, so `board: sim` resolves without a board file (a
    /// `binsd simulate` run from a build directory has none) while the daemon links nothing of the
    /// simulator: only `binsd-simulate` runs this board. `boards/sim.yaml` documents the same board and
    /// tests keep the three equal.
    public static var simulated: BoardDefinition {
        let lineCount = simulatedLineCount
        return BoardDefinition(
            name: simulatedBoardName,
            description: "Simulated GPIO chip (Simulation module), \(lineCount) lines GPIO0..GPIO\(lineCount - 1)",
            sources: ["Simulation module: SimulatedChip label \(simulatedChipLabel), \(lineCount) lines"],
            defaultHeader: nil,
            chips: [BoardChip(id: "sim", labels: [simulatedChipLabel], lineCount: lineCount)],
            pins: (0..<lineCount).map { offset in
                BoardPin(name: "GPIO\(offset)", chip: "sim", line: UInt32(offset), header: nil)
            },
            notes: "No header and no unsafe pins: every line of the simulated chip is free for the device models.\n")
    }
}
