"""Learning a metric from the user's names, simulated (tried for photoface calibrate
--from-names, not shipped; docs/people.md, "Learning from the user's names").

A user names a share of each set's people (learn_from_names.simulate_user). The named
faces' within-person scatter gives the directions along which one person's photos vary
most (pose, light, age: nuisance); every clustering vector is shrunk along the top
``r`` of them by a factor ``gamma``, renormalised, and clustered with the shipped
defaults. Reported per set and setting, over the draws: the change in BCubed F1 on all
faces and on the faces of unnamed people alone (what a learned metric must generalise
to), mean and worst draw.

    python benchmarks/cluster_suite.py SETS --cache C               # indexes every set once
    python benchmarks/learned_metric.py SETS --cache C [--share 0.1] [--seeds 5] [--only actors5 mixed]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from cluster_tune import load
from learn_from_names import simulate_user
from photoface.config import ClusterSettings
from photoface.metrics import clustering_report
from photoface.organize import eligible_mask, make_clusterer


def without_nuisance(C: np.ndarray, labels: np.ndarray, r: int, gamma: float) -> np.ndarray:
    """C shrunk by ``gamma`` along the top ``r`` within-person directions of the faces
    with a label (labels >= 0), rows renormalised to unit length."""
    named = labels >= 0
    Z = C[named].astype(np.float64)
    lab = labels[named]
    for p in np.unique(lab):
        Z[lab == p] -= Z[lab == p].mean(0)
    scatter = Z.T @ Z / max(1, len(Z) - len(np.unique(lab)))
    _, vectors = np.linalg.eigh(scatter)  # ascending eigenvalues
    V = vectors[:, ::-1][:, :r].astype(np.float32)
    Y = C - gamma * (C @ V) @ V.T
    return Y / np.linalg.norm(Y, axis=1, keepdims=True)


def bcubed_f1(truth: np.ndarray, pred: np.ndarray, mask: np.ndarray | None = None) -> float:
    if mask is not None:
        truth, pred = truth[mask], pred[mask]
    return clustering_report(truth, pred)["bcubed"]["f1"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("sets", type=Path)
    ap.add_argument("--cache")
    ap.add_argument("--share", type=float, default=0.1, help="share of people named (0.1)")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--ranks", type=int, nargs="*", default=[4, 8, 16, 32])
    ap.add_argument("--gammas", type=float, nargs="*", default=[0.3, 0.6])
    ap.add_argument("--only", nargs="*")
    args = ap.parse_args()
    settings = ClusterSettings()
    print("| set | BCubed F1 defaults | r | gamma | change, all faces: mean (worst draw) "
          "| change, unnamed people's faces: mean (worst draw) |")
    print("|---|---|---|---|---|---|")
    for folder in sorted(p for p in args.sets.iterdir() if p.is_dir()):
        if args.only and folder.name not in args.only:
            continue
        table, truth = load(str(folder), args.cache)
        eligible = eligible_mask(table, settings)

        def cluster(V):
            return make_clusterer(settings).fit_predict(V, groups=table["photo_id"], eligible=eligible)

        base = cluster(table["C"])
        base_all = bcubed_f1(truth, base)
        configs = [(r, g) for r in args.ranks for g in args.gammas]
        changes = {c: [] for c in configs}
        for seed in range(args.seeds):
            labels = simulate_user(truth, args.share, np.random.default_rng(seed))
            unnamed = labels < 0
            base_unnamed = bcubed_f1(truth, base, unnamed)
            for c in configs:
                pred = cluster(without_nuisance(table["C"], labels, *c))
                changes[c].append((bcubed_f1(truth, pred) - base_all,
                                   bcubed_f1(truth, pred, unnamed) - base_unnamed))
        for (r, g), rows in changes.items():
            a = np.array(rows)
            print(f"| {folder.name} | {base_all:.3f} | {r} | {g} | {a[:, 0].mean():+.4f} ({a[:, 0].min():+.4f}) "
                  f"| {a[:, 1].mean():+.4f} ({a[:, 1].min():+.4f}) |", flush=True)


if __name__ == "__main__":
    main()
