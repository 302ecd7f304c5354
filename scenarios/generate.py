#!/usr/bin/env python3
"""Writes the scenario library (DESIGN section 8 files) for `binsd simulate`.

Each profile is a day at one kind of sorting point, drawn from a seeded generator so the files are
reproducible. Waste is described by what it physically is: a deposit's loose volume follows from its
mass and a bulk density drawn from the ranges the daemon's classifier is built on (docs/binsd.md):
kitchen (wet) waste 0.30-0.80 kg/L, residual (dry) waste 0.08-0.13 kg/L, recyclables (bottles, cans,
cardboard) 0.03-0.07 kg/L, hazardous items (batteries, paint tins) 0.3-1.0 kg/L.

    scenarios/generate.py                       # rewrite the library in scenarios/
    scenarios/generate.py --profile office --device pt-0107 --start 2026-06-01T00:00:00+08:00 \
        --seed 7 --out /tmp/pt-0107.yaml        # one point, e.g. for the demo
    scenarios/generate.py --accuracy small-missorts --seed 404 --out scenarios/accuracy-small-missorts.yaml
    scenarios/generate.py --profile small-residential --device pt-mix-01 --seed 201 --days 3 \
        --out pt-mix-01.yaml                    # three consecutive days
    scenarios/generate.py --profile transfer-station --device ts-mix --seed 203 --mix-round 2 \
        --station-from pt-mix-01.yaml pt-mix-02.yaml --out ts-mix.yaml   # the station those points deliver to

A transfer station derived with --station-from receives what its points' collections removed (wet and
dry), cart by cart in the crews' rounds; --mix-round DAY tips that day's first wet round into the dry
container. See scenarios/README.md and scenarios/mixing-round/README.md.
"""
import argparse
import datetime
import json
import math
import os
import random
import re
import sys

DENSITY = {"wet": (0.30, 0.80), "dry": (0.08, 0.13), "recyclable": (0.03, 0.07), "hazardous": (0.30, 1.00)}
MASS = {"wet": (0.3, 2.5), "dry": (0.2, 1.4), "recyclable": (0.1, 0.8), "hazardous": (0.05, 0.6)}

# Household bins: a 240 L wheelie-bin body (480 x 550 x 900 mm) on a load cell, ranger under the lid.
BOX_240 = "{kind: box, width_mm: 480, length_mm: 550, depth_mm: 900}"
BOX_120 = "{kind: box, width_mm: 480, length_mm: 400, depth_mm: 650}"
ROUND_360 = "{kind: cylinder, diameter_mm: 700, depth_mm: 950}"
CONTAINER = "{kind: box, width_mm: 2000, length_mm: 1500, depth_mm: 1400}"


def bins_block(bins):
    lines = ["bins:"]
    for b in bins:
        lines.append(f"  - id: {b['id']}")
        lines.append(f"    stream: {b['stream']}")
        lines.append(f"    shape: {b['shape']}")
        lines.append(f"    scale: {b['scale']}")
        lines.append(f"    ranger: {b['ranger']}")
        lines.append(f"    lid: {'true' if b.get('lid', True) else 'false'}")
    return lines


def household_bins(rng, streams=("wet", "dry", "recyclable", "hazardous"), noise=30):
    bins = []
    for stream in streams:
        shape = {"wet": BOX_240, "dry": BOX_240, "recyclable": ROUND_360, "hazardous": BOX_120}[stream]
        counts_per_kg = rng.randint(19000, 23000)
        offset = rng.randint(60000, 110000)
        bins.append({
            "id": stream, "stream": stream, "shape": shape,
            "scale": f"{{counts_per_kg: {counts_per_kg}, offset_counts: {offset}, noise_counts: {noise}}}",
            "ranger": "{mount_mm: 40, jitter_us: 8, surface_roughness_mm: 4}",
        })
    return bins


