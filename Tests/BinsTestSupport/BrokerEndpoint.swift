/// The broker a benchmark command talks to: the one its `--broker HOST:PORT` names, or a mosquitto started
/// for the run on a free loopback port by the same harness the tests use, so the benchmarks and the tests
/// measure against one kind of broker. A started broker is killed when the last reference to it goes.
public struct BrokerEndpoint: Sendable {
    public let host: String
    public let port: Int
    /// The broker started for the run; nil when one was given.
    public let started: MosquittoBroker?

    /// Parses `given` (`HOST:PORT`, IPv6 in brackets) or, when it is nil, starts a broker with `configuration`.
    public static func resolve(_ given: String?, orStart configuration: MosquittoBroker.Configuration = .init())
        async throws -> BrokerEndpoint
    {
        guard let given else {
            let broker = try await MosquittoBroker.start(
                configuration, in: TemporaryDirectory(prefix: "bins-bench-broker"))
            return BrokerEndpoint(host: broker.host, port: broker.port, started: broker)
        }
        guard let colon = given.lastIndex(of: ":"), let port = Int(given[given.index(after: colon)...]),
            (1...65_535).contains(port)
        else {
            throw TestSupportError("--broker \(given) is not HOST:PORT")
        }
        var host = String(given[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw TestSupportError("--broker \(given) names no host") }
        return BrokerEndpoint(host: host, port: port, started: nil)
    }

    /// Kills the broker started for the run (nothing for a given one).
    public func stop() async {
        try? await started?.kill()
    }
}
