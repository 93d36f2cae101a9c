"""Learning from the user's names, simulated: on each set of the clustering suite a user
names a share of the people (at least two), as they would in the app: the cluster holding
most of a person's faces gets the name, the person's other faces are moved in and the
strangers in it rejected (they stay unlabeled: the score counts any face that joins a
named person without being theirs against the setting). `photoface calibrate --from-names` (photoface.learn.fit) then
fits the clustering distances to those decisions; the whole set is scored (BCubed F1
against the full truth) with the defaults and with what calibration applies. The last
column is the ceiling of any calibration: the best BCubed F1 a setting of learn.LEARN_GRID
reaches when every face's person is known (chosen on the truth itself).

    python benchmarks/cluster_suite.py SETS --cache C [--lfw LFW]     # indexes every set once
    python benchmarks/learn_from_names.py SETS --cache C [--lfw LFW] [--share 0.1] [--seeds 5]
"""
from __future__ import annotations

import argparse
import itertools
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np

from cluster_tune import load
from photoface import learn
from photoface.config import ClusterSettings, with_overrides
from photoface.metrics import clustering_report
from photoface.organize import eligible_mask, make_clusterer


def simulate_user(truth: np.ndarray, share: float, rng) -> np.ndarray:
    """Decision labels after naming ``share`` of the people seen at least twice."""
    counts = Counter(truth.tolist())
    people = sorted(p for p, c in counts.items() if c >= 2 and not str(p).startswith("stranger-"))
    named = rng.choice(people, size=max(2, round(share * len(people))), replace=False)
    ids = {p: i for i, p in enumerate(named)}
    labels = np.full(len(truth), -1, np.int64)
    for p in named:
        mine = truth == p
        labels[mine] = ids[p]
    return labels


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("sets", type=Path)
    ap.add_argument("--cache")
    ap.add_argument("--lfw")
    ap.add_argument("--share", type=float, action="append", help="share of people named (repeatable; 0.1)")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--base", action="append", default=[], metavar="NAME=VALUE",
                    help="start from other settings than the shipped ones (e.g. defaults that do not fit the set)")
    args = ap.parse_args()
    folders = {p.name: str(p) for p in sorted(args.sets.iterdir()) if p.is_dir()}
    if args.lfw:
        folders["lfw_all"] = args.lfw
    base = with_overrides(ClusterSettings(), args.base)
    print("| set | people named | runs applied | BCubed F1 defaults | after calibration (mean) | gain (mean, min, max) "
          "| ceiling: best grid setting on the truth |")
    print("|---|---|---|---|---|---|---|")
    for name, folder in folders.items():
        if args.only and name not in args.only:
            continue
        table, truth = load(folder, args.cache)

        def cluster(s: ClusterSettings) -> np.ndarray:
            return make_clusterer(s).fit_predict(table["C"], groups=table["photo_id"], eligible=eligible_mask(table, s))

        default = cluster(base)
        f1_default = clustering_report(truth, default)["bcubed"]["f1"]
        ceiling = max(clustering_report(truth, cluster(replace(base, **dict(zip(learn.LEARN_GRID, values)))))
                      ["bcubed"]["f1"] for values in itertools.product(*learn.LEARN_GRID.values()))
        for share in args.share or [0.1]:
            gains, applied, named = [], 0, 0
            for seed in range(args.seeds):
                rng = np.random.default_rng(seed)
                labels = simulate_user(truth, share, rng)
                named = len(set(labels[labels >= 0].tolist()))
                cal = learn.fit(table, labels, base, cluster, seed=seed)
                after = cluster(learn.apply(base, cal)) if cal.applies else default
                gains.append(clustering_report(truth, after)["bcubed"]["f1"] - f1_default)
                applied += cal.applies
            g = np.array(gains)
            print(f"| {name} | {share:.0%} ({named}) | {applied}/{args.seeds} | {f1_default:.3f} | "
                  f"{f1_default + g.mean():.3f} | {g.mean():+.3f} ({g.min():+.3f}, {g.max():+.3f}) | "
                  f"{ceiling:.4f} ({ceiling - f1_default:+.4f}) |", flush=True)


if __name__ == "__main__":
    main()
