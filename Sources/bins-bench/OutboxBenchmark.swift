import ArgumentParser

struct OutboxBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "outbox", abstract: "QoS 1 publish throughput through the outbox against a raw baseline.")

    func run() async throws {
        throw ValidationError("not implemented yet")
    }
}