class Timeline:
    """Keeps lid cycles of one bin apart, so every cycle is one deposit (or collection) of known truth.
    Profiles book collections first; deposits then take the first free slot at or after their time."""

    def __init__(self, gap_s=45):
        self.events = []  # (at, what): `what` is the event's text after `at`
        self.intervals = {}
        self.gap_s = gap_s

    def reserve(self, bin_id, at, duration):
        at = int(at)
        busy = sorted(self.intervals.setdefault(bin_id, []))
        for start, end in busy:
            if at + duration <= start:
                break
            if at < end:
                at = end
        self.intervals[bin_id].append((at, at + duration))
        return at

    def deposit(self, rng, bin_id, at, material, mass=None, lid_open=None, volume=None):
        lo, hi = MASS[material]
        mass = mass if mass is not None else round(rng.uniform(lo, hi), 2)
        if volume is None:
            density = rng.uniform(*DENSITY[material])
            volume = round(mass / density, 1)
        lid_open = lid_open if lid_open is not None else rng.randint(3, 8)
        at = self.reserve(bin_id, at, lid_open + self.gap_s)
        entry = f"deposit: {{bin: {bin_id}, mass_kg: {mass}, volume_l: {volume}"
        if material != bin_id and material in DENSITY:
            entry += f", material: {material}"
        entry += f", lid_open_s: {lid_open}}}"
        self.events.append((at, entry))
        return at

    def collect(self, bin_id, at):
        at = self.reserve(bin_id, at, 90)
        self.events.append((at, f"collect: {{bin: {bin_id}}}"))
        return at

    def add(self, at, text):
        self.events.append((int(at), text))

    def append_day(self, later, offset):
        """Appends another timeline's events `offset` seconds later (the next day of a multi-day file),
        refusing lid cycles that would overlap across the day boundary."""
        for at, what in later.events:
            self.events.append((at + offset, what))
        for bin_id, spans in later.intervals.items():
            shifted = [(start + offset, end + offset) for start, end in spans]
            mine = self.intervals.setdefault(bin_id, [])
            last_end = max((end for _, end in mine), default=0)
            first_start = min(start for start, _ in shifted)
            if first_start < last_end:
                sys.exit(f"generate.py: bin {bin_id}: a lid cycle at {first_start} s overlaps the previous day's "
                         f"(busy until {last_end} s)")
            mine.extend(shifted)

    def lines(self):
        return ["events:"] + [f"  - {{at: {at}, {what}}}" for at, what in sorted(self.events, key=lambda e: e[0])]


def daily_times(rng, count, peaks, day=86400):
    """`count` times of day drawn around peaks [(hour, spread_h, weight)], sorted."""
    total = sum(w for _, _, w in peaks)
    times = []
    for _ in range(count):
        pick = rng.uniform(0, total)
        for hour, spread, weight in peaks:
            pick -= weight
            if pick <= 0:
                break
        t = rng.gauss(hour * 3600, spread * 3600)
        times.append(int(min(max(t, 300), day - 900)))
    return sorted(times)


RESIDENTIAL_PEAKS = [(7.5, 1.0, 4), (12.5, 1.0, 1), (19.5, 1.5, 5)]
OFFICE_PEAKS = [(9.0, 0.7, 2), (12.5, 0.6, 5), (15.5, 1.0, 2), (17.8, 0.5, 2)]


def residential(rng, t, streams=("wet", "dry", "recyclable", "hazardous"), misfile=0.03, scale=1.0):
    t.collect("wet", 10 * 3600 + 600)
    t.collect("dry", 10 * 3600 + 1200)
    t.collect("dry", 18 * 3600 + 1800)
    if "recyclable" in streams:
        t.collect("recyclable", 15 * 3600)
    counts = {"wet": int(110 * scale), "dry": int(60 * scale), "recyclable": int(30 * scale), "hazardous": 2}
    for stream, count in counts.items():
        if stream not in streams:
            continue
        for at in daily_times(rng, count, RESIDENTIAL_PEAKS):
            material = stream
            if stream in ("wet", "dry") and rng.random() < misfile:
                material = "dry" if stream == "wet" else "wet"
            t.deposit(rng, stream, at, material)


def profile_residential(rng):
    t = Timeline()
    residential(rng, t)
    return household_bins(rng), t, "A normal day at a residential sorting point (about 150 households): " \
        "morning and evening peaks, 3% of wet/dry deposits in the wrong bin, daily collections."


def profile_office(rng):
    t = Timeline(gap_s=40)
    for hour in (11.5, 13.5, 15.5, 19):
        t.collect("dry", hour * 3600)
    t.collect("wet", 14 * 3600 + 300)
    t.collect("wet", 19 * 3600 + 600)
    for hour in (13.0, 16.0, 19.25):
        t.collect("recyclable", hour * 3600)
    counts = {"wet": 90, "dry": 85, "recyclable": 55}
    for stream, count in counts.items():
        for at in daily_times(rng, count, OFFICE_PEAKS):
            material = stream
            if stream in ("wet", "dry") and rng.random() < 0.05:
                material = "dry" if stream == "wet" else "wet"
            t.deposit(rng, stream, at, material)
    bins = household_bins(rng, ("wet", "dry", "recyclable"))
    for b in bins:
        b["shape"] = ROUND_360
    return bins, t, \
        "A busy office building: lunch-time rush of canteen waste, cups and packaging; 360 L bins emptied " \
        "several times a day by the building's cleaners."


