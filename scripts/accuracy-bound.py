#!/usr/bin/env python3
"""What the best possible wet/dry classifier could do on the accuracy scenarios, for comparison with binsd.

    .build/debug/bins-bench accuracy --details-out DIR
    scripts/accuracy-bound.py DIR/accuracy-baseline.jsonl DIR/accuracy-cold-noisy.jsonl ...

The bound knows what no daemon can: how the scenario was made. Scenarios 1-3 of docs/accuracy.md draw each
deposit into a wet or dry bin as kitchen waste (volume uniform in 1.5-10 L, density uniform in 0.3-0.8 kg/L)
or residual waste (3-30 L, 0.08-0.13 kg/L), about 8 % residual waste in the wet bin and 5 % kitchen waste in
the dry bin. The bound also knows the true volume noise of each stream's bin: the standard deviation of
measured minus true volume over the file. For each deposit it computes the exact posterior that the deposit
is not of its bin's stream, given the measured mass and volume change:

    p(m, V_measured | class) = integral over V of p_class(V) * p_class(rho = m / V) / V * N(V_measured - V; sigma)

(m = V * rho, so the density of m at a given V is p(rho) / V), with the true mis-sort rate as the prior and
with an even prior (binsd's default, as issue 13 asks). Its posterior is calibrated for these files by
construction, so a decision rule on it is the most powerful one on a single deposit's mass and volume
(Neyman-Pearson). Per file and prior it prints:

- how many of the mis-sorts of 0.5 kg and more it flags at 0.99 (binsd's contamination_confidence), and how
  many correctly sorted deposits;
- to flag 90 % of those mis-sorts: the posterior it would have to flag at, and how many correctly sorted
  deposits reach that posterior (false flags the target forces);
- calling wet or dry on the 90 % of the deposits of 3 L and more it is surest of (so 10 % unknown): how
  many calls it expects to be wrong (the sum of 1 - posterior) and how many were.

It reads the `--details-out` lines of deposits into the bins whose stream is wet or dry and whose true
material is wet or dry; deposits without a volume (a ranger outage) are left out. Pure Python, no packages.
"""
import json
import math
import sys

KITCHEN = {"volume_l": (1.5, 10.0), "density_kg_l": (0.3, 0.8)}
RESIDUAL = {"volume_l": (3.0, 30.0), "density_kg_l": (0.08, 0.13)}
CLASSES = {"wet": KITCHEN, "dry": RESIDUAL}
# The share of the other class among a bin's deposits in scenarios 1-3 (docs/accuracy.md).
MIS_SORT_RATE = {"wet": 0.08, "dry": 0.05}
GRID_STEP_L = 0.02
GRID = [GRID_STEP_L * (i + 0.5) for i in range(int(40 / GRID_STEP_L))]


def likelihood(kind, mass_kg, measured_l, sigma_l):
    v_lo, v_hi = kind["volume_l"]
    r_lo, r_hi = kind["density_kg_l"]
    total = 0.0
    for volume in GRID:
        if not v_lo <= volume <= v_hi:
            continue
        density = mass_kg / volume
        if not r_lo <= density <= r_hi:
            continue
        z = (measured_l - volume) / sigma_l
        if abs(z) > 12:
            continue
        total += math.exp(-0.5 * z * z) / volume
    return total / ((v_hi - v_lo) * (r_hi - r_lo) * sigma_l * math.sqrt(2 * math.pi)) * GRID_STEP_L


def deposits(path):
    for line in open(path, encoding="utf-8"):
        record = json.loads(line)
        event, truth = record.get("event"), record.get("truth")
        if not event or not truth or event.get("type") != "deposit":
            continue
        if event.get("stream") not in CLASSES or truth.get("material") not in CLASSES:
            continue
        if event.get("volume_l") is None:
            continue
        yield event, truth


def analyse(path):
    rows = list(deposits(path))
    if not rows:
        sys.exit(f"{path}: no deposits into wet or dry bins with a volume")
    sigma = {}
    for stream in CLASSES:
        errors = [e["volume_l"] - t["volume_l"] for e, t in rows if e["stream"] == stream]
        mean = sum(errors) / len(errors)
        sigma[stream] = math.sqrt(sum((x - mean) ** 2 for x in errors) / len(errors))
    likelihoods = []
    for event, truth in rows:
        stream = event["stream"]
        likelihoods.append({c: likelihood(k, event["mass_kg"], event["volume_l"], sigma[stream])
                            for c, k in CLASSES.items()})
    name = path.rsplit("/", 1)[-1]
    for prior_name in ("true", "even"):
        judged = []
        for (event, truth), lik in zip(rows, likelihoods):
            own = event["stream"]
            other = "dry" if own == "wet" else "wet"
            prior_other = MIS_SORT_RATE[own] if prior_name == "true" else 0.5
            weight_other, weight_own = prior_other * lik[other], (1 - prior_other) * lik[own]
            total = weight_other + weight_own
            not_own = weight_other / total if total > 0 else 0.5
            judged.append((event, truth, not_own, truth["material"] != own))
        mis_sorts = sorted((p for e, t, p, mis in judged if mis and t["mass_kg"] >= 0.5), reverse=True)
        correct = [p for e, t, p, mis in judged if not mis]
        flagged = sum(p >= 0.99 for p in mis_sorts)
        false_flags = sum(p >= 0.99 for p in correct)
        needed = math.ceil(0.9 * len(mis_sorts))
        threshold = mis_sorts[needed - 1] if needed else 1.0
        forced = sum(p >= threshold for p in correct)
        large = sorted(((max(p, 1 - p), (p >= 0.5) != mis) for e, t, p, mis in judged if t["volume_l"] >= 3),
                       reverse=True)
        called = large[: math.floor(0.9 * len(large))]
        expected_wrong = sum(1 - confidence for confidence, _ in called)
        actually_wrong = sum(wrong for _, wrong in called)
        print(f"| {name} | {sigma['wet']:.2f} / {sigma['dry']:.2f} | {prior_name} | "
              f"{flagged}/{len(mis_sorts)} ({false_flags}) | {needed}: {threshold:.3f}, {forced} | "
              f"{len(called)}/{len(large)}: {expected_wrong:.1f} ({100 * expected_wrong / len(large):.1f} %), "
              f"{actually_wrong} |")


def main():
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        sys.exit(0 if len(sys.argv) > 1 else 2)
    print("| scenario | true σV wet / dry bin (L) | prior | mis-sorts ≥ 0.5 kg flagged at 0.99 (false flags) "
          "| to flag 90 %: posterior, correctly sorted deposits reaching it | wet/dry ≥ 3 L called with 10 % "
          "unknown: expected wrong, wrong |")
    print("|---|---|---|---|---|---|")
    for path in sys.argv[1:]:
        analyse(path)


if __name__ == "__main__":
    main()
