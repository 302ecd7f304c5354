import GPIO
import Simulation

extension BoardDefinition {
    /// The name of the simulated board, as `board:` names it.
    public static let simulatedBoardName = "sim"

    /// The label `BinWorld` gives its chip (a test checks they agree).
    public static let simulatedChipLabel = "bins-sim"

    /// The board of the Simulation module's chip (`BinWorld`): one chip labelled `bins-sim` whose lines are
    /// named `GPIO0`...`GPIO63`. It is derived from the module's own constants, so `board: sim` resolves
    /// without a board file (a `binsd simulate` run from a build directory has none); `boards/sim.yaml`
    /// documents the same board and a test keeps the two equal.
    public static var simulated: BoardDefinition {
        let lineCount = BinWorld.boardLineCount
        return BoardDefinition(
            name: simulatedBoardName, description: "Simulated GPIO chip (Simulation module), \(lineCount) lines GPIO0..GPIO\(lineCount - 1)",
            sources: ["Simulation module: SimulatedChip label \(simulatedChipLabel), \(lineCount) lines"],
            defaultHeader: nil,
            chips: [BoardChip(id: "sim", labels: [simulatedChipLabel], lineCount: lineCount)],
            pins: (0..<lineCount).map { offset in
                BoardPin(name: BinWorld.Wiring.pinName(LineOffset(offset)), chip: "sim", line: UInt32(offset), header: nil)
            },
            notes: "No header and no unsafe pins: every line of the simulated chip is free for the device models.\n")
    }
}
