import Aggregator
import Foundation

/// The bins map: the district's points as coloured markers on a Web-Mercator projection of their
/// configured coordinates, with street names and a scale bar. It needs no tile server and no internet;
/// when a tile URL is configured, tiles are drawn underneath (same projection, so they line up).
struct BinsMap {
    struct Marker {
        var device: String
        var name: String
        var street: String
        var location: GeoLocation
        var condition: DistrictSnapshot.Condition
        var label: String
    }

    var markers: [Marker]
    /// Street id → name.
    var streetNames: [String: String]
    var tiles: String?
    var attribution: String?

    static let colors: [DistrictSnapshot.Condition: String] = [
        .ok: "#2e7d32", .full: "#e08a00", .fault: "#c0392b", .offline: "#555b66", .unknown: "#9aa0a6",
    ]

    /// Normalised Web-Mercator coordinates: x and y in 0…1, y growing southwards.
    static func project(_ location: GeoLocation) -> (x: Double, y: Double) {
        let latitude = min(max(location.latitude, -85.05), 85.05) * .pi / 180
        let x = (location.longitude + 180) / 360
        let y = (1 - log(tan(latitude) + 1 / cos(latitude)) / .pi) / 2
        return (x, y)
    }

    func svg(width: Double = 800) -> String {
        guard !markers.isEmpty else { return "" }
        let projected = markers.map { Self.project($0.location) }
        var minX = projected.map(\.x).min()!
        var maxX = projected.map(\.x).max()!
        var minY = projected.map(\.y).min()!
        var maxY = projected.map(\.y).max()!
        // At least about 300 m across, and a margin around the outermost points.
        let minimumSpan = 300 / 40_075_016.0 / cos(markers[0].location.latitude * .pi / 180)
        if maxX - minX < minimumSpan {
            (minX, maxX) = ((minX + maxX) / 2 - minimumSpan / 2, (minX + maxX) / 2 + minimumSpan / 2)
        }
        if maxY - minY < minimumSpan {
            (minY, maxY) = ((minY + maxY) / 2 - minimumSpan / 2, (minY + maxY) / 2 + minimumSpan / 2)
        }
        let marginX = (maxX - minX) * 0.12
        let marginY = (maxY - minY) * 0.15
        minX -= marginX
        maxX += marginX
        minY -= marginY
        maxY += marginY
        var height = width * (maxY - minY) / (maxX - minX)
        if height > width * 0.9 {
            // A tall district: widen the view instead of drawing a tower.
            let extra = ((maxY - minY) / 0.9 - (maxX - minX)) / 2
            minX -= extra
            maxX += extra
            height = width * 0.9
        } else if height < width * 0.45 {
            let extra = ((maxX - minX) * 0.45 - (maxY - minY)) / 2
            minY -= extra
            maxY += extra
            height = width * 0.45
        }
        let scale = width / (maxX - minX)
        func point(_ p: (x: Double, y: Double)) -> (Double, Double) { ((p.x - minX) * scale, (p.y - minY) * scale) }
        func n(_ value: Double) -> String { String(format: "%.1f", value) }
        let escape = HTMLText.escape

        var svg =
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" class=\"map\" role=\"img\" font-size=\"13\">"
        svg += "<rect width=\"100%\" height=\"100%\" fill=\"#eef2ec\"/>"
        if let tiles {
            svg += tileImages(tiles, minX: minX, maxX: maxX, minY: minY, maxY: maxY, scale: scale)
        } else {
            // A light grid, so the plain projection still reads as a map.
            for step in 1..<8 {
                let x = width * Double(step) / 8
                let y = height * Double(step) / 8
                svg += "<line x1=\"\(n(x))\" x2=\"\(n(x))\" y1=\"0\" y2=\"\(n(height))\" stroke=\"#dfe6dc\"/>"
                svg += "<line x1=\"0\" x2=\"\(n(width))\" y1=\"\(n(y))\" y2=\"\(n(y))\" stroke=\"#dfe6dc\"/>"
            }
        }
        // Street names at the middle of their points, under the markers.
        var byStreet: [String: [(Double, Double)]] = [:]
        for (marker, p) in zip(markers, projected) { byStreet[marker.street, default: []].append(point(p)) }
        for (street, spots) in byStreet.sorted(by: { $0.key < $1.key }) {
            let cx = spots.map(\.0).reduce(0, +) / Double(spots.count)
            let cy = spots.map(\.1).reduce(0, +) / Double(spots.count)
            let y = min(max(cy - 18, 16), height - 6)
            svg +=
                "<text x=\"\(n(cx))\" y=\"\(n(y))\" text-anchor=\"middle\" class=\"street-label\">\(escape(streetNames[street] ?? street))</text>"
        }
        // Worst conditions last, so they are drawn on top.
        let order: [DistrictSnapshot.Condition] = [.unknown, .ok, .full, .offline, .fault]
        for (marker, p) in zip(markers, projected).sorted(by: {
            order.firstIndex(of: $0.0.condition)! < order.firstIndex(of: $1.0.condition)!
        }) {
            let (x, y) = point(p)
            let color = Self.colors[marker.condition] ?? "#2e7d32"
            svg +=
                "<a href=\"/points/\(escape(marker.device))\" class=\"marker \(marker.condition.rawValue)\" data-device=\"\(escape(marker.device))\">"
            svg += "<title>\(escape(marker.name)) (\(escape(marker.device))): \(escape(marker.label))</title>"
            svg +=
                "<circle class=\"pin\" cx=\"\(n(x))\" cy=\"\(n(y))\" r=\"9\" fill=\"\(color)\" stroke=\"#fff\" stroke-width=\"2.5\"/>"
            if marker.condition != .ok && marker.condition != .unknown {
                svg +=
                    "<circle class=\"halo\" cx=\"\(n(x))\" cy=\"\(n(y))\" r=\"14\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.5\" opacity=\"0.55\"/>"
            }
            svg += "</a>"
        }
        svg += scaleBar(width: width, height: height, scale: scale, latitude: markers[0].location.latitude)
        svg +=
            "<g class=\"north\"><path d=\"M\(n(width - 24)) 34 l8 -22 l8 22 l-8 -6z\" fill=\"#37474f\"/><text x=\"\(n(width - 16))\" y=\"50\" text-anchor=\"middle\" fill=\"#37474f\">N</text></g>"
        if tiles != nil, let attribution {
            svg +=
                "<text x=\"\(n(width - 6))\" y=\"\(n(height - 6))\" text-anchor=\"end\" font-size=\"10\" fill=\"#333\">\(escape(attribution))</text>"
        }
        return svg + "</svg>"
    }