def profile_missorting(rng):
    t = Timeline()
    residential(rng, t, streams=("wet", "dry"), misfile=0.25, scale=0.7)
    return household_bins(rng, ("wet", "dry")), t, \
        "A point with poor sorting: a quarter of wet/dry deposits go into the other bin (residual waste " \
        "in the kitchen-waste bin and the reverse). The daemon should flag them as contaminated."


def profile_small_residential(rng):
    t = Timeline()
    residential(rng, t, streams=("wet", "dry"), scale=0.35)
    return household_bins(rng, ("wet", "dry")), t, \
        "A small residential sorting point (about 50 households) with a wet and a dry bin: morning and evening " \
        "peaks, 3% of deposits in the wrong bin, wet and dry collected every morning and dry again in the evening."


def profile_faults(rng):
    t = Timeline()
    residential(rng, t, scale=0.6)
    t.add(4 * 3600, "fault: {bin: wet, sensor: ranger, kind: no_echo, for_s: 7200}")
    t.add(13 * 3600, "fault: {bin: dry, sensor: scale, kind: disconnected, for_s: 1800}")
    t.add(16 * 3600, "fault: {bin: wet, sensor: scale, kind: noise, for_s: 3600}")
    t.add(21 * 3600, "fault: {bin: recyclable, sensor: ranger, kind: stuck, for_s: 3600}")
    t.add(8 * 3600, "fault: {bin: dry, sensor: lid, kind: stuck, for_s: 3600}")
    return household_bins(rng), t, \
        "Sensor faults: a ranger that stops echoing (04:00-06:00), a lid switch stuck closed (08:00-09:00), a " \
        "scale unplugged (13:00-13:30), a noisy load cell (16:00-17:00), a stuck ranger (21:00-22:00). Faults " \
        "must be raised and cleared, and no deposit lost to the stuck lid switch."


def profile_cold_night(rng):
    t = Timeline()
    times = daily_times(rng, 60, [(7.0, 0.8, 3), (19.0, 1.2, 4), (2.0, 1.5, 1)])
    for at in times:
        stream = rng.choice(["wet", "wet", "dry"])
        t.deposit(rng, stream, at, stream)
    temps = [(0, 4), (2 * 3600, -2), (4 * 3600, -8), (6 * 3600, -6), (9 * 3600, 0), (12 * 3600, 6),
             (15 * 3600, 8), (18 * 3600, 3), (21 * 3600, -3), (23 * 3600, -7)]
    for at, celsius in temps:
        t.add(max(at, 1), f"temperature_c: {celsius}")
    return household_bins(rng, ("wet", "dry")), t, \
        "A cold night: the air falls from 4 °C to -8 °C and back, so the rangers' speed of sound changes " \
        "by 2%; temperature compensation keeps fill and deposit volumes right."


def station_bins():
    return [
        {"id": "wet", "stream": "wet", "shape": CONTAINER,
         "scale": "{counts_per_kg: 400, offset_counts: 150000, noise_counts: 60, rate: 10}",
         "ranger": "{model: jsn-sr04t, mount_mm: 300, jitter_us: 12, surface_roughness_mm: 25}"},
        {"id": "dry", "stream": "dry", "shape": CONTAINER,
         "scale": "{counts_per_kg: 400, offset_counts: 160000, noise_counts: 60, rate: 10}",
         "ranger": "{model: jsn-sr04t, mount_mm: 300, jitter_us: 12, surface_roughness_mm: 25}"},
    ]


def profile_transfer_station(rng):
    t = Timeline(gap_s=90)
    bins = station_bins()
    t.collect("dry", 18 * 3600)
    # Crews bring carts (one 240 L wheelie bin emptied per deposit).
    for stream, count in (("wet", 14), ("dry", 10)):
        for at in daily_times(rng, count, [(9.0, 1.5, 1), (15.0, 1.5, 1)]):
            cart_volume = rng.uniform(150, 230)
            density = rng.uniform(*DENSITY[stream])
            mass = round(cart_volume * density, 1)
            t.deposit(rng, stream, at, stream, mass=mass, lid_open=30)
    return bins, t, \
        "A transfer-station container pair (4.2 m³ each, waterproof JSN-SR04T rangers): crews empty carts " \
        "of 150-230 L into them; one container is hauled away in the evening."


def profile_network_outage(rng):
    t = Timeline()
    residential(rng, t, scale=0.8)
    t.add(11 * 3600, "network: {down_for_s: 10800}")
    return household_bins(rng), t, \
        "A residential day whose network link is down from 11:00 to 14:00: the daemon keeps sensing, queues " \
        "events in its outbox and sends them (marked historical) when the link returns; nothing is lost."


