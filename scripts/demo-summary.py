#!/usr/bin/env python3
"""Prints the demo's summary for a district officer from the aggregator's HTTP API.

    scripts/demo-summary.py http://127.0.0.1:PORT YYYY-MM-DD WORK_DIR [STATION]

STATION (a transfer station's community id) adds its mass balance for the day; the collection plan for
the next day's round is printed either way.
"""
import datetime
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter

base, day, work = sys.argv[1:4]
station = sys.argv[4] if len(sys.argv) > 4 and sys.argv[4] else None


def get(path):
    with urllib.request.urlopen(base + path, timeout=10) as response:
        return json.loads(response.read().decode())


def get_optional(path, what):
    """`get`, or None after a line saying why when the route is missing (404) or answers an error."""
    try:
        return get(path)
    except urllib.error.HTTPError as error:
        reason = "this aggregator has no such route" if error.code == 404 else f"HTTP {error.code}"
        print(f"    {what}: not available ({reason}: {path.split('?')[0]})")
        return None


def kg(value):
    return f"{value / 1000:8.2f} t" if value >= 1000 else f"{value:8.1f} kg"


def pct(value):
    return "   n/a" if value is None else f"{value * 100:5.1f}%"


ledger = get(f"/api/v1/ledger?level=district&from={day}&to={day}")["total"]
streams = ledger["streams"]
print(f"    {'stream':<11} {'deposited':>11} {'deposits':>9} {'collected':>11} {'contaminated':>13} {'unknown':>11}")
for name in ("wet", "dry", "recyclable", "hazardous"):
    s = streams.get(name)
    if not s:
        continue
    print(f"    {name:<11} {kg(s['deposited_kg']):>11} {s['deposits']:>9} {kg(s['collected_kg']):>11}"
          f" {kg(s['contaminated_kg']):>13} {kg(s['unknown_kg']):>11}")
total = ledger["total"]
print(f"    {'total':<11} {kg(total['deposited_kg']):>11} {total['deposits']:>9} {kg(total['collected_kg']):>11}"
      f" {kg(total['contaminated_kg']):>13} {kg(total['unknown_kg']):>11}")
print("    (unknown: deposits whose mass and volume do not tell wet from dry with 80 % confidence for the bin's")
print("     stream or 95 % against it, or that the sensors could not judge; they are booked by the bin's stream)")


def share(part, whole):
    return "n/a" if whole <= 0 else f"{100 * part / whole:.1f} %"


wet_dry = [streams[name] for name in ("wet", "dry") if name in streams]
wet_dry_kg = sum(s["deposited_kg"] for s in wet_dry)
wet_dry_unknown = sum(s["unknown_kg"] for s in wet_dry)
print(f"    unknown share of the deposited mass: {share(total['unknown_kg'], total['deposited_kg'])} "
      f"({kg(total['unknown_kg']).strip()} of {kg(total['deposited_kg']).strip()}); "
      f"of the wet and dry bins: {share(wet_dry_unknown, wet_dry_kg)} "
      f"({kg(wet_dry_unknown).strip()} of {kg(wet_dry_kg).strip()})")

print()
print(f"    {'target':<40} {'current':>8} {'target':>8} {'deadline':>11}  status")
for target in get("/api/v1/targets")["targets"]:
    goal = target["target"]
    sign = "≥" if target.get("direction") == "at_least" else "≤"
    print(f"    {target['name']:<40} {pct(target['current']):>8} {sign}{pct(goal):>7} {target['deadline']:>11}  "
          f"{target['status']}")
    if target.get("detail"):
        print(f"    {'':<40} {target['detail']}")

print()
communities = {}
for entry in get("/api/v1/bins")["bins"]:
    communities.setdefault(entry["community"], entry.get("street"))
print(f"    {'community':<14} {'street':<8} {'deposited':>11} {'separation':>11} {'contamination':>14}")
for community, street in communities.items():
    row = get(f"/api/v1/ledger?level=community&id={community}&from={day}&to={day}")["total"]
    print(f"    {community:<14} {street or '':<8} {kg(row['total']['deposited_kg']):>11} {pct(row.get('separation_rate')):>11}"
          f" {pct(row.get('contamination_rate')):>14}")

alerts = get("/api/v1/alerts?state=all&limit=1000")["alerts"]
raised = Counter(alert["kind"] for alert in alerts)
still_open = [alert for alert in alerts if alert["state"] != "cleared"]
print()
print(f"    alerts raised: {len(alerts)} (" + ", ".join(f"{kind} {n}" for kind, n in sorted(raised.items())) + ")")
print(f"    still open: {len(still_open)}; cleared: {len(alerts) - len(still_open)}")
for alert in still_open[:8]:
    print(f"      [{alert['severity']:<8}] {alert['message']}")