    /// A bar of a round length (50 m, 100 m, 200 m, 500 m, 1 km …) near a fifth of the width.
    func scaleBar(width: Double, height: Double, scale: Double, latitude: Double) -> String {
        let metresPerUnit = 40_075_016.0 * cos(latitude * .pi / 180)
        let pixelsPerMetre = scale / metresPerUnit
        let wanted = width / 5 / pixelsPerMetre
        let candidates: [Double] = [10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000]
        let metres = candidates.last { $0 <= wanted } ?? candidates[0]
        let length = metres * pixelsPerMetre
        let label = metres >= 1000 ? "\(Int(metres / 1000)) km" : "\(Int(metres)) m"
        let x = 14.0
        let y = height - 16
        return
            "<g class=\"scale\"><rect x=\"\(x - 6)\" y=\"\(y - 20)\" width=\"\(String(format: "%.1f", length + 12))\" height=\"28\" rx=\"4\" fill=\"#ffffff\" opacity=\"0.8\"/>"
            + "<path d=\"M\(x) \(y - 6) v6 h\(String(format: "%.1f", length)) v-6\" fill=\"none\" stroke=\"#333\" stroke-width=\"2\"/>"
            + "<text x=\"\(x)\" y=\"\(y - 9)\" font-size=\"11\" fill=\"#333\">\(label)</text></g>"
    }

    func tileImages(_ template: String, minX: Double, maxX: Double, minY: Double, maxY: Double, scale: Double) -> String
    {
        // The zoom at which one tile pixel is about one map unit of the drawing.
        let zoom = min(19, max(0, Int((log2(scale / 256)).rounded())))
        let tiles = Double(1 << zoom)
        let firstX = Int(floor(minX * tiles))
        let lastX = Int(floor(maxX * tiles))
        let firstY = Int(floor(minY * tiles))
        let lastY = Int(floor(maxY * tiles))
        guard (lastX - firstX + 1) * (lastY - firstY + 1) <= 64 else { return "" }
        var svg = ""
        for ty in firstY...lastY {
            for tx in firstX...lastX {
                let url = template.replacingOccurrences(of: "{z}", with: String(zoom))
                    .replacingOccurrences(of: "{x}", with: String(tx)).replacingOccurrences(of: "{y}", with: String(ty))
                let x = (Double(tx) / tiles - minX) * scale
                let y = (Double(ty) / tiles - minY) * scale
                let size = scale / tiles
                let box = String(
                    format: "x=\"%.1f\" y=\"%.1f\" width=\"%.2f\" height=\"%.2f\"", x, y, size + 0.5, size + 0.5)
                svg += "<image href=\"\(HTMLText.escape(url))\" \(box) preserveAspectRatio=\"none\"/>"
            }
        }
        return svg
    }
}