def accuracy_small_missorts(seed):
    """The accuracy table's fourth scenario: a four-bin point (a wet and a dry 240 L box, a wet and a dry
    round bin of 450 mm) where a fifth of the deposits are small, heavy mis-sorts: bags of kitchen waste of
    0.3-3 kg in the dry bins and bags of residual waste of 1-4 kg in the wet bins. Written like the other
    accuracy files: times and lid openings to 0.1 s, masses to grams, volumes to 0.01 L."""
    rng = random.Random(f"accuracy-small-missorts:{seed}")
    box = "{kind: box, width_mm: 480, length_mm: 550, depth_mm: 900}"
    cylinder = "{kind: cylinder, diameter_mm: 450, depth_mm: 800}"
    bins = []
    for bin_id, stream, shape in (("wet", "wet", box), ("dry", "dry", box), ("wet-round", "wet", cylinder),
                                  ("dry-round", "dry", cylinder)):
        bins.append({
            "id": bin_id, "stream": stream, "shape": shape,
            "scale": f"{{counts_per_kg: {rng.randint(19000, 23000)}, offset_counts: {rng.randint(-60000, 120000)}, "
                     f"noise_counts: 30}}",
            "ranger": "{mount_mm: 40, jitter_us: 8, surface_roughness_mm: 4}",
        })
    capacity = {b["id"]: capacity_l(b["shape"]) for b in bins}
    stream_of = {b["id"]: b["stream"] for b in bins}
    events = []
    busy = {b["id"]: 0.0 for b in bins}
    volume = {b["id"]: 0.0 for b in bins}
    times = daily_times(rng, 280, [(7.5, 1.2, 4), (12.5, 1.0, 1), (19.0, 1.6, 5)], day=86400)
    for at in times:
        bin_id = rng.choice([b["id"] for b in bins])
        stream = stream_of[bin_id]
        lid_open = round(rng.uniform(3, 12), 1)
        start = max(float(at) + round(rng.uniform(0, 0.9), 1), busy[bin_id])
        missort = rng.random() < 0.2
        if missort and stream == "dry":
            material, mass, density = "wet", rng.uniform(0.3, 3.0), rng.uniform(0.3, 0.8)
        elif missort:
            material, mass, density = "dry", rng.uniform(1.0, 4.0), rng.uniform(0.08, 0.13)
        elif stream == "wet":
            material = "wet"
            litres, density = rng.uniform(1.5, 10), rng.uniform(0.3, 0.8)
            mass = litres * density
        else:
            material = "dry"
            litres, density = rng.uniform(3, 30), rng.uniform(0.08, 0.13)
            mass = litres * density
        litres = round(mass / density, 2)
        if volume[bin_id] + litres > 0.75 * capacity[bin_id]:
            # The crew empties it first.
            events.append((start, f"  - {{at: {start:g}, collect: {{bin: {bin_id}}}}}"))
            volume[bin_id] = 0.0
            start += 120
        entry = f"  - {{at: {start:g}, deposit: {{bin: {bin_id}, mass_kg: {round(mass, 3):g}, volume_l: {litres:g}"
        if material != stream:
            entry += f", material: {material}"
        entry += f", lid_open_s: {lid_open:g}}}}}"
        events.append((start, entry))
        volume[bin_id] += litres
        busy[bin_id] = start + lid_open + 60
    header = [
        "# Accuracy table, scenario 4 (\"small mis-sorts\"): a four-bin point at 22 °C, a wet and a dry 240 L box",
        "# (480 x 550 mm) and a wet and a dry round bin (450 mm), HX711 noise 30 counts, HC-SR04 rangers; a fifth of",
        "# the deposits are small, heavy mis-sorts: kitchen waste of 0.3-3 kg in the dry bins, residual bags of",
        "# 1-4 kg in the wet bins.",
        f"# Generated by scenarios/generate.py --accuracy small-missorts --seed {seed}; the events below are the data.",
        "device: pt-acc-missort", "start: 2026-09-07T06:00:00+08:00", f"seed: {seed}", "temperature_c: 22",
    ]
    lines = header + bins_block(bins) + ["events:"] + [text for _, text in sorted(events, key=lambda e: e[0])]
    return "\n".join(lines + ["end: 86400"]) + "\n"


ACCURACY = {"small-missorts": accuracy_small_missorts}


PROFILES = {
    "residential": profile_residential,
    "office": profile_office,
    "missorting": profile_missorting,
    "faults": profile_faults,
    "cold-night": profile_cold_night,
    "transfer-station": profile_transfer_station,
    "network-outage": profile_network_outage,
}
# The library (`scenarios/*.yaml`, rewritten when the generator runs without arguments) is the profiles
# above; these are only written on request (e.g. scenarios/mixing-round/).
EXTRA_PROFILES = {
    "small-residential": profile_small_residential,
}
ALL_PROFILES = {**PROFILES, **EXTRA_PROFILES}