if len(still_open) > 8:
    print(f"      ... and {len(still_open) - 8} more: {base}/api/v1/alerts")



def signed_kg(value):
    return ("+" if value > 0 else "") + kg(value).strip()


def balance_section():
    query = urllib.parse.urlencode({"station": station, "from": day, "to": day})
    body = get_optional(f"/api/v1/balance?{query}", "mass balance")
    if body is None:
        return
    stations = body.get("stations") or []
    if not stations:
        print(f"    mass balance: no station {station} in the answer")
        return
    for entry in stations:
        days = [d for d in entry.get("days", []) if d.get("date") == day]
        title = f"{entry.get('name') or entry['station']} ({entry['station']})"
        if not days:
            print(f"    mass balance at {title}, {day}: not judged yet")
            continue
        row = days[0]
        print(f"    mass balance at {title}, {day}: what its points collected against what it received")
        print(f"    {'stream':<11} {'collected':>11} {'received':>11} {'difference':>11} {'ratio':>8}")
        for s in row.get("streams", []):
            print(f"    {s['stream']:<11} {kg(s['collected_kg']):>11} {kg(s['received_kg']):>11} "
                  f"{signed_kg(s['difference_kg']):>11} {pct(s.get('ratio')):>8}")
        print(f"    {'total':<11} {kg(row['collected_kg']):>11} {kg(row['received_kg']):>11} "
              f"{signed_kg(row['difference_kg']):>11} {pct(row.get('ratio')):>8}")
        flags = row.get("flags") or []
        print(f"    flags: {', '.join(flags) if flags else 'none (no stream mixing, no mass missing beyond the tolerance)'}")


def clock(stamp):
    return stamp[11:16] if stamp and len(stamp) >= 16 else "?"


def plan_section():
    after = (datetime.date.fromisoformat(day) + datetime.timedelta(days=1)).isoformat()
    plan = get_optional(f"/api/v1/plan?date={after}", "collection plan")
    if plan is None:
        return
    stops = plan.get("stops") or []
    print(f"    collection plan for {after}: {plan.get('bins', '?')} bins to empty at {plan.get('visits', len(stops))} points "
          f"(the fixed round visits {plan.get('fixed_round_visits', '?')}); "
          f"route {plan.get('route_km', 0):.1f} km instead of {plan.get('fixed_round_km', 0):.1f} km")
    streets = plan.get("streets") or []
    if streets:
        print("    by street: " + "; ".join(f"{s['street']} {s['points']} points, {s['bins']} bins" for s in streets))
    for stop in stops[:6]:
        bins = "; ".join(
            f"{b['bin']} {pct(b.get('fill')).strip()} {b.get('reason', '')}"
            + (f" (at {clock(b['forecast_collection_at'])})" if b.get("reason") == "forecast"
               and b.get("forecast_collection_at") else "")
            for b in stop.get("bins", []))
        leg = stop.get("leg_km")
        print(f"    {stop['order']:>3}. {stop['device']:<8} {stop.get('point') or '':<28} "
              f"{'' if leg is None else f'{leg:4.1f} km':>7}  {bins}")
    if len(stops) > 6:
        print(f"         ... and {len(stops) - 6} more stops: {base}/api/v1/plan?date={after}")
    if not stops:
        print("    no bin needs emptying in that round")


if station:
    print()
    balance_section()
print()
plan_section()

print()
print(f"    reports:  {work}/reports/daily.en.html (and weekly, monthly, quarterly; .zh for Chinese; json, csv)")
print(f"    ledger:   {work}/aggregator/ledger.sqlite (SQLite)")
print(f"    logs:     {work}/logs/")
print(f"    API (while it runs, BINS_DEMO_KEEP=1 scripts/demo):")
for path in ("/api/v1/bins", f"/api/v1/ledger?level=street&id=st-east&from={day}&to={day}",
             "/api/v1/targets", "/api/v1/alerts?state=open", f"/api/v1/reports/daily?date={day}&format=html&lang=zh",
             *([f"/api/v1/balance?station={station}&from={day}&to={day}"] if station else []),
             f"/api/v1/plan?date={(datetime.date.fromisoformat(day) + datetime.timedelta(days=1)).isoformat()}",
             "/metrics"):
    print(f"              {base}{path}")
