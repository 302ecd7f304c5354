import ArgumentParser

struct DriversBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drivers", abstract: "HX711 reads and ranger pings per second against the simulator.")

    func run() async throws {
        throw ValidationError("not implemented yet")
    }
}
