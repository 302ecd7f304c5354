import Mustache

/// The console's Mustache templates. They live in the binary (no template files to install next to it).
/// `{{name}}` is HTML-escaped by Mustache; `{{{name}}}` is used only for HTML the console drew itself
/// (charts, the map, gauges: every data value in them escaped by ``HTMLText/escape(_:)``) and for the
/// rendered page body inside the layout.
enum ConsoleTemplates {
    static let library: MustacheLibrary = {
        var library = MustacheLibrary()
        for (name, text) in templates {
            do {
                try library.register(text, named: name)
            } catch {
                // The templates are constants of this file; the console's tests render every one.
                preconditionFailure("console template \(name) does not parse: \(error)")
            }
        }
        return library
    }()

    static let templates: [(String, String)] = [
        ("layout", layout), ("message", message), ("sign-in", signIn),
        ("overview", overview), ("overview-live", overviewLive),
        ("bins", bins), ("bins-live", binsLive), ("bin-rows", binRows),
        ("alerts", alerts), ("alerts-live", alertsLive), ("alert-rows", alertRows),
        ("targets", targets), ("targets-live", targetsLive),
        ("ledger", ledger), ("ledger-live", ledgerLive),
        ("reports", reports),
        ("point", point), ("point-live", pointLive),
    ]

