import Crypto
import Foundation
import Hummingbird

/// The console's stylesheet, script and icon, compiled into the binary and served from `/assets/`: the
/// console works on a network with no internet and needs no files installed beside the executable.
enum ConsoleAssets {
    struct Asset {
        var contentType: String
        var body: [UInt8]
        var etag: String
    }

    static let assets: [String: Asset] = {
        func asset(_ type: String, _ text: String) -> Asset {
            let bytes = Array(text.utf8)
            let digest = SHA256.hash(data: bytes).prefix(8).map { String(format: "%02x", $0) }.joined()
            return Asset(contentType: type, body: bytes, etag: "\"\(digest)\"")
        }
        return [
            "console.css": asset("text/css; charset=utf-8", css),
            "console.js": asset("text/javascript; charset=utf-8", javascript),
            "icon.svg": asset("image/svg+xml", icon),
        ]
    }()

    /// Changes whenever an asset does, so pages can let browsers cache them for long.
    static let version: String = {
        let all = assets.keys.sorted().map { assets[$0]!.etag }.joined()
        return SHA256.hash(data: Array(all.utf8)).prefix(6).map { String(format: "%02x", $0) }.joined()
    }()

    static func response(name: String, request: Request) -> Response {
        guard let asset = assets[name] else {
            return Response(
                status: .notFound, headers: [.contentType: "text/plain; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: "not found\n")))
        }
        var headers: HTTPFields = [.contentType: asset.contentType, .eTag: asset.etag]
        headers[.cacheControl] =
            request.uri.query?.hasPrefix("v=") == true ? "public, max-age=31536000, immutable" : "no-cache"
        if request.headers[.ifNoneMatch] == asset.etag {
            return Response(status: .notModified, headers: headers)
        }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: asset.body)))
    }

    static let icon = #"""
        <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="14" fill="#2e7d32"/><path d="M20 22h24l-2.4 28a3 3 0 0 1-3 2.8H25.4a3 3 0 0 1-3-2.8z" fill="#fff"/><rect x="16" y="15" width="32" height="5" rx="2.5" fill="#fff"/><rect x="27" y="10" width="10" height="4" rx="2" fill="#fff"/><path d="M29 28v18M35 28v18" stroke="#2e7d32" stroke-width="3" stroke-linecap="round"/></svg>
        """#

    static let css = #"""
        :root {
          --green: #2e7d32; --green-dark: #1b4d25; --green-soft: #e8f2e8; --ink: #1d2521; --muted: #5f6b66; --line: #dde3de;
          --bg: #f3f5f2; --card: #fff; --red: #c0392b; --amber: #b86e00; --blue: #2f6fb3; --grey: #6b7280;
          --wet: #6b8e23; --dry: #7a7a7a; --recyclable: #2f6fb3; --hazardous: #c0392b;
          font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "PingFang SC", "Microsoft YaHei", "WenQuanYi Micro Hei", "Noto Sans CJK SC", sans-serif;
          color: var(--ink); background: var(--bg); font-size: 15px; line-height: 1.45;
        }
        * { box-sizing: border-box; }
        body { margin: 0; min-width: 0; }
        a { color: var(--green-dark); }
        a:hover { color: var(--green); }
        h1 { font-size: 1.55rem; margin: 0; letter-spacing: -0.01em; }
        h2 { font-size: 1.05rem; margin: 0 0 0.8rem; display: flex; align-items: center; gap: 0.6rem; flex-wrap: wrap; }
        h3 { font-size: 0.95rem; margin: 1rem 0 0.4rem; }
        code { font-size: 0.85em; }
        .muted { color: var(--muted); }
        .small { font-size: 0.85rem; }
        [hidden] { display: none !important; }

        header.top { background: linear-gradient(180deg, var(--green-dark), #215c2d); color: #fff; box-shadow: 0 2px 8px rgba(0,0,0,0.12); }
        .top-inner { max-width: 1320px; margin: 0 auto; padding: 0.65rem 1rem 0.4rem; display: flex; align-items: center; gap: 1rem; flex-wrap: wrap; }
        .brand { display: flex; align-items: center; gap: 0.7rem; color: #fff; text-decoration: none; margin-right: auto; min-width: 0; }
        .brand:hover { color: #fff; }
        .brand img { border-radius: 9px; box-shadow: 0 0 0 2px rgba(255,255,255,0.25); flex: none; }
        .brand-text { display: flex; flex-direction: column; line-height: 1.15; min-width: 0; }
        .brand-text strong { font-size: 1.08rem; overflow-wrap: anywhere; }
        .brand-text small { opacity: 0.8; font-size: 0.8rem; letter-spacing: 0.02em; }
        .tools { display: flex; align-items: center; gap: 0.8rem; flex-wrap: wrap; font-size: 0.88rem; }
        .tools a, .tools button.link { color: #fff; }
        .lang { display: inline-flex; border: 1px solid rgba(255,255,255,0.45); border-radius: 999px; overflow: hidden; }
        .lang a { padding: 0.15rem 0.6rem; text-decoration: none; color: #fff; }
        .lang a[aria-current] { background: #fff; color: var(--green-dark); font-weight: 600; }
        .live-dot { display: inline-flex; align-items: center; gap: 0.35rem; font-size: 0.8rem; opacity: 0.9; }
        .live-dot::before { content: ""; width: 8px; height: 8px; border-radius: 50%; background: #7CFC8A; box-shadow: 0 0 0 3px rgba(124,252,138,0.25); }
        button.link { background: none; border: 0; padding: 0; font: inherit; cursor: pointer; text-decoration: underline; }
        form.inline { display: inline; margin: 0; }
        .main-nav { max-width: 1320px; margin: 0 auto; padding: 0 0.6rem; display: flex; flex-wrap: wrap; gap: 0.1rem; }
        .main-nav a { color: rgba(255,255,255,0.86); text-decoration: none; padding: 0.55rem 0.75rem; border-bottom: 3px solid transparent; font-weight: 500; white-space: nowrap; }
        .main-nav a:hover { color: #fff; border-bottom-color: rgba(255,255,255,0.4); }
        .main-nav a[aria-current="page"] { color: #fff; border-bottom-color: #a5d6a7; }
        .badge { display: inline-block; min-width: 1.4em; padding: 0 0.4em; border-radius: 999px; background: #ef5350; color: #fff; font-size: 0.75rem; text-align: center; line-height: 1.4em; }
        .live-status { background: #fff4e5; color: #7a4a00; border-bottom: 1px solid #f0c987; text-align: center; padding: 0.45rem 1rem; font-weight: 500; }

        main { max-width: 1320px; margin: 0 auto; padding: 1.1rem 1rem 2rem; }
        footer { max-width: 1320px; margin: 0 auto; padding: 0 1rem 2rem; color: var(--muted); font-size: 0.8rem; }
        .page-head { display: flex; align-items: baseline; justify-content: space-between; gap: 0.4rem 1rem; flex-wrap: wrap; margin-bottom: 0.9rem; }
        .page-head p { margin: 0; }
        .card { background: var(--card); border: 1px solid var(--line); border-radius: 12px; padding: 1rem 1.1rem; margin-bottom: 1rem; box-shadow: 0 1px 2px rgba(16,24,20,0.04); min-width: 0; }
        .card.narrow { max-width: 460px; margin: 2rem auto; }
        .grid { display: grid; gap: 1rem; margin-bottom: 1rem; }
        .grid > .card { margin-bottom: 0; }
        .grid.two { grid-template-columns: repeat(auto-fit, minmax(min(100%, 440px), 1fr)); }
        .notice, .info { background: #eaf2fb; border: 1px solid #c7dcf2; color: #18406b; padding: 0.6rem 0.9rem; border-radius: 10px; }
        .error { background: #fdecea; border: 1px solid #f5c2bc; color: #8a1f14; padding: 0.6rem 0.9rem; border-radius: 10px; }
        .more { margin-left: auto; font-size: 0.85rem; font-weight: 500; }
        a.button, button.primary { display: inline-block; background: var(--green); color: #fff; border: 0; border-radius: 8px; padding: 0.45rem 0.9rem; font: inherit; font-weight: 600; cursor: pointer; text-decoration: none; }
        a.button:hover, button.primary:hover { background: var(--green-dark); color: #fff; }
        button.small { padding: 0.25rem 0.65rem; font-size: 0.85rem; }

        .kpis { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 230px), 1fr)); gap: 1rem; margin-bottom: 1rem; }
        .nowrap { white-space: nowrap; }
        table.ledger th, table.ledger td { padding: 0.4rem 0.45rem; }
        table.ledger thead th { white-space: normal; vertical-align: bottom; text-align: right; }
        table.ledger thead th:first-child { text-align: left; }
        table.ledger th[scope="row"] { white-space: nowrap; font-variant-numeric: tabular-nums; }
        table.figures th[scope="row"] { font-weight: 500; }
        .kpi { background: var(--card); border: 1px solid var(--line); border-radius: 12px; padding: 0.9rem 1.1rem; text-decoration: none; color: inherit; display: flex; flex-direction: column; gap: 0.2rem; box-shadow: 0 1px 2px rgba(16,24,20,0.04); }
        .kpi:hover { border-color: #b9cdb9; color: inherit; }
        .kpi-label { color: var(--muted); font-size: 0.85rem; font-weight: 500; }
        .kpi-value { font-size: 2rem; font-weight: 700; line-height: 1.1; font-variant-numeric: tabular-nums; }
        .kpi-value small { font-size: 0.95rem; font-weight: 500; color: var(--muted); }
        .kpi-sub { display: flex; gap: 0.8rem; flex-wrap: wrap; font-size: 0.85rem; }
        .sev { color: var(--muted); }
        .sev b { color: var(--ink); }
        .sev.sev-critical b { color: var(--red); }
        .sev.sev-warning b { color: var(--amber); }

        .tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 210px), 1fr)); gap: 0.8rem; }
        .tile { border: 1px solid var(--line); border-left: 5px solid var(--grey); border-radius: 10px; padding: 0.7rem 0.9rem; text-decoration: none; color: inherit; display: flex; flex-direction: column; gap: 0.15rem; }
        .tile:hover { color: inherit; background: #fafcfa; }
        .tile.track-on_track { border-left-color: var(--green); }
        .tile.track-at_risk { border-left-color: #e0a100; }
        .tile.track-off_track { border-left-color: var(--red); }
        .tile-label { font-size: 0.85rem; color: var(--muted); font-weight: 500; }
        .tile-value { font-size: 1.6rem; font-weight: 700; font-variant-numeric: tabular-nums; }
        .tile-goal { font-size: 0.8rem; color: var(--muted); }
        .tile .pill { align-self: flex-start; margin-top: 0.2rem; }
        .pill { display: inline-block; border-radius: 999px; padding: 0.08rem 0.6rem; font-size: 0.78rem; font-weight: 600; background: #eceff1; color: #37474f; }
        .pill.track-on_track, .pill.state-online { background: #e3f2e4; color: #1b5e20; }
        .pill.track-at_risk { background: #fff3d6; color: #7a5200; }
        .pill.track-off_track, .pill.state-offline { background: #fde4e1; color: #8a1f14; }

        .chip { display: inline-block; border-radius: 6px; padding: 0.05rem 0.45rem; font-size: 0.78rem; font-weight: 600; background: #eef1ef; color: #37474f; white-space: nowrap; }
        .chip.s-wet { background: #eef4e1; color: #3e5a10; }
        .chip.s-dry { background: #ececec; color: #424242; }
        .chip.s-recyclable { background: #e3eefa; color: #1d4f86; }
        .chip.s-hazardous { background: #fbe5e2; color: #8a1f14; }
        .chip.s-wet::before, .chip.s-dry::before, .chip.s-recyclable::before, .chip.s-hazardous::before { content: ""; display: inline-block; width: 0.55em; height: 0.55em; border-radius: 50%; margin-right: 0.35em; vertical-align: 0.05em; }
        .chip.s-wet::before { background: var(--wet); }
        .chip.s-dry::before { background: var(--dry); }
        .chip.s-recyclable::before { background: var(--recyclable); }
        .chip.s-hazardous::before { background: var(--hazardous); }
        .chip.sev-critical { background: #fde4e1; color: #8a1f14; }
        .chip.sev-warning, .chip.warn { background: #fff3d6; color: #7a5200; }
        .chip.sev-info { background: #e3eefa; color: #1d4f86; }
        .chip.ev-deposit { background: #e8f2e8; color: #1b5e20; }
        .chip.ev-collection { background: #e3eefa; color: #1d4f86; }
        .chip.ev-fault { background: #fde4e1; color: #8a1f14; }
        .chip.muted-chip { background: #f1f1f1; color: #666; font-weight: 500; }

        .table-wrap { overflow-x: auto; -webkit-overflow-scrolling: touch; max-width: 100%; }
        table { border-collapse: collapse; width: 100%; background: var(--card); font-size: 0.9rem; }
        th, td { padding: 0.45rem 0.6rem; text-align: left; border-bottom: 1px solid var(--line); vertical-align: middle; }
        thead th { background: #f6f8f6; color: #44514b; font-weight: 600; font-size: 0.8rem; text-transform: none; white-space: nowrap; position: sticky; top: 0; }
        th.group { text-align: center; border-bottom: 1px solid var(--line); }
        td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
        tfoot th, tfoot td { font-weight: 700; background: #fafbfa; border-top: 2px solid var(--line); }
        tbody tr:hover { background: #fbfcfb; }
        .table-wrap > table, .card > table { border-radius: 10px; }
        table.bins, table.alerts { border: 1px solid var(--line); border-radius: 12px; }
        .sub { display: block; color: var(--muted); font-size: 0.78rem; }
        .point-name { font-weight: 600; }
        td.fill { min-width: 9rem; white-space: nowrap; }
        svg.gauge { width: 5.5rem; height: 0.62rem; vertical-align: middle; margin-right: 0.45rem; }
        .fill-value { font-variant-numeric: tabular-nums; }
        tr.is-offline td { color: #6b6b6b; }
        tr.sev-line.sev-critical td:first-child { box-shadow: inset 4px 0 0 var(--red); }
        tr.sev-line.sev-warning td:first-child { box-shadow: inset 4px 0 0 #e0a100; }
        tr.sev-line.sev-info td:first-child { box-shadow: inset 4px 0 0 var(--blue); }
        .state { font-weight: 600; }
        .state-raised { color: var(--red); }
        .state-acknowledged { color: var(--amber); }
        .state-cleared { color: var(--green); }
        td.message, .message { color: #36413c; overflow-wrap: anywhere; }
        td.detail, .detail { overflow-wrap: anywhere; }
        td.actions { white-space: nowrap; text-align: right; }

        .alert-list { list-style: none; margin: 0; padding: 0; }
        .alert-list li { padding: 0.55rem 0.7rem; border-bottom: 1px solid var(--line); border-left: 4px solid var(--grey); overflow-wrap: anywhere; }
        .alert-list li.sev-critical { border-left-color: var(--red); }
        .alert-list li.sev-warning { border-left-color: #e0a100; }
        .alert-list li.sev-info { border-left-color: var(--blue); }
        .fault-list { margin: 0; padding-left: 1.1rem; }

        .filters { display: flex; flex-wrap: wrap; gap: 0.6rem 0.9rem; align-items: flex-end; }
        .filters label { display: flex; flex-direction: column; gap: 0.2rem; font-size: 0.8rem; color: var(--muted); font-weight: 500; min-width: 0; }
        .filters label.wide { flex: 1 1 16rem; }
        select, input[type="date"], input[type="password"], input[type="text"] { font: inherit; font-size: 0.92rem; padding: 0.38rem 0.5rem; border: 1px solid #c8d1cb; border-radius: 8px; background: #fff; color: var(--ink); max-width: 100%; min-width: 0; }
        .stack { display: flex; flex-direction: column; gap: 0.55rem; }
        .stack label { display: flex; flex-direction: column; gap: 0.2rem; font-size: 0.85rem; color: var(--muted); }
        .view-switch { display: inline-flex; border: 1px solid #c8d1cb; border-radius: 8px; overflow: hidden; background: #fff; }
        .view-switch a, .view-switch span { padding: 0.3rem 0.9rem; text-decoration: none; font-size: 0.88rem; font-weight: 500; }
        .view-switch span[aria-current] { background: var(--green); color: #fff; }
        .count { margin: 0 0 0.5rem; }
        .pager { display: flex; gap: 1rem; justify-content: center; align-items: center; margin-top: 0.8rem; }

        figure { margin: 0; }
        figure.chart svg, figure.trend svg, figure.map-figure svg { width: 100%; height: auto; display: block; }
        .map-card { padding: 0.6rem; }
        svg.map { border-radius: 10px; }
        svg.map .street-label { font-weight: 700; fill: #2d3b33; stroke: #fff; stroke-width: 4px; paint-order: stroke; letter-spacing: 0.02em; }
        svg.map a.marker:hover circle { stroke: #000; }
        .legend { display: flex; gap: 1rem; flex-wrap: wrap; font-size: 0.85rem; margin: 0.6rem 0.3rem 0.2rem; }
        .legend-item { display: inline-flex; align-items: center; gap: 0.35rem; }
        .dot { width: 0.8rem; height: 0.8rem; border-radius: 50%; border: 2px solid #fff; box-shadow: 0 0 0 1px #ccc; display: inline-block; }
        .dot.c-ok { background: #2e7d32; }
        .dot.c-full { background: #e08a00; }
        .dot.c-fault { background: #c0392b; }
        .dot.c-offline { background: #555b66; }

        .target-grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 330px), 1fr)); gap: 1rem; }
        .target-grid .card { margin: 0; border-top: 4px solid var(--grey); }
        .target-grid .card.track-on_track { border-top-color: var(--green); }
        .target-grid .card.track-at_risk { border-top-color: #e0a100; }
        .target-grid .card.track-off_track { border-top-color: var(--red); }
        .target header { display: flex; justify-content: space-between; align-items: flex-start; gap: 0.5rem; }
        .target header h2 { margin: 0; }
        .figures-dl { display: grid; grid-template-columns: repeat(auto-fit, minmax(6.5rem, 1fr)); gap: 0.4rem 0.8rem; margin: 0.7rem 0; }
        .figures-dl div { min-width: 0; }
        .figures-dl dt { font-size: 0.75rem; color: var(--muted); }
        .figures-dl dd { margin: 0; font-weight: 600; font-variant-numeric: tabular-nums; }
        .figures-dl dd.big { font-size: 1.35rem; }
        dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 0.3rem 1rem; margin: 0; }
        dl.facts dt { color: var(--muted); font-size: 0.88rem; }
        dl.facts dd { margin: 0; overflow-wrap: anywhere; }

        .report-grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 380px), 1fr)); gap: 1rem; }
        .report-grid .card { margin: 0; }
        .report-list { list-style: none; margin: 0; padding: 0; }
        .report-list li { display: flex; justify-content: space-between; gap: 0.3rem 0.8rem; flex-wrap: wrap; padding: 0.4rem 0; border-bottom: 1px solid var(--line); }
        .report-list .period { font-weight: 600; font-variant-numeric: tabular-nums; }
        .report-list .links { display: flex; gap: 0.6rem; flex-wrap: wrap; font-size: 0.85rem; }

        @media (max-width: 760px) {
          :root { font-size: 14px; }
          .top-inner { padding: 0.55rem 0.75rem 0.3rem; gap: 0.5rem; }
          .brand img { width: 30px; height: 30px; }
          .tools { width: 100%; justify-content: flex-end; }
          .main-nav { padding: 0 0.3rem; }
          .main-nav a { padding: 0.45rem 0.5rem; font-size: 0.9rem; }
          main { padding: 0.8rem 0.6rem 1.5rem; }
          .card { padding: 0.8rem; }
          h1 { font-size: 1.3rem; }
          .filters label { flex: 1 1 45%; }
          .filters select, .filters input { width: 100%; }
          table.responsive, table.responsive tbody, table.responsive tr, table.responsive td { display: block; width: 100%; }
          table.responsive { border: 0; background: transparent; }
          table.responsive thead { display: none; }
          table.responsive tr { background: var(--card); border: 1px solid var(--line); border-radius: 10px; margin-bottom: 0.6rem; padding: 0.4rem 0.2rem; }
          table.responsive td { border: 0; padding: 0.22rem 0.6rem; display: flex; gap: 0.6rem; justify-content: space-between; align-items: baseline; text-align: right; min-width: 0; }
          table.responsive td::before { content: attr(data-label); color: var(--muted); font-size: 0.8rem; font-weight: 500; text-align: left; flex: none; }
          table.responsive td:first-child { display: block; text-align: left; border-bottom: 1px solid var(--line); padding-bottom: 0.4rem; margin-bottom: 0.2rem; }
          table.responsive td:first-child::before { content: none; }
          table.responsive td.actions { justify-content: flex-end; }
          table.responsive td.actions::before { content: none; }
          table.responsive td.fill { min-width: 0; }
          tr.sev-line td:first-child { box-shadow: none !important; }
          table.responsive tr.sev-line.sev-critical { border-left: 4px solid var(--red); }
          table.responsive tr.sev-line.sev-warning { border-left: 4px solid #e0a100; }
          table.responsive tr.sev-line.sev-info { border-left: 4px solid var(--blue); }
          .kpis { grid-template-columns: 1fr 1fr; gap: 0.6rem; }
          .kpis .kpi:first-child { grid-column: 1 / -1; }
          .kpi { padding: 0.7rem 0.8rem; }
          .kpi-value { font-size: 1.6rem; }
          table.figures { font-size: 0.82rem; }
          table.figures th, table.figures td { padding: 0.4rem 0.25rem; }
          table.figures thead th { white-space: normal; vertical-align: bottom; }
          table.figures .chip { font-size: 0.72rem; padding: 0.05rem 0.3rem; white-space: normal; }
          table.figures th, table.figures td { padding-left: 0.15rem; padding-right: 0.15rem; }
          svg.map .street-label { font-size: 26px; stroke-width: 7px; }
          svg.map circle.pin { r: 17px; stroke-width: 4px; }
          svg.map circle.halo { r: 26px; stroke-width: 3px; }
          svg.map .scale text { font-size: 22px; }
          svg.map .north text { font-size: 22px; }
          dl.facts { grid-template-columns: 1fr; gap: 0.1rem; }
          dl.facts dd { margin-bottom: 0.35rem; }
        }
        @media print {
          header.top, .filters, .live-status, footer, .actions { display: none; }
          body { background: #fff; }
          .card { box-shadow: none; }
        }
        """#

    static let javascript = #"""
        // bins-aggregator console: live updates for the page's live region (no framework, no build step).
        // The server names what changed on /live (Server-Sent Events); the page fetches its own address
        // again with X-Console-Fragment: 1 and swaps the region in. Everything else works without script.
        (function () {
          "use strict";
          var body = document.body;
          var region = document.getElementById("live");
          var topics = (body.getAttribute("data-live-topics") || "").split(",").filter(Boolean);
          var statusBar = document.getElementById("live-status");
          var dot = document.getElementById("live-dot");
          if (!region || topics.length === 0 || !window.EventSource) { return; }

          var source = null, lost = false, busy = false, again = false, timer = null, retry = 1000;
          var lastRefresh = 0, minimumGap = 700;

          function setLost(value) {
            lost = value;
            if (statusBar) { statusBar.hidden = !value; }
            if (dot) { dot.hidden = value; }
            body.classList.toggle("live-lost", value);
          }

          function updateBadge(count) {
            var link = document.querySelector('.main-nav a[data-nav="alerts"]');
            if (!link || count === null) { return; }
            var badge = document.getElementById("alert-badge");
            if (count === "0") {
              if (badge) { badge.parentNode.removeChild(badge); }
              return;
            }
            if (!badge) {
              badge = document.createElement("span");
              badge.className = "badge";
              badge.id = "alert-badge";
              link.appendChild(document.createTextNode(" "));
              link.appendChild(badge);
            }
            badge.textContent = count;
          }

          function refresh() {
            if (busy) { again = true; return; }
            var wait = lastRefresh + minimumGap - Date.now();
            if (wait > 0) { clearTimeout(timer); timer = setTimeout(refresh, wait); return; }
            busy = true;
            lastRefresh = Date.now();
            fetch(window.location.href, { headers: { "X-Console-Fragment": "1" }, credentials: "same-origin", cache: "no-store" })
              .then(function (response) {
                if (!response.ok) { throw new Error("HTTP " + response.status); }
                updateBadge(response.headers.get("X-Open-Alerts"));
                return response.text();
              })
              .then(function (html) {
                region.innerHTML = html;
                region.setAttribute("data-refreshed", String(Date.now()));
              })
              .catch(function () { /* the next change or reconnect tries again */ })
              .then(function () {
                busy = false;
                if (again) { again = false; refresh(); }
              });
          }

          function connect() {
            source = new EventSource("/live?topics=" + encodeURIComponent(topics.join(",")));
            source.onopen = function () {
              retry = 1000;
              if (lost) { setLost(false); refresh(); }
              if (dot) { dot.hidden = false; }
            };
            source.addEventListener("change", function () { refresh(); });
            source.onerror = function () {
              setLost(true);
              if (source.readyState === EventSource.CLOSED) {
                // The server refused the stream (signed out, or stopping): try again with a growing pause.
                source.close();
                setTimeout(connect, retry);
                retry = Math.min(retry * 2, 30000);
              }
            };
          }

          window.addEventListener("pagehide", function () { if (source) { source.close(); } });
          connect();
        })();
        """#
}