def capacity_l(shape):
    numbers = {k: float(v) for k, v in (part.split(": ") for part in shape.strip("{}").split(", ")[1:])}
    if "diameter_mm" in numbers:
        return math.pi * numbers["diameter_mm"] ** 2 / 4 * numbers["depth_mm"] / 1e6
    return numbers["width_mm"] * numbers["length_mm"] * numbers["depth_mm"] / 1e6


def peak_fill(bins, timeline):
    """Highest fill fraction each bin reaches between collections (loose volume over capacity)."""
    capacity = {b["id"]: capacity_l(b["shape"]) for b in bins}
    volume = {b: 0.0 for b in capacity}
    peak = {b: 0.0 for b in capacity}
    for _, text in sorted(timeline.events, key=lambda e: e[0]):
        if "deposit:" in text:
            bin_id = text.split("bin: ")[1].split(",")[0]
            volume[bin_id] += float(text.split("volume_l: ")[1].split(",")[0].rstrip("}"))
            peak[bin_id] = max(peak[bin_id], volume[bin_id] / capacity[bin_id])
        elif "collect:" in text:
            volume[text.split("bin: ")[1].split("}")[0]] = 0.0
    return peak


def build(profile, seed, days=1):
    """The profile's bins, timeline and description for `days` consecutive days: day 1 draws from the
    profile's seed exactly as a one-day file does; each later day repeats the profile's timeline with
    draws of its own, `(day - 1) x 86400` s later."""
    rng = random.Random(f"{profile}:{seed}")
    bins, timeline, description = ALL_PROFILES[profile](rng)
    for day in range(2, days + 1):
        _, later, _ = ALL_PROFILES[profile](random.Random(f"{profile}:{seed}:day{day}"))
        timeline.append_day(later, (day - 1) * 86400)
    if days > 1:
        description = f"{days} consecutive days. {description}"
    return bins, timeline, description


def render(profile, device, start, seed, temperature=None, days=1):
    bins, timeline, description = build(profile, seed, days)
    for bin_id, fraction in peak_fill(bins, timeline).items():
        if fraction > 0.97:
            print(f"warning: {profile}: bin {bin_id} reaches {fraction:.0%} of its capacity", file=sys.stderr)
    temp = temperature if temperature is not None else (4 if profile == "cold-night" else 22)
    command = f"--profile {profile} --seed {seed}" + (f" --days {days}" if days > 1 else "")
    out = [f"# {line}" for line in wrap(description)]
    out += [f"# Generated by scenarios/generate.py {command}; edit the generator, not this file.",
            f"description: {quote(description)}",
            f"device: {device}", f"start: {start}", f"seed: {seed}", f"temperature_c: {temp}"]
    if profile == "transfer-station":
        # A container scale is calibrated with a load its resolution can see: a pallet of known weight.
        out.append("calibration_reference_kg: 200")
    out += bins_block(bins)
    out += timeline.lines()
    out.append(f"end: {days * 86400}")
    return "\n".join(out) + "\n"


STATION_RECEIVES = ("wet", "dry")
CART_L = 240
LOSS = {"wet": (0.01, 0.04), "dry": (0.0, 0.02)}  # moisture and spillage between the point and the station
HAUL_AT = 0.70  # a container is hauled away before a cart would take it past this share of its volume
ROUND_WINDOW_S = 3600  # collections within this of a round's first one are the same round


