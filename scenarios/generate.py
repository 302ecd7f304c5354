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
"""
import argparse
import math
import os
import random
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
        self.events = []
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

    def deposit(self, rng, bin_id, at, material, mass=None, lid_open=None):
        lo, hi = MASS[material]
        mass = mass if mass is not None else round(rng.uniform(lo, hi), 2)
        density = rng.uniform(*DENSITY[material])
        volume = round(mass / density, 1)
        lid_open = lid_open if lid_open is not None else rng.randint(3, 8)
        at = self.reserve(bin_id, at, lid_open + self.gap_s)
        entry = f"  - {{at: {at}, deposit: {{bin: {bin_id}, mass_kg: {mass}, volume_l: {volume}"
        if material != bin_id and material in DENSITY:
            entry += f", material: {material}"
        entry += f", lid_open_s: {lid_open}}}}}"
        self.events.append((at, entry))
        return at

    def collect(self, bin_id, at):
        at = self.reserve(bin_id, at, 90)
        self.events.append((at, f"  - {{at: {at}, collect: {{bin: {bin_id}}}}}"))
        return at

    def add(self, at, text):
        self.events.append((int(at), f"  - {{at: {int(at)}, {text}}}"))

    def lines(self):
        return ["events:"] + [text for _, text in sorted(self.events, key=lambda e: e[0])]


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


def profile_transfer_station(rng):
    t = Timeline(gap_s=90)
    bins = [
        {"id": "wet", "stream": "wet", "shape": CONTAINER,
         "scale": "{counts_per_kg: 400, offset_counts: 150000, noise_counts: 60, rate: 10}",
         "ranger": "{model: jsn-sr04t, mount_mm: 300, jitter_us: 12, surface_roughness_mm: 25}"},
        {"id": "dry", "stream": "dry", "shape": CONTAINER,
         "scale": "{counts_per_kg: 400, offset_counts: 160000, noise_counts: 60, rate: 10}",
         "ranger": "{model: jsn-sr04t, mount_mm: 300, jitter_us: 12, surface_roughness_mm: 25}"},
    ]
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


def render(profile, device, start, seed, temperature=None):
    rng = random.Random(f"{profile}:{seed}")
    bins, timeline, description = PROFILES[profile](rng)
    for bin_id, fraction in peak_fill(bins, timeline).items():
        if fraction > 0.97:
            print(f"warning: {profile}: bin {bin_id} reaches {fraction:.0%} of its capacity", file=sys.stderr)
    temp = temperature if temperature is not None else (4 if profile == "cold-night" else 22)
    out = [f"# {line}" for line in wrap(description)]
    out += [f"# Generated by scenarios/generate.py --profile {profile} --seed {seed}; edit the generator, not this file.",
            f"description: {quote(description)}",
            f"device: {device}", f"start: {start}", f"seed: {seed}", f"temperature_c: {temp}"]
    if profile == "transfer-station":
        # A container scale is calibrated with a load its resolution can see: a pallet of known weight.
        out.append("calibration_reference_kg: 200")
    out += bins_block(bins)
    out += timeline.lines()
    out.append("end: 86400")
    return "\n".join(out) + "\n"


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


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=sorted(PROFILES))
    parser.add_argument("--device", default=None)
    parser.add_argument("--start", default="2026-06-01T00:00:00+08:00")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", default=None)
    parser.add_argument("--accuracy", choices=sorted(ACCURACY), help="write an accuracy-table scenario instead")
    args = parser.parse_args()
    if args.accuracy:
        text = ACCURACY[args.accuracy](args.seed)
        if args.out:
            with open(args.out, "w") as f:
                f.write(text)
        else:
            sys.stdout.write(text)
        return
    if args.profile:
        text = render(args.profile, args.device or f"pt-{args.profile}", args.start, args.seed)
        if args.out:
            with open(args.out, "w") as f:
                f.write(text)
        else:
            sys.stdout.write(text)
        return
    here = os.path.dirname(os.path.abspath(__file__))
    for index, profile in enumerate(PROFILES):
        path = os.path.join(here, f"{profile}.yaml")
        with open(path, "w") as f:
            f.write(render(profile, f"pt-demo-{index + 1:02d}", args.start, args.seed))
        print(f"wrote {path}")
    for profile in PROFILES:
        rng = random.Random(f"{profile}:{args.seed}")
        bins, timeline, _ = PROFILES[profile](rng)
        peaks = ", ".join(f"{b} {f:.0%}" for b, f in peak_fill(bins, timeline).items())
        print(f"  {profile}: peak fill {peaks}")


if __name__ == "__main__":
    main()
