import BinProtocol
import Foundation

/// Renders a report as JSON (the typed report, language-neutral keys), CSV (the document's sections one
/// after another: a title line, a header row, data rows, a blank line) or a self-contained, printable
/// HTML page with inline CSS and SVG charts (no scripts, no external resources).
public enum ReportRenderer {
    public static func render(_ content: ReportContent, format: ReportFormat, language: ReportLanguage) -> [UInt8] {
        switch format {
        case .json: return json(content)
        case .csv:
            return Array(
                csv(ReportDocument(content, labels: ReportLabels(language: language)), language: language).utf8)
        case .html:
            return Array(
                html(ReportDocument(content, labels: ReportLabels(language: language)), language: language).utf8)
        }
    }

    // MARK: JSON

    static func json(_ content: ReportContent) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
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
                lines.append(
                    csvRow(
                        row.map { cell in
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

    static func escape(_ text: String) -> String { HTMLText.escape(text) }

    static func html(_ document: ReportDocument, language: ReportLanguage) -> String {
        let none = ReportLabels(language: language)(.none)
        var body = "<header><h1>\(escape(document.title))</h1><dl class=\"meta\">"
        for (label, value) in document.meta { body += "<dt>\(escape(label))</dt><dd>\(escape(value))</dd>" }
        body += "</dl></header>\n"
        for section in document.sections {
            body += "<section><h2>\(escape(section.title))</h2>\n"
            if let chart = section.chart, !chart.categories.isEmpty { body += "<figure>\(chart.svg())</figure>\n" }
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
}