class PointFile:
    """The parts of a scenario file (as this generator writes them: one flow-style event per line) that
    the station's derivation needs: device, start, end, each bin's stream, deposits and collections."""

    EVENT = re.compile(r"^\s*- \{at: ([0-9.]+), (deposit|collect|fault|network|temperature_c):(.*)$")
    DEPOSIT = re.compile(r"^ \{bin: ([\w.-]+), mass_kg: ([0-9.]+), volume_l: ([0-9.]+)")
    COLLECT = re.compile(r"^ \{bin: ([\w.-]+)\}")

    def __init__(self, path):
        self.path = path
        self.device = self.start = self.end = None
        self.streams = {}
        self.events = []  # (at, "deposit" | "collect", bin, mass_kg, volume_l)
        section, bin_id = None, None
        with open(path) as f:
            for number, line in enumerate(f, 1):
                line = line.rstrip("\n")
                if not line.strip() or line.lstrip().startswith("#"):
                    continue
                if not line.startswith(" "):
                    key, _, value = line.partition(":")
                    section, value = key, value.strip()
                    if key == "device":
                        self.device = value
                    elif key == "start":
                        self.start = datetime.datetime.fromisoformat(value)
                    elif key == "end":
                        self.end = float(value)
                    continue
                if section == "bins":
                    key, _, value = line.strip().lstrip("- ").partition(":")
                    if key == "id":
                        bin_id = value.strip()
                    elif key == "stream":
                        self.streams[bin_id] = value.strip()
                elif section == "events":
                    match = self.EVENT.match(line)
                    if not match:
                        sys.exit(f"generate.py: {path}:{number}: not an event line as this generator writes them: {line}")
                    at, kind, rest = float(match.group(1)), match.group(2), match.group(3)
                    if kind == "deposit":
                        deposit = self.DEPOSIT.match(rest)
                        if not deposit:
                            sys.exit(f"generate.py: {path}:{number}: cannot read the deposit: {line}")
                        self.events.append((at, kind, deposit.group(1), float(deposit.group(2)), float(deposit.group(3))))
                    elif kind == "collect":
                        collect = self.COLLECT.match(rest)
                        if not collect:
                            sys.exit(f"generate.py: {path}:{number}: cannot read the collection: {line}")
                        self.events.append((at, kind, collect.group(1), 0.0, 0.0))
        if self.device is None or self.start is None or self.end is None or not self.streams:
            sys.exit(f"generate.py: {path}: needs device, start, end and bins")
        self.events.sort(key=lambda e: e[0])

    def collections(self):
        """Each collection with the truth it removes: the deposits into that bin since its previous
        collection (bins start empty). Yields (at, bin, stream, mass_kg, volume_l)."""
        load = {b: [0.0, 0.0] for b in self.streams}
        for at, kind, bin_id, mass, volume in self.events:
            if kind == "deposit":
                load[bin_id][0] += mass
                load[bin_id][1] += volume
            else:
                mass, volume = load[bin_id]
                load[bin_id] = [0.0, 0.0]
                yield at, bin_id, self.streams[bin_id], round(mass, 2), round(volume, 1)


