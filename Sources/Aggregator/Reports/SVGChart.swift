import BinProtocol
import Foundation

/// Text made safe for HTML and SVG: `&`, `<`, `>`, `"` and `'` replaced by entities. Everything the
/// reports and the console draw from data (names from the registry, device-supplied details) goes
/// through it.
public enum HTMLText {
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }
}

/// A bar chart, stacked when there are several series, drawn as inline SVG with a value axis, category
/// labels and a legend. The printable reports and the console draw their bar charts with it.
public struct SVGChart: Sendable {
    public struct Series: Sendable {
        public var name: String
        /// A CSS colour.
        public var color: String
        public var values: [Double]

        public init(name: String, color: String, values: [Double]) {
            self.name = name
            self.color = color
            self.values = values
        }
    }

    public var categories: [String]
    public var series: [Series]
    public var unit: String

    public init(categories: [String], series: [Series], unit: String) {
        self.categories = categories
        self.series = series
        self.unit = unit
    }

    /// The chart in a `viewBox` of `width` × `height`; it scales to its container.
    public func svg(width: Double = 760, height: Double = 260, fontSize: Double = 10, title: String? = nil) -> String {
        let left = 14 + fontSize * 4.2
        let right = 12.0
        // Room for the unit above the axis.
        let top = unit.isEmpty ? 12.0 : fontSize * 2
        let legendHeight = series.count > 1 ? fontSize * 2.2 : 0
        let rotate = categories.count > Int(width / 95) || categories.contains { $0.count > 10 }
        let bottom = (rotate ? fontSize * 7 : fontSize * 2.8) + legendHeight
        let plotWidth = width - left - right
        let plotHeight = height - top - bottom
        let totals = categories.indices.map { index in
            series.reduce(0) { $0 + max(0, index < $1.values.count ? $1.values[index] : 0) }
        }
        let axisMax = Self.niceCeiling(totals.max() ?? 0)
        func y(_ value: Double) -> Double { top + plotHeight - plotHeight * value / axisMax }
        func number(_ value: Double) -> String { String(format: "%.1f", value) }
        let escape = HTMLText.escape

        var svg =
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\" font-size=\"\(number(fontSize))\""
        if let title { svg += " aria-label=\"\(escape(title))\"" }
        svg += ">"
        for step in 0...4 {
            let value = axisMax * Double(step) / 4
            let lineY = number(y(value))
            svg +=
                "<line x1=\"\(number(left))\" x2=\"\(number(width - right))\" y1=\"\(lineY)\" y2=\"\(lineY)\" stroke=\"#ddd\"/>"
            let label =
                value >= 100 ? String(Int(value.rounded())) : String(format: "%g", (value * 100).rounded() / 100)
            svg +=
                "<text x=\"\(number(left - 6))\" y=\"\(number(y(value) + fontSize * 0.3))\" text-anchor=\"end\" fill=\"#555\">\(escape(label))</text>"
        }
        if !unit.isEmpty {
            svg += "<text x=\"4\" y=\"\(number(fontSize))\" fill=\"#555\">\(escape(unit))</text>"
        }
        let slot = plotWidth / Double(max(categories.count, 1))
        let barWidth = max(2, min(48, slot * 0.7))
        for (index, category) in categories.enumerated() {
            let x = left + slot * Double(index) + (slot - barWidth) / 2
            var base = 0.0
            for series in series {
                let value = max(0, index < series.values.count ? series.values[index] : 0)
                guard value > 0 else { continue }
                let y0 = y(base + value)
                let barHeight = y(base) - y0
                svg +=
                    "<rect x=\"\(number(x))\" y=\"\(number(y0))\" width=\"\(number(barWidth))\" height=\"\(number(barHeight))\" fill=\"\(escape(series.color))\"><title>\(escape(category)): \(escape(series.name)) \(escape(number(value))) \(escape(unit))</title></rect>"
                base += value
            }
            let labelX = x + barWidth / 2
            let labelY = top + plotHeight + fontSize * 1.2
            if rotate {
                svg +=
                    "<text x=\"\(number(labelX))\" y=\"\(number(labelY))\" text-anchor=\"end\" transform=\"rotate(-40 \(number(labelX)) \(number(labelY)))\" fill=\"#333\">\(escape(String(category.prefix(24))))</text>"
            } else {
                svg +=
                    "<text x=\"\(number(labelX))\" y=\"\(number(labelY))\" text-anchor=\"middle\" fill=\"#333\">\(escape(category))</text>"
            }
        }
        svg +=
            "<line x1=\"\(number(left))\" x2=\"\(number(width - right))\" y1=\"\(number(top + plotHeight))\" y2=\"\(number(top + plotHeight))\" stroke=\"#555\"/>"
        if series.count > 1 {
            var x = left
            let legendY = height - fontSize * 0.8
            for series in series {
                svg +=
                    "<rect x=\"\(number(x))\" y=\"\(number(legendY - fontSize * 0.9))\" width=\"\(number(fontSize))\" height=\"\(number(fontSize))\" fill=\"\(escape(series.color))\"/>"
                svg +=
                    "<text x=\"\(number(x + fontSize * 1.4))\" y=\"\(number(legendY))\" fill=\"#333\">\(escape(series.name))</text>"
                x += fontSize * 2.4 + Self.textWidth(series.name, fontSize: fontSize)
            }
        }
        return svg + "</svg>"
    }

