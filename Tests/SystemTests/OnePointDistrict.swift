import BinsTestSupport
import Foundation

/// The district most system tests need: one point's scenario, a broker that knows the point and a running
/// aggregator serving it, in one temporary directory. What the tests then do to it (disturb the broker,
/// kill the aggregator, read alerts) is their own.
struct OnePointDistrict {
    let directory: TemporaryDirectory
    let scenario: ScenarioWriter
    let district: DistrictBroker
    let aggregator: AggregatorProcess

    var device: String { scenario.device }

    /// Starts the broker and the aggregator (with `alerts` as its alert rules); the point is not started yet.
    static func start(
        _ scenario: ScenarioWriter, prefix: String, alerts: AlertRules = AlertRules()
    ) async throws -> OnePointDistrict {
        let directory = try TemporaryDirectory(prefix: prefix)
        let district = try await DistrictBroker.start(devices: [scenario.device], in: directory)
        let aggregator = try AggregatorProcess(
            district: district, registry: .single([scenario.device]), alerts: alerts, in: directory)
        try await aggregator.start()
        return OnePointDistrict(directory: directory, scenario: scenario, district: district, aggregator: aggregator)
    }

    /// Starts `binsd simulate` on the scenario (`speed` virtual seconds per real second; flat out without it).
    func startPoint(speed: Double? = nil, extraArguments: [String] = []) throws -> SimulatedPoint {
        try SimulatedPoint.start(
            scenario: try scenario.write(in: directory), device: device, district: district, in: directory,
            speed: speed, extraArguments: extraArguments)
    }

    /// Waits for the point's scenario to end and for the aggregator to have booked every event it sent.
    func finish(_ point: SimulatedPoint) async throws -> SimulatedPoint.Summary {
        let summary = try await point.finish()
        try await aggregator.waitUntilBooked([device: summary.lastSeq], in: directory)
        return summary
    }

    /// The whole scenario, flat out and undisturbed, booked.
    func play() async throws -> SimulatedPoint.Summary {
        try await finish(try startPoint())
    }
}
