import BinProtocol
import Foundation

/// Renders a report as JSON (the typed report, language-neutral keys), CSV (the document's sections one
/// after another: a title line, a header row, data rows, a blank line) or a self-contained, printable
/// HTML page with inline CSS and SVG charts (no scripts, no external resources).
public enum ReportRenderer {
    public static func render(_ content: ReportContent, format: ReportFormat, language: ReportLanguage) -> [UInt8] {
        switch format {
        case .json: return json(content)
        case .csv: return Array(csv(ReportDocument(content, labels: ReportLabels(language: language)), language: language).utf8)
        case .html: return Array(html(ReportDocument(content, labels: ReportLabels(language: language)), language: language).utf8)
        }
    }

    // MARK: JSON

    static func json(_ content: ReportContent) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let data: Data?
        switch content {
        case .daily(let report): data = try? encoder.encode(report)
        case .weekly(let report): data = try? encoder.encode(report)
        case .monthly(let report): data = try? encoder.encode(report)
        case .review(let report): data = try? encoder.encode(report)
        }
        return Array(data ?? Data("{}".utf8)) + [UInt8(ascii: "\n")]
    }

    // MARK: Cells

    static func text(_ cell: ReportDocument.Cell, forCSV: Bool) -> String {
        switch cell {
        case .text(let text): return text
        case .number(let value, let decimals):
            guard let value, value.isFinite else { return forCSV ? "" : "–" }
            return String(format: "%.\(decimals)f", value)
        case .percent(let value):
            guard let value, value.isFinite else { return forCSV ? "" : "–" }
            return String(format: forCSV ? "%.2f%%" : "%.1f%%", value * 100)
        case .integer(let value):
            guard let value else { return forCSV ? "" : "–" }
            return String(value)
        }
    }

    // MARK: CSV

    static func csv(_ document: ReportDocument, language: ReportLanguage) -> String {
        var lines: [String] = []
        lines.append(csvRow([document.title]))
        for (label, value) in document.meta { lines.append(csvRow([label, value])) }
        for section in document.sections {
            lines.append("")
            lines.append(csvRow([section.title]))
            lines.append(csvRow(section.table.columns))
            for row in section.table.rows {
                lines.append(csvRow(row.map { cell in
                    if case .text(let text) = cell { return neutralised(text) }
                    return text(cell, forCSV: true)
                }))
            }
        }
        // Spreadsheet programs need the byte order mark to read Chinese text in CSV as UTF-8.
        return (language == .zh ? "\u{FEFF}" : "") + lines.joined(separator: "\r\n") + "\r\n"
    }

    static func csvRow(_ fields: [String]) -> String {
        fields.map { field in
            field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
                ? "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : field
        }.joined(separator: ",")
    }

    /// Text that a spreadsheet would run as a formula (device-supplied fault details, say) gets a leading
    /// apostrophe.
    static func neutralised(_ text: String) -> String {
        guard let first = text.first, "=+-@\t\r".contains(first), Double(text) == nil else { return text }
        return "'" + text
    }

    // MARK: HTML

    static func escape(_ text: String) -> String {
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

    static func html(_ document: ReportDocument, language: ReportLanguage) -> String {
        let none = ReportLabels(language: language)(.none)
        var body = "<header><h1>\(escape(document.title))</h1><dl class=\"meta\">"
        for (label, value) in document.meta { body += "<dt>\(escape(label))</dt><dd>\(escape(value))</dd>" }
        body += "</dl></header>\n"
        for section in document.sections {
            body += "<section><h2>\(escape(section.title))</h2>\n"
            if let chart = section.chart, !chart.categories.isEmpty { body += "<figure>\(svg(chart))</figure>\n" }
            if section.table.rows.isEmpty {
                body += "<p class=\"none\">\(escape(none))</p>"
            } else {
                body += "<table><thead><tr>"
                body += section.table.columns.map { "<th>\(escape($0))</th>" }.joined()
                body += "</tr></thead><tbody>"
                for row in section.table.rows {
                    body += "<tr>"
                    for cell in row {
                        if case .text(let value) = cell {
                            body += "<td>\(escape(value))</td>"
                        } else {
                            body += "<td class=\"n\">\(escape(text(cell, forCSV: false)))</td>"
                        }
                    }
                    body += "</tr>"
                }
                body += "</tbody></table>"
            }
            body += "</section>\n"
        }
        return """
            <!DOCTYPE html>
            <html lang="\(language == .zh ? "zh-CN" : "en")">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(escape(document.title))</title>
            <style>
            body { font-family: "Noto Sans CJK SC", "Noto Sans SC", "PingFang SC", "Microsoft YaHei", "Helvetica Neue", Arial, sans-serif; color: #222; margin: 2em; font-size: 10.5pt; }
            h1 { font-size: 18pt; margin: 0 0 0.3em; }
            h2 { font-size: 13pt; border-bottom: 2px solid #6b8e23; padding-bottom: 0.2em; margin-top: 1.6em; }
            dl.meta { display: grid; grid-template-columns: max-content auto; gap: 0.15em 1em; margin: 0; }
            dl.meta dt { color: #555; }
            dl.meta dd { margin: 0; }
            table { border-collapse: collapse; width: 100%; margin-top: 0.6em; }
            th, td { border: 1px solid #ccc; padding: 0.25em 0.45em; text-align: left; vertical-align: top; }
            th { background: #f0f3ea; font-weight: 600; }
            td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
            tbody tr:nth-child(even) { background: #fafafa; }
            figure { margin: 0.6em 0; }
            svg { max-width: 100%; height: auto; }
            p.none { color: #666; font-style: italic; }
            @page { size: A4 landscape; margin: 12mm; }
            @media print { body { margin: 0; font-size: 9pt; } section { break-inside: avoid-page; } thead { display: table-header-group; } tr { break-inside: avoid; } }
            </style>
            </head>
            <body>
            \(body)</body>
            </html>

            """
    }

    /// A bar chart (stacked when several series) with a value axis, category labels and a legend.
    static func svg(_ chart: ReportDocument.Chart) -> String {
        let width = 760.0
        let height = 260.0
        let left = 56.0
        let right = 12.0
        let top = 12.0
        let legendHeight = chart.series.count > 1 ? 22.0 : 0
        let rotate = chart.categories.count > 8 || chart.categories.contains { $0.count > 10 }
        let bottom = (rotate ? 70.0 : 28.0) + legendHeight
        let plotWidth = width - left - right
        let plotHeight = height - top - bottom
        let totals = chart.categories.indices.map { index in
            chart.series.reduce(0) { $0 + max(0, index < $1.values.count ? $1.values[index] : 0) }
        }
        let axisMax = niceCeiling(totals.max() ?? 0)
        func y(_ value: Double) -> Double { top + plotHeight - plotHeight * value / axisMax }
        func number(_ value: Double) -> String { String(format: "%.1f", value) }

        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\" font-size=\"10\">"
        for step in 0...4 {
            let value = axisMax * Double(step) / 4
            let lineY = number(y(value))
            svg += "<line x1=\"\(number(left))\" x2=\"\(number(width - right))\" y1=\"\(lineY)\" y2=\"\(lineY)\" stroke=\"#ddd\"/>"
            let label = value >= 100 ? String(Int(value.rounded())) : String(format: "%g", (value * 100).rounded() / 100)
            svg += "<text x=\"\(number(left - 6))\" y=\"\(number(y(value) + 3))\" text-anchor=\"end\" fill=\"#555\">\(escape(label))</text>"
        }
        if !chart.unit.isEmpty {
            svg += "<text x=\"4\" y=\"\(number(top + 4))\" fill=\"#555\">\(escape(chart.unit))</text>"
        }
        let slot = plotWidth / Double(max(chart.categories.count, 1))
        let barWidth = max(2, min(48, slot * 0.7))
        for (index, category) in chart.categories.enumerated() {
            let x = left + slot * Double(index) + (slot - barWidth) / 2
            var base = 0.0
            for series in chart.series {
                let value = max(0, index < series.values.count ? series.values[index] : 0)
                guard value > 0 else { continue }
                let y0 = y(base + value)
                let barHeight = y(base) - y0
                svg += "<rect x=\"\(number(x))\" y=\"\(number(y0))\" width=\"\(number(barWidth))\" height=\"\(number(barHeight))\" fill=\"\(series.color)\"><title>\(escape(category)): \(escape(series.name)) \(escape(number(value))) \(escape(chart.unit))</title></rect>"
                base += value
            }
            let labelX = x + barWidth / 2
            let labelY = top + plotHeight + 12
            if rotate {
                svg += "<text x=\"\(number(labelX))\" y=\"\(number(labelY))\" text-anchor=\"end\" transform=\"rotate(-40 \(number(labelX)) \(number(labelY)))\" fill=\"#333\">\(escape(String(category.prefix(24))))</text>"
            } else {
                svg += "<text x=\"\(number(labelX))\" y=\"\(number(labelY))\" text-anchor=\"middle\" fill=\"#333\">\(escape(category))</text>"
            }
        }
        svg += "<line x1=\"\(number(left))\" x2=\"\(number(width - right))\" y1=\"\(number(top + plotHeight))\" y2=\"\(number(top + plotHeight))\" stroke=\"#555\"/>"
        if chart.series.count > 1 {
            var x = left
            let legendY = height - 8
            for series in chart.series {
                svg += "<rect x=\"\(number(x))\" y=\"\(number(legendY - 9))\" width=\"10\" height=\"10\" fill=\"\(series.color)\"/>"
                svg += "<text x=\"\(number(x + 14))\" y=\"\(number(legendY))\" fill=\"#333\">\(escape(series.name))</text>"
                x += 24 + Double(series.name.count) * 7
            }
        }
        return svg + "</svg>"
    }

    /// 1, 2 or 5 times a power of ten at or above `value` (at least 1).
    static func niceCeiling(_ value: Double) -> Double {
        guard value > 0, value.isFinite else { return 1 }
        let magnitude = pow(10, floor(log10(value)))
        for factor in [1.0, 2, 5, 10] where factor * magnitude >= value { return factor * magnitude }
        return 10 * magnitude
    }
}