    /// Roughly how wide `text` is drawn (generously): CJK characters a little over a font size, others 0.7.
    static func textWidth(_ text: String, fontSize: Double) -> Double {
        text.unicodeScalars.reduce(0) { $0 + ($1.value >= 0x2E80 ? fontSize * 1.1 : fontSize * 0.7) }
    }

    /// 1, 2 or 5 times a power of ten at or above `value` (at least 1).
    public static func niceCeiling(_ value: Double) -> Double {
        guard value > 0, value.isFinite else { return 1 }
        let magnitude = pow(10, floor(log10(value)))
        for factor in [1.0, 2, 5, 10] where factor * magnitude >= value { return factor * magnitude }
        return 10 * magnitude
    }
}

/// A small line chart of a fraction (0…1) per day with a dashed target line: the trend of one target.
public struct SVGTrend: Sendable {
    /// One value per day, oldest first; `nil` where the day had no data.
    public var values: [Double?]
    public var target: Double?
    /// A second, dotted line (a coverage plan), one value per day.
    public var plan: [Double?]
    public var color: String

    public init(values: [Double?], target: Double?, plan: [Double?] = [], color: String = "#2f6fb3") {
        self.values = values
        self.target = target
        self.plan = plan
        self.color = color
    }

    public func svg(
        width: Double = 320, height: Double = 110, fontSize: Double = 11, firstLabel: String, lastLabel: String,
        title: String
    ) -> String {
        let left = fontSize * 3.2
        let right = 6.0
        let top = 8.0
        let bottom = fontSize * 1.8
        let plotWidth = width - left - right
        let plotHeight = height - top - bottom
        let highest = ([target ?? 0] + values.compactMap { $0 } + plan.compactMap { $0 }).max() ?? 0
        let axisMax =
            highest > 1
            ? SVGChart.niceCeiling(highest) : (highest > 0.5 ? 1 : max(0.1, (highest * 1.25 * 10).rounded(.up) / 10))
        let count = max(max(values.count, plan.count), 2)
        func x(_ index: Int) -> Double { left + plotWidth * Double(index) / Double(count - 1) }
        func y(_ value: Double) -> Double { top + plotHeight - plotHeight * min(max(value, 0), axisMax) / axisMax }
        func number(_ value: Double) -> String { String(format: "%.1f", value) }
        func percent(_ value: Double) -> String { String(format: "%.0f%%", value * 100) }
        let escape = HTMLText.escape

        var svg =
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\" aria-label=\"\(escape(title))\" font-size=\"\(number(fontSize))\">"
        for value in [0, axisMax / 2, axisMax] {
            svg +=
                "<line x1=\"\(number(left))\" x2=\"\(number(width - right))\" y1=\"\(number(y(value)))\" y2=\"\(number(y(value)))\" stroke=\"#e3e3e3\"/>"
            svg +=
                "<text x=\"\(number(left - 4))\" y=\"\(number(y(value) + fontSize * 0.35))\" text-anchor=\"end\" fill=\"#666\">\(percent(value))</text>"
        }
        if let target {
            svg +=
                "<line x1=\"\(number(left))\" x2=\"\(number(width - right))\" y1=\"\(number(y(target)))\" y2=\"\(number(y(target)))\" stroke=\"#c0392b\" stroke-dasharray=\"5 4\"><title>\(percent(target))</title></line>"
        }
        svg += Self.path(plan, x: x, y: y, color: "#8a8a8a", dashed: true)
        svg += Self.path(values, x: x, y: y, color: color, dashed: false)
        for (index, value) in values.enumerated() {
            guard let value else { continue }
            svg +=
                "<circle cx=\"\(number(x(index)))\" cy=\"\(number(y(value)))\" r=\"2.2\" fill=\"\(escape(color))\"><title>\(percent(value))</title></circle>"
        }
        let labelY = height - fontSize * 0.4
        svg += "<text x=\"\(number(left))\" y=\"\(number(labelY))\" fill=\"#666\">\(escape(firstLabel))</text>"
        svg +=
            "<text x=\"\(number(width - right))\" y=\"\(number(labelY))\" text-anchor=\"end\" fill=\"#666\">\(escape(lastLabel))</text>"
        return svg + "</svg>"
    }

    /// A polyline through the values, broken where a day has none.
    static func path(_ values: [Double?], x: (Int) -> Double, y: (Double) -> Double, color: String, dashed: Bool)
        -> String
    {
        var segments: [[String]] = [[]]
        for (index, value) in values.enumerated() {
            if let value {
                segments[segments.count - 1].append(String(format: "%.1f,%.1f", x(index), y(value)))
            } else if !(segments.last?.isEmpty ?? true) {
                segments.append([])
            }
        }
        return segments.filter { $0.count > 1 }.map {
            "<polyline points=\"\($0.joined(separator: " "))\" fill=\"none\" stroke=\"\(HTMLText.escape(color))\" stroke-width=\"2\"\(dashed ? " stroke-dasharray=\"2 3\"" : "")/>"
        }.joined()
    }
}

extension WasteStream {
    /// The stream's colour in every chart and on the console.
    public var color: String {
        switch self {
        case .wet: "#6b8e23"
        case .dry: "#7a7a7a"
        case .recyclable: "#2f6fb3"
        case .hazardous: "#c0392b"
        }
    }
}
