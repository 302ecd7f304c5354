import ArgumentParser

struct FootprintBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "footprint", abstract: "resident memory and CPU of binsd run on the sim board.")

    func run() async throws {
        throw ValidationError("not implemented yet")
    }
}