def derive_station(paths, device, start, seed, mix_days=()):
    """The transfer station's scenario from its points' scenario files: every collection of a stream the
    station receives reaches it in the crew's round, one deposit per cart, into the container of its
    stream (or, on a `mix_days` day, the first round carrying wet waste tips its wet carts into the dry
    container). Returns (bins, timeline, description, balance, start text, end_s)."""
    points = [PointFile(path) for path in paths]
    start_at = datetime.datetime.fromisoformat(start) if start else points[0].start
    rng = random.Random(f"transfer-station:{seed}:from-points")
    collections = []  # (at on the station's clock, point index, bin, stream, mass, volume)
    end = 0.0
    for index, point in enumerate(points):
        shift = (point.start - start_at).total_seconds()
        end = max(end, point.end + shift)
        for at, bin_id, stream, mass, volume in point.collections():
            if stream in STATION_RECEIVES and at + shift >= 0:
                collections.append((at + shift, index, bin_id, stream, mass, volume))
    collections.sort(key=lambda c: (c[0], c[1]))

    rounds = []
    for collection in collections:
        if rounds and collection[0] - rounds[-1][0][0] <= ROUND_WINDOW_S:
            rounds[-1].append(collection)
        else:
            rounds.append([collection])

    def date_of(at):
        return (start_at + datetime.timedelta(seconds=at)).date().isoformat()

    bins = station_bins()
    capacity = {b["id"]: capacity_l(b["shape"]) for b in bins}
    filled = {b["id"]: 0.0 for b in bins}
    t = Timeline(gap_s=90)
    balance = {}  # date -> stream -> [collected, received]
    mixed = set()
    free_at = 0
    for round_ in rounds:
        day = int(round_[0][0] // 86400) + 1
        carries_wet = any(c[3] == "wet" and c[4] > 0 for c in round_)
        mixing = day in mix_days and day not in mixed and carries_wet
        if mixing:
            mixed.add(day)
        arrival = max(int(round_[-1][0]) + rng.randint(1800, 3600), free_at)
        for at, index, bin_id, stream, mass, volume in sorted(round_, key=lambda c: (c[1], c[0])):
            balance.setdefault(date_of(at), {}).setdefault(stream, [0.0, 0.0])[0] += mass
            if mass <= 0.05 or volume <= 0:
                continue  # an empty bin: nothing to bring
            container = "dry" if mixing and stream == "wet" else stream
            loss = rng.uniform(*LOSS[stream])
            received, litres = mass * (1 - loss), volume * (1 - loss)
            carts = max(1, math.ceil(litres / (CART_L - 20)))
            weights = [rng.uniform(0.92, 1.08) for _ in range(carts)]
            shares = [w / sum(weights) for w in weights]
            masses = [max(0.1, round(received * share, 1)) for share in shares[:-1]]
            masses.append(max(0.1, round(received - sum(masses), 1)))
            for cart_mass, share in zip(masses, shares):
                cart_l = max(0.1, round(litres * share, 1))
                if filled[container] + cart_l > HAUL_AT * capacity[container]:
                    t.collect(container, arrival)
                    filled[container] = 0.0
                tipped = t.deposit(rng, container, arrival, stream, mass=cart_mass, lid_open=30, volume=cart_l)
                filled[container] += cart_l
                free_at = max(free_at, tipped + 30 + t.gap_s)
                balance.setdefault(date_of(tipped), {}).setdefault(container, [0.0, 0.0])[1] += cart_mass
    missing = sorted(set(mix_days) - mixed)
    if missing:
        print(f"warning: no round carrying wet waste on day(s) {', '.join(map(str, missing))}: nothing mixed",
              file=sys.stderr)
    last = max((end_ for spans in t.intervals.values() for _, end_ in spans), default=0)
    if last > end:
        end = math.ceil(last / 3600) * 3600
    names = [p.device for p in points]
    listed = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    description = (
        f"A transfer station (a wet and a dry 4.2 m³ container, waterproof JSN-SR04T rangers) receiving what its "
        f"{len(points)} point(s) collect ({listed}): each collection of a wet or dry bin reaches it in the crew's round "
        f"30-60 minutes after the round's last collection, one deposit per cart of up to {CART_L} L, less 1-4 % "
        f"(wet) or 0-2 % (dry) for moisture and spillage; a container is hauled away before it passes "
        f"{HAUL_AT:.0%} of its volume.")
    if mixed:
        description += (f" On day {', '.join(map(str, sorted(mixed)))} the first round carrying wet waste tips its "
                        f"wet carts into the dry container (streams mixed on the way).")
    return bins, t, description, balance, start_at.isoformat(), int(end)


def balance_rows(balance):
    """[(date, stream, collected, received, ratio)], streams in STATION_RECEIVES order, then a total."""
    rows = []
    for date in sorted(balance):
        total = [0.0, 0.0]
        for stream in STATION_RECEIVES:
            collected, received = balance[date].get(stream, [0.0, 0.0])
            total[0] += collected
            total[1] += received
            rows.append((date, stream, round(collected, 2), round(received, 1),
                         round(received / collected, 3) if collected > 0 else None))
        rows.append((date, "total", round(total[0], 2), round(total[1], 1),
                     round(total[1] / total[0], 3) if total[0] > 0 else None))
    return rows


def balance_flags(rows, tolerance=0.1):
    """The flags the aggregator's balance should raise for one day's rows (the alert rules' defaults):
    stream_mixing when one stream's received is below its collected beyond the tolerance while another's is
    above it; mass_missing when the total received is below the total collected beyond it."""
    streams = [r for r in rows if r[1] != "total" and r[2] > 0]
    total = [r for r in rows if r[1] == "total"][0]
    flags = []
    if any(r[3] < r[2] * (1 - tolerance) for r in streams) and any(r[3] > r[2] * (1 + tolerance) for r in streams):
        flags.append("stream_mixing")
    if total[2] > 0 and total[3] < total[2] * (1 - tolerance):
        flags.append("mass_missing")
    return flags


def balance_days(balance):
    """The truth balance shaped like a station's `days` in GET /api/v1/balance."""
    days = []
    rows = balance_rows(balance)
    for date in sorted(balance):
        mine = [r for r in rows if r[0] == date]
        total = mine[-1]
        days.append({"date": date, "collected_kg": total[2], "received_kg": total[3],
                     "difference_kg": round(total[3] - total[2], 2), "ratio": total[4], "flags": balance_flags(mine),
                     "streams": [{"stream": s, "collected_kg": c, "received_kg": r, "difference_kg": round(r - c, 2),
                                  "ratio": q} for _, s, c, r, q in mine[:-1]]})
    return days


def balance_table(balance):
    lines = [f"{'date':<10}  {'stream':<6}  {'collected_kg':>12}  {'received_kg':>11}  {'ratio':>6}  flags"]
    for day in balance_days(balance):
        for row in day["streams"] + [dict(day, stream="total")]:
            ratio = "n/a" if row["ratio"] is None else f"{row['ratio']:.3f}"
            flags = ", ".join(day["flags"]) if row["stream"] == "total" and day["flags"] else ""
            lines.append(f"{day['date']:<10}  {row['stream']:<6}  {row['collected_kg']:>12.2f}  "
                         f"{row['received_kg']:>11.1f}  {ratio:>6}  {flags}".rstrip())
    return lines


def render_station(paths, device, start, seed, mix_days=(), temperature=22):
    bins, timeline, description, balance, start_text, end = derive_station(paths, device, start, seed, mix_days)
    for bin_id, fraction in peak_fill(bins, timeline).items():
        if fraction > 0.97:
            print(f"warning: station: container {bin_id} reaches {fraction:.0%} of its capacity", file=sys.stderr)
    command = f"--profile transfer-station --seed {seed} --station-from {' '.join(os.path.basename(p) for p in paths)}"
    command += "".join(f" --mix-round {day}" for day in sorted(set(mix_days)))
    out = [f"# {line}" for line in wrap(description)]
    out += [f"# Generated by scenarios/generate.py {command}; edit the generator, not this file.",
            "# Truth balance (collected: deposits in the points' bins at their collections; received: carts tipped here):"]
    out += [f"#   {line}" for line in balance_table(balance)]
    out += [f"description: {quote(description)}",
            f"device: {device}", f"start: {start_text}", f"seed: {seed}", f"temperature_c: {temperature}",
            "calibration_reference_kg: 200"]
    out += bins_block(bins)
    out += timeline.lines()
    out.append(f"end: {end}")
    return "\n".join(out) + "\n", balance


def quote(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def wrap(text, width=100):
    words, line, lines = text.split(), "", []
    for word in words:
        if len(line) + len(word) + 1 > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    if line:
        lines.append(line)
    return lines


def write(text, path):
    if path:
        with open(path, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=sorted(ALL_PROFILES))
    parser.add_argument("--device", default=None)
    parser.add_argument("--start", default=None,
                        help="virtual start (default 2026-06-01T00:00:00+08:00; with --station-from, the first point's)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--days", type=int, default=1, help="consecutive days of the profile (default 1)")
    parser.add_argument("--out", default=None)
    parser.add_argument("--accuracy", choices=sorted(ACCURACY), help="write an accuracy-table scenario instead")
    parser.add_argument("--station-from", nargs="+", metavar="FILE",
                        help="transfer-station: derive the station from these points' scenario files")
    parser.add_argument("--mix-round", type=int, action="append", default=[], metavar="DAY",
                        help="with --station-from: on day DAY (1-based) the first round carrying wet waste tips it "
                             "into the dry container (repeatable)")
    parser.add_argument("--balance-out", metavar="FILE",
                        help="with --station-from: also write the truth balance per day and stream as JSON")
    args = parser.parse_args()
    if args.days < 1 or args.days > 400:
        parser.error("--days must be 1 to 400")
    if (args.mix_round or args.balance_out) and not args.station_from:
        parser.error("--mix-round and --balance-out need --station-from")
    if args.station_from and args.profile != "transfer-station":
        parser.error("--station-from needs --profile transfer-station")
    if any(day < 1 for day in args.mix_round):
        parser.error("--mix-round days are 1-based")
    if args.accuracy:
        write(ACCURACY[args.accuracy](args.seed), args.out)
        return
    if args.station_from:
        text, balance = render_station(args.station_from, args.device or "pt-transfer-station", args.start, args.seed,
                                       args.mix_round)
        write(text, args.out)
        print("truth balance:", file=sys.stderr)
        for line in balance_table(balance):
            print(f"  {line}", file=sys.stderr)
        if args.balance_out:
            with open(args.balance_out, "w") as f:
                f.write('{"device": ' + json.dumps(args.device or "pt-transfer-station") + ', "tolerance": 0.1, "days": [\n')
                f.write(",\n".join("  " + json.dumps(day) for day in balance_days(balance)))
                f.write("\n]}\n")
        return
    start = args.start or "2026-06-01T00:00:00+08:00"
    if args.profile:
        write(render(args.profile, args.device or f"pt-{args.profile}", start, args.seed, days=args.days), args.out)
        return
    here = os.path.dirname(os.path.abspath(__file__))
    for index, profile in enumerate(PROFILES):
        path = os.path.join(here, f"{profile}.yaml")
        with open(path, "w") as f:
            f.write(render(profile, f"pt-demo-{index + 1:02d}", start, args.seed, days=args.days))
        print(f"wrote {path}")
    for profile in PROFILES:
        bins, timeline, _ = build(profile, args.seed, args.days)
        peaks = ", ".join(f"{b} {f:.0%}" for b, f in peak_fill(bins, timeline).items())
        print(f"  {profile}: peak fill {peaks}")


if __name__ == "__main__":
    main()
