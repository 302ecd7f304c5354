import Aggregator
import Foundation

/// The demo district's points (deploy/demo): which scenario profile and seed each runs
/// (`points.tsv`), and its name, street, community kind and coordinates (`aggregator.yaml.in`, read
/// line by line: the file's layout is fixed, and the bench needs none of the rest). The transfer
/// station is the depot.
struct DemoDistrict {
    struct Point {
        var device: String
        var name: String
        var street: String
        var community: String
        var communityKind: String
        var location: GeoLocation?
        var profile: String
        var seed: UInt64
    }

    var points: [Point]
    var depot: GeoLocation?

    struct Missing: Error, CustomStringConvertible {
        var description: String
    }

    static func load(directory: String) throws -> DemoDistrict {
        let table = try String(contentsOfFile: "\(directory)/points.tsv", encoding: .utf8)
        var profiles: [String: (profile: String, seed: UInt64)] = [:]
        for line in table.split(separator: "\n") where !line.hasPrefix("#") {
            let fields = line.split(separator: "\t").map(String.init)
            guard fields.count >= 3, let seed = UInt64(fields[2]) else { continue }
            profiles[fields[0]] = (fields[1], seed)
        }

        let yaml = try String(contentsOfFile: "\(directory)/aggregator.yaml.in", encoding: .utf8)
        var street = ""
        var community = ""
        var kind = ""
        var inStreets = false
        var points: [Point] = []
        var depot: GeoLocation?
        for line in yaml.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if !line.hasPrefix(" ") && !line.isEmpty { inStreets = line.hasPrefix("streets:") }
            guard inStreets else { continue }
            if line.hasPrefix("  - id: ") {
                street = String(line.dropFirst(8))
            } else if line.hasPrefix("      - id: ") {
                community = String(line.dropFirst(12))
                kind = ""
            } else if line.hasPrefix("        kind: ") {
                kind = String(line.dropFirst(14))
            } else if let open = line.firstIndex(of: "{"), line.contains("device:"), let close = line.lastIndex(of: "}")
            {
                var fields: [String: String] = [:]
                for pair in line[line.index(after: open)..<close].split(separator: ",") {
                    let parts = pair.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                    if parts.count == 2 { fields[parts[0]] = parts[1] }
                }
                guard let device = fields["device"] else { continue }
                var location: GeoLocation?
                if let lat = fields["lat"].flatMap(Double.init), let lon = fields["lon"].flatMap(Double.init) {
                    location = GeoLocation(latitude: lat, longitude: lon)
                }
                if kind == "transfer_station" {
                    depot = depot ?? location
                    continue
                }
                guard let assigned = profiles[device] else {
                    throw Missing(description: "\(device) is not in points.tsv")
                }
                points.append(
                    Point(
                        device: device, name: fields["name"] ?? device, street: street, community: community,
                        communityKind: kind,
                        location: location, profile: assigned.profile, seed: assigned.seed))
            }
        }
        guard !points.isEmpty else { throw Missing(description: "no points in \(directory)/aggregator.yaml.in") }
        return DemoDistrict(points: points, depot: depot)
    }
}