    static let layout = #"""
        <!DOCTYPE html>
        <html lang="{{htmlLang}}">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{title}} · {{districtName}}</title>
        <link rel="icon" href="/assets/icon.svg" type="image/svg+xml">
        <link rel="stylesheet" href="/assets/console.css?v={{assetVersion}}">
        <script src="/assets/console.js?v={{assetVersion}}" defer></script>
        </head>
        <body data-live-topics="{{liveTopics}}">
        <header class="top">
          <div class="top-inner">
            <a class="brand" href="/"><img src="/assets/icon.svg" alt="" width="34" height="34"><span class="brand-text"><strong>{{districtName}}</strong><small>{{t.consoleName}}</small></span></a>
            <div class="tools">
              <span class="live-dot" id="live-dot" title="{{t.liveOn}}" hidden>{{t.liveOn}}</span>
              <span class="lang" role="group" aria-label="Language / 语言">{{#languages}}<a href="{{href}}" lang="{{code}}"{{#current}} aria-current="true"{{/current}}>{{label}}</a>{{/languages}}</span>
              {{#session}}<form method="post" action="/sign-out" class="inline"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" class="link" title="{{t.signedInAs}} {{name}}">{{t.signOut}} · {{name}}</button></form>{{/session}}
              {{^session}}<a class="sign-in" href="{{signInHref}}">{{t.signIn}}</a>{{/session}}
            </div>
          </div>
          <nav class="main-nav" aria-label="{{t.consoleName}}">
            {{#navigation}}<a href="{{href}}" data-nav="{{id}}"{{#current}} aria-current="page"{{/current}}>{{label}}{{#badge}} <span class="badge" id="alert-badge">{{badge}}</span>{{/badge}}</a>{{/navigation}}
          </nav>
        </header>
        <div class="live-status" id="live-status" role="status" hidden>{{t.reconnecting}}</div>
        <main>
        {{#notice}}<p class="notice">{{notice}}</p>{{/notice}}
        {{{body}}}
        </main>
        <footer>{{footer}}</footer>
        </body>
        </html>

        """#

    static let message = #"""
        <section class="card narrow">
          <h1>{{heading}}</h1>
          <p>{{message}}</p>
          <p><a href="/">{{t.overview}}</a></p>
        </section>
        """#

    static let signIn = #"""
        <section class="card narrow">
          <h1>{{t.signInTitle}}</h1>
          <p class="muted">{{t.signInIntro}}</p>
          {{#error}}<p class="error" role="alert">{{error}}</p>{{/error}}
          <form method="post" action="/sign-in" class="stack">
            <input type="hidden" name="next" value="{{next}}">
            <label for="token">{{t.token}}</label>
            <input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
            <button type="submit" class="primary">{{t.signIn}}</button>
          </form>
        </section>
        """#

    // MARK: Overview

    static let overview = #"""
        <div class="page-head"><h1>{{t.overview}}</h1><p class="muted">{{t.today}} {{today}} · {{t.last7Days}} {{weekRange}}</p></div>
        <div id="live" data-live>{{> overview-live}}</div>
        """#

    static let overviewLive = #"""
        <section class="kpis">
          <a class="kpi" href="/alerts"><span class="kpi-label">{{t.openAlerts}}</span><span class="kpi-value" data-kpi="open-alerts">{{openAlerts}}</span>
            <span class="kpi-sub">{{#alertCounts}}<span class="sev sev-{{severity}}">{{label}} <b data-severity="{{severity}}">{{count}}</b></span>{{/alertCounts}}</span></a>
          <a class="kpi" href="/bins?show=offline"><span class="kpi-label">{{t.pointsStatus}}</span><span class="kpi-value"><span data-kpi="points-online">{{pointsOnline}}</span><small> / {{pointsTotal}} {{t.online}}</small></span>
            <span class="kpi-sub"><span class="sev sev-critical">{{t.offline}} <b data-kpi="points-offline">{{pointsOffline}}</b></span><span class="sev sev-none">{{t.neverHeard}} <b>{{pointsNever}}</b></span></span></a>
          <a class="kpi" href="/bins?show=full"><span class="kpi-label">{{t.bins}}</span><span class="kpi-value">{{binsTotal}}</span>
            <span class="kpi-sub"><span class="sev sev-warning">{{t.full}} <b data-kpi="bins-full">{{binsFull}}</b></span><span class="sev sev-critical">{{t.faulty}} <b>{{binsFaulty}}</b></span></span></a>
        </section>
        <section class="grid two" id="district-figures">
          {{#periods}}
          <div class="card">
            <h2>{{title}}</h2>
            <div class="table-wrap">
            <table class="figures">
              <thead><tr><th>{{t.stream}}</th><th class="n">{{t.deposited}}</th><th class="n">{{t.collected}}</th><th class="n">{{t.contaminated}}</th><th class="n">{{t.unknown}}</th></tr></thead>
              <tbody>
              {{#rows}}
                <tr data-stream="{{key}}"><th scope="row"><span class="chip s-{{key}}">{{label}}</span></th>
                  <td class="n" data-field="{{range}}-deposited">{{deposited}}</td><td class="n" data-field="{{range}}-collected">{{collected}}</td><td class="n" data-field="{{range}}-contaminated">{{contaminated}}</td><td class="n" data-field="{{range}}-unknown">{{unknown}}</td></tr>
              {{/rows}}
              </tbody>
              <tfoot>
              {{#total}}<tr data-stream="total"><th scope="row">{{t.total}} ({{t.kg}})</th>
                <td class="n" data-field="{{range}}-deposited">{{deposited}}</td><td class="n" data-field="{{range}}-collected">{{collected}}</td><td class="n" data-field="{{range}}-contaminated">{{contaminated}}</td><td class="n" data-field="{{range}}-unknown">{{unknown}}</td></tr>{{/total}}
              </tfoot>
            </table>
            </div>
          </div>
          {{/periods}}
        </section>
        <section class="grid two">
          <div class="card">
            <h2>{{t.tonnage}} · {{t.last7Days}}</h2>
            <figure class="chart">{{{chart}}}</figure>
          </div>
          <div class="card">
            <h2>{{t.openAlerts}} <a class="more" href="/alerts">{{t.viewAll}} →</a></h2>
            {{^latestAlerts}}<p class="muted">{{t.noOpenAlerts}}</p>{{/latestAlerts}}
            <ul class="alert-list">
            {{#latestAlerts}}
              <li class="sev-line sev-{{severity}}"><span class="chip sev-{{severity}}">{{severityLabel}}</span> <b>{{kind}}</b>
                {{#subjectHref}}<a href="{{subjectHref}}">{{subjectName}}</a>{{/subjectHref}}{{^subjectHref}}{{subjectName}}{{/subjectHref}}
                <span class="muted">· {{raisedAgo}}</span><br><span class="message">{{message}}</span></li>
            {{/latestAlerts}}
            </ul>
          </div>
        </section>
        <section class="card">
          <h2>{{t.rates}}</h2>
          <div class="tiles">
          {{#rates}}
            <a class="tile track-{{statusKey}}" href="/targets" data-target="{{id}}">
              <span class="tile-label">{{name}}</span>
              <span class="tile-value">{{value}}</span>
              <span class="tile-goal">{{goal}}</span>
              {{#status}}<span class="pill track-{{statusKey}}">{{status}}</span>{{/status}}
            </a>
          {{/rates}}
          {{#coverage}}
            <a class="tile track-{{statusKey}}" href="/targets" data-target="{{id}}">
              <span class="tile-label">{{t.coverage}} · {{name}}</span>
              <span class="tile-value">{{value}}</span>
              <span class="tile-goal">{{goal}}</span>
              <span class="pill track-{{statusKey}}">{{status}}</span>
            </a>
          {{/coverage}}
          </div>
        </section>
        """#

    // MARK: Bins

    static let bins = #"""
        <div class="page-head"><h1>{{t.bins}}</h1>
          <div class="view-switch" role="group">{{#isTable}}<span aria-current="true">{{t.table}}</span><a href="{{mapHref}}">{{t.map}}</a>{{/isTable}}{{#isMap}}<a href="{{tableHref}}">{{t.table}}</a><span aria-current="true">{{t.map}}</span>{{/isMap}}</div>
        </div>
        <form class="filters card" method="get" action="/bins">
          {{#isMap}}<input type="hidden" name="view" value="map">{{/isMap}}
          <label><span>{{t.street}}</span><select name="street"><option value="">{{t.allStreets}}</option>{{#streets}}<option value="{{id}}"{{#selected}} selected{{/selected}}>{{name}}</option>{{/streets}}</select></label>
          <label><span>{{t.community}}</span><select name="community"><option value="">{{t.allCommunities}}</option>{{#communities}}<option value="{{id}}"{{#selected}} selected{{/selected}}>{{name}}</option>{{/communities}}</select></label>
          <label><span>{{t.stream}}</span><select name="stream"><option value="">{{t.allStreams}}</option>{{#streams}}<option value="{{id}}"{{#selected}} selected{{/selected}}>{{name}}</option>{{/streams}}</select></label>
          <label><span>{{t.show}}</span><select name="show">{{#shows}}<option value="{{id}}"{{#selected}} selected{{/selected}}>{{name}}</option>{{/shows}}</select></label>
          <label><span>{{t.sortBy}}</span><select name="sort">{{#sorts}}<option value="{{id}}"{{#selected}} selected{{/selected}}>{{name}}</option>{{/sorts}}</select></label>
          <button type="submit" class="primary">{{t.apply}}</button>
        </form>
        <div id="live" data-live>{{> bins-live}}</div>
        """#

    static let binsLive = #"""
        <p class="muted count" data-count="{{selectedCount}}">{{count}}</p>
        {{#isMap}}
          <section class="card map-card">
            {{#noMap}}<p class="muted">{{noMap}}</p>{{/noMap}}
            {{^noMap}}<figure class="map-figure">{{{map}}}</figure>
            <p class="legend">{{#legend}}<span class="legend-item"><span class="dot c-{{key}}"></span>{{label}}</span>{{/legend}}</p>{{/noMap}}
            {{#unlocated}}<p class="muted small">{{unlocated}}</p>{{/unlocated}}
          </section>
        {{/isMap}}
        {{#isTable}}
          {{^rows}}<p class="card muted">{{t.noBins}}</p>{{/rows}}
          <div class="table-wrap">
          <table class="bins responsive" id="bins-table">
            <thead><tr><th>{{t.point}}</th><th>{{t.bin}}</th><th>{{t.stream}}</th><th>{{t.fill}}</th><th class="n">{{t.mass}}</th><th>{{t.lid}}</th><th>{{t.quality}}</th><th class="n">{{t.temperature}}</th><th>{{t.lastSeen}}</th><th>{{t.alerts}}</th></tr></thead>
            <tbody>{{> bin-rows}}</tbody>
          </table>
          </div>
          {{#pager}}<nav class="pager">{{#previous}}<a href="{{previous}}">← {{t.previous}}</a>{{/previous}}<span>{{text}}</span>{{#next}}<a href="{{next}}">{{t.next}} →</a>{{/next}}</nav>{{/pager}}
        {{/isTable}}
        """#

    static let binRows = #"""
        {{#rows}}
        <tr data-bin="{{device}}/{{bin}}" class="{{#full}}is-full {{/full}}{{#offline}}is-offline {{/offline}}{{#faulty}}is-faulty{{/faulty}}">
          <td data-label="{{t.point}}"><a href="{{pointHref}}" class="point-name">{{pointName}}</a><span class="sub">{{community}} · {{street}}</span></td>
          <td data-label="{{t.bin}}">{{bin}}</td>
          <td data-label="{{t.stream}}"><span class="chip s-{{stream.key}}">{{stream.label}}</span></td>
          <td data-label="{{t.fill}}" class="fill">{{{gauge}}}<span class="fill-value">{{fill}}</span></td>
          <td data-label="{{t.mass}}" class="n">{{mass}}</td>
          <td data-label="{{t.lid}}">{{#lidOpen}}<span class="chip warn">{{lid}}</span>{{/lidOpen}}{{^lidOpen}}{{lid}}{{/lidOpen}}</td>
          <td data-label="{{t.quality}}">{{#qualityWarning}}<span class="chip warn">{{quality}}</span>{{/qualityWarning}}{{^qualityWarning}}{{quality}}{{/qualityWarning}}</td>
          <td data-label="{{t.temperature}}" class="n">{{temperature}}</td>
          <td data-label="{{t.lastSeen}}"><span title="{{lastSeenAt}}">{{lastSeen}}</span>{{#offline}} <span class="chip sev-critical">{{t.offline}}</span>{{/offline}}</td>
          <td data-label="{{t.alerts}}">{{#alerts}}<span class="chip sev-{{severity}}">{{label}}</span> {{/alerts}}</td>
        </tr>
        {{/rows}}
        """#

    // MARK: Alerts

    static let alerts = #"""
        <div class="page-head"><h1>{{t.alerts}}</h1>
          <div class="view-switch" role="group">{{#isOpen}}<span aria-current="true">{{t.openNow}}</span><a href="{{allHref}}">{{t.recent}}</a>{{/isOpen}}{{#isAll}}<a href="{{openHref}}">{{t.openNow}}</a><span aria-current="true">{{t.recent}}</span>{{/isAll}}</div>
        </div>
        {{#ackInfo}}<p class="info">{{ackInfo}}{{#ackSignIn}} <a href="{{ackSignIn}}">{{t.signIn}}</a>{{/ackSignIn}}</p>{{/ackInfo}}
        <div id="live" data-live>{{> alerts-live}}</div>
        """#

    static let alertsLive = #"""
        {{#empty}}<p class="card muted" id="no-alerts">{{empty}}</p>{{/empty}}
        {{^empty}}
        <div class="table-wrap">
        <table class="alerts responsive" id="alerts-table">
          <thead><tr><th>{{t.severity}}</th><th>{{t.kind}}</th><th>{{t.subject}}</th><th class="n">{{t.value}}</th><th>{{t.raised}}</th><th>{{t.status}}</th><th>{{t.message}}</th><th></th></tr></thead>
          <tbody>{{> alert-rows}}</tbody>
        </table>
        </div>
        {{/empty}}
        """#

    static let alertRows = #"""
        {{#rows}}
        <tr data-alert="{{id}}" data-kind="{{kindKey}}" data-state="{{state}}" data-subject="{{subject}}" class="sev-line sev-{{severity}}">
          <td data-label="{{t.severity}}"><span class="chip sev-{{severity}}">{{severityLabel}}</span></td>
          <td data-label="{{t.kind}}"><b>{{kind}}</b></td>
          <td data-label="{{t.subject}}">{{#subjectHref}}<a href="{{subjectHref}}">{{subjectName}}</a>{{/subjectHref}}{{^subjectHref}}{{subjectName}}{{/subjectHref}}<span class="sub">{{subject}}</span></td>
          <td data-label="{{t.value}}" class="n">{{value}}</td>
          <td data-label="{{t.raised}}" class="nowrap"><span title="{{raisedAt}}">{{raisedAgo}}</span></td>
          <td data-label="{{t.status}}"><span class="state state-{{state}}">{{stateLabel}}</span>{{#acknowledged}}<span class="sub">{{t.acknowledged}} {{acknowledged}}</span>{{/acknowledged}}{{#cleared}}<span class="sub">{{t.cleared}} {{cleared}}</span>{{/cleared}}</td>
          <td data-label="{{t.message}}" class="message">{{message}}</td>
          <td class="actions">{{#canAck}}<form method="post" action="/alerts/{{id}}/ack" class="inline ack-form"><input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="next" value="{{next}}"><button type="submit" class="primary small" data-ack="{{id}}">{{t.acknowledge}}</button></form>{{/canAck}}</td>
        </tr>
        {{/rows}}
        """#

    // MARK: Targets

    static let targets = #"""
        <div class="page-head"><h1>{{t.targets}}</h1><p class="muted">{{trendCaption}}</p></div>
        <div id="live" data-live>{{> targets-live}}</div>
        """#

    static let targetsLive = #"""
        {{#empty}}<p class="card muted">{{empty}}</p>{{/empty}}
        <div class="target-grid">
        {{#cards}}
          <article class="card target track-{{statusKey}}" data-target="{{id}}">
            <header><h2>{{name}}</h2><span class="pill track-{{statusKey}}">{{status}}</span></header>
            <dl class="figures-dl">
              <div><dt>{{t.current}}</dt><dd class="big">{{value}}</dd></div>
              <div><dt>{{t.target}}</dt><dd>{{target}}</dd></div>
              <div><dt>{{t.projected}}</dt><dd>{{projected}}</dd></div>
              {{#planned}}<div><dt>{{t.planned}}</dt><dd>{{planned}}</dd></div>{{/planned}}
              <div><dt>{{t.deadline}}</dt><dd>{{deadline}}</dd></div>
            </dl>
            <figure class="trend">{{{trend}}}</figure>
            <p class="muted small">{{detail}}</p>
          </article>
        {{/cards}}
        </div>
        """#

    // MARK: Ledger

    static let ledger = #"""
        <div class="page-head"><h1>{{t.ledger}}</h1></div>
        <form class="filters card" method="get" action="/ledger">
          <label class="wide"><span>{{t.level}}</span><select name="entity">{{#entities}}<optgroup label="{{group}}">{{#options}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{name}}</option>{{/options}}</optgroup>{{/entities}}</select></label>
          <label><span>{{t.from}}</span><input type="date" name="from" value="{{from}}"></label>
          <label><span>{{t.to}}</span><input type="date" name="to" value="{{to}}"></label>
          <label><span>{{t.period}}</span><select name="period">{{#periods}}<option value="{{id}}"{{#selected}} selected{{/selected}}>{{name}}</option>{{/periods}}</select></label>
          <button type="submit" class="primary">{{t.apply}}</button>
        </form>
        <div id="live" data-live>{{> ledger-live}}</div>
        """#

    static let ledgerLive = #"""
        {{#rangeNotice}}<p class="info">{{rangeNotice}}</p>{{/rangeNotice}}
        <section class="card">
          <h2>{{caption}} <a class="more button" href="{{csvHref}}" download id="ledger-csv">{{t.downloadCSV}}</a></h2>
          <figure class="chart">{{{chart}}}</figure>
          <div class="table-wrap">
          <table class="ledger" id="ledger-table">
            <thead><tr>{{#columns}}<th>{{.}}</th>{{/columns}}</tr></thead>
            <tbody>{{#rows}}<tr><th scope="row">{{label}}</th>{{#cells}}<td class="n">{{.}}</td>{{/cells}}</tr>{{/rows}}</tbody>
            <tfoot>{{#total}}<tr><th scope="row">{{label}}</th>{{#cells}}<td class="n">{{.}}</td>{{/cells}}</tr>{{/total}}</tfoot>
          </table>
          </div>
        </section>
        """#

    // MARK: Reports

    static let reports = #"""
        <div class="page-head"><h1>{{t.reports}}</h1><p class="muted">{{t.reportsIntro}}</p></div>
        <div class="report-grid">
        {{#kinds}}
          <section class="card" data-report="{{kind}}">
            <h2>{{title}}</h2>
            <ul class="report-list">
            {{#periods}}<li><span class="period">{{label}}</span><span class="links">{{#links}}<a href="{{href}}">{{label}}</a>{{/links}}</span></li>{{/periods}}
            </ul>
          </section>
        {{/kinds}}
          <section class="card">
            <h2>{{t.anyDate}}</h2>
            <form method="get" action="/reports/open" class="stack">
              <label><span>{{t.reports}}</span><select name="kind">{{#kindOptions}}<option value="{{id}}">{{name}}</option>{{/kindOptions}}</select></label>
              <label><span>{{t.date}}</span><input type="date" name="date" value="{{today}}" required></label>
              <label><span>Format</span><select name="format"><option value="html">HTML</option><option value="csv">CSV</option><option value="json">JSON</option></select></label>
              <label><span>Language / 语言</span><select name="lang"><option value="en">English</option><option value="zh">中文</option></select></label>
              <button type="submit" class="primary">{{t.open}}</button>
            </form>
          </section>
        </div>
        """#

    // MARK: One point

    static let point = #"""
        <div class="page-head"><h1>{{name}}</h1><p class="muted">{{device}} · {{community}} · {{street}}</p></div>
        <div id="live" data-live>{{> point-live}}</div>
        """#

    static let pointLive = #"""
        <section class="grid two">
          <div class="card">
            <h2>{{t.device}} <span class="pill state-{{statusKey}}" id="point-status">{{status}}</span></h2>
            <dl class="facts">
              <dt>{{t.lastSeen}}</dt><dd><span title="{{lastSeenAt}}">{{lastSeen}}</span></dd>
              <dt>{{t.firmware}}</dt><dd id="firmware">{{firmware}}</dd>
              <dt>{{t.board}}</dt><dd>{{board}}</dd>
              <dt>{{t.configHash}}</dt><dd><code>{{configHash}}</code></dd>
              <dt>{{t.session}}</dt><dd>{{session}}</dd>
              <dt>{{t.sequenceGaps}}</dt><dd>{{gaps}}</dd>
              {{#location}}<dt>{{t.location}}</dt><dd>{{location}}</dd>{{/location}}
            </dl>
          </div>
          <div class="card">
            <h2>{{t.health}}</h2>
            {{#health}}
            <dl class="facts">
              <dt>{{t.healthAt}}</dt><dd>{{at}}</dd>
              <dt>{{t.uptime}}</dt><dd>{{uptime}}</dd>
              <dt>{{t.samples}}</dt><dd>{{samples}}</dd>
              <dt>{{t.sampleErrors}}</dt><dd>{{sampleErrors}}</dd>
              <dt>{{t.hx711Retries}}</dt><dd>{{hx711Retries}}</dd>
              <dt>{{t.publishFailures}}</dt><dd>{{publishFailures}}</dd>
              <dt>{{t.reconnects}}</dt><dd>{{reconnects}}</dd>
              <dt>{{t.outboxDepth}}</dt><dd>{{outboxDepth}}</dd>
              <dt>{{t.dropped}}</dt><dd>{{dropped}}</dd>
              <dt>{{t.activeFaults}}</dt><dd>{{activeFaults}}</dd>
            </dl>
            {{/health}}
            {{^health}}<p class="muted">{{t.noHealth}}</p>
            <dl class="facts"><dt>{{t.outboxDepth}}</dt><dd>{{outboxDepth}}</dd><dt>{{t.dropped}}</dt><dd>{{dropped}}</dd></dl>{{/health}}
            {{#hasFaults}}<h3>{{t.activeFaults}}</h3>{{/hasFaults}}
            <ul class="fault-list">{{#faults}}<li><span class="chip sev-warning">{{code}}</span> {{bin}} · {{at}} · <span class="detail">{{detail}}</span></li>{{/faults}}</ul>
          </div>
        </section>
        <section class="card">
          <h2>{{t.pointBins}}</h2>
          <div class="table-wrap">
          <table class="bins responsive">
            <thead><tr><th>{{t.point}}</th><th>{{t.bin}}</th><th>{{t.stream}}</th><th>{{t.fill}}</th><th class="n">{{t.mass}}</th><th>{{t.lid}}</th><th>{{t.quality}}</th><th class="n">{{t.temperature}}</th><th>{{t.lastSeen}}</th><th>{{t.alerts}}</th></tr></thead>
            <tbody>{{> bin-rows}}</tbody>
          </table>
          </div>
        </section>
        {{#hasAlerts}}
        <section class="card">
          <h2>{{t.openAlerts}}</h2>
          <ul class="alert-list">
          {{#alerts}}<li class="sev-line sev-{{severity}}"><span class="chip sev-{{severity}}">{{severityLabel}}</span> <b>{{kind}}</b> {{subjectName}} <span class="muted">· {{raisedAgo}} · {{stateLabel}}</span><br><span class="message">{{message}}</span></li>{{/alerts}}
          </ul>
        </section>
        {{/hasAlerts}}
        <section class="card">
          <h2>{{t.lastEvents}}</h2>
          {{#noEvents}}<p class="muted">{{noEvents}}</p>{{/noEvents}}
          {{^noEvents}}
          <div class="table-wrap">
          <table class="events responsive" id="events-table">
            <thead><tr><th>{{t.time}}</th><th>{{t.type}}</th><th>{{t.bin}}</th><th class="n">{{t.mass}}</th><th class="n">{{t.volume}}</th><th>{{t.class}}</th><th class="n">{{t.confidence}}</th><th>{{t.detail}}</th></tr></thead>
            <tbody>
            {{#events}}
              <tr data-seq="{{seq}}" class="ev-{{type}}">
                <td data-label="{{t.time}}">{{time}}</td>
                <td data-label="{{t.type}}"><span class="chip ev-{{type}}">{{typeLabel}}</span>{{#historical}} <span class="chip muted-chip">{{historical}}</span>{{/historical}}</td>
                <td data-label="{{t.bin}}">{{bin}}</td>
                <td data-label="{{t.mass}}" class="n">{{mass}}</td>
                <td data-label="{{t.volume}}" class="n">{{volume}}</td>
                <td data-label="{{t.class}}">{{class}}{{#contaminated}} <span class="chip sev-warning">{{contaminated}}</span>{{/contaminated}}</td>
                <td data-label="{{t.confidence}}" class="n">{{confidence}}</td>
                <td data-label="{{t.detail}}" class="detail">{{detail}}{{#qualityNote}}<span class="sub">{{t.quality}}: {{qualityNote}}</span>{{/qualityNote}}</td>
              </tr>
            {{/events}}
            </tbody>
          </table>
          </div>
          {{/noEvents}}
        </section>
        """#
}
