#!/usr/bin/env python3
"""Prints the demo's summary for a district officer from the aggregator's HTTP API.

    scripts/demo-summary.py http://127.0.0.1:PORT YYYY-MM-DD WORK_DIR
"""
import json
import sys
import urllib.request
from collections import Counter

base, day, work = sys.argv[1:4]


def get(path):
    with urllib.request.urlopen(base + path, timeout=10) as response:
        return json.loads(response.read().decode())


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
print("    (unknown: deposits whose mass and volume do not tell wet from dry with 90 % confidence, or that the")
print("     sensors could not judge; they are booked by the bin's stream)")


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

print()
print(f"    reports:  {work}/reports/daily.en.html (and weekly, monthly, quarterly; .zh for Chinese; json, csv)")
print(f"    ledger:   {work}/aggregator/ledger.sqlite (SQLite)")
print(f"    logs:     {work}/logs/")
print(f"    API (while it runs, BINS_DEMO_KEEP=1 scripts/demo):")
for path in ("/api/v1/bins", f"/api/v1/ledger?level=street&id=st-east&from={day}&to={day}",
             "/api/v1/targets", "/api/v1/alerts?state=open", f"/api/v1/reports/daily?date={day}&format=html&lang=zh",
             "/metrics"):
    print(f"              {base}{path}")
