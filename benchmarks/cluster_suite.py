"""The clustering suite: every labeled set x (photoface and the anchors' algorithms on the
same embeddings) x clusters, noise, pairwise and BCubed precision/recall/F1, plus photoface
end to end (the indexed library clustered by `photoface cluster`, scored per face).

    python benchmarks/face_sets.py --sources SRC --out SETS        # the real-photo sets
    python benchmarks/make_lfw_subset.py ../shared/data/lfw/lfw-deepfunneled SETS/lfw_subset
    python benchmarks/cluster_suite.py SETS [--lfw ../shared/data/lfw/lfw-deepfunneled]
        [--cache DIR] [--set NAME=VALUE ...] [--json out.json] [--perturb 0.016 --seeds 48]

Each set is a folder of <Person>/<photo> under SETS (the main face of a photo is its folder's
person; other faces in it are strangers). Each set is indexed once into the cache; later
runs (other settings with --set) take seconds. HELD_OUT is never used to choose a setting:
it is reported last, as the check.

With ``--perturb D`` a second table gives each algorithm's expected BCubed F1: the mean
over ``--seeds`` copies of the set's embeddings, every face moved by a random vector of
median length D (the size of int8's rounding) and normalised again. A set of a few hundred
faces often has a face or two on a decision's edge, which one run counts in or out by
chance (docs/performance.md, "How fine the clustering bar is").
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from photoface import api
from photoface.config import FACENET_MODEL, ClusterSettings, with_overrides
from photoface.db import open_store
from photoface.evaluate import cache_dir, cache_key, cluster_report, compare_clusterings, labeled_faces, labeled_truth

#: The set kept out of every choice of a default.
HELD_OUT = "bbt"
ORDER = ("lfw_all", "lfw_subset", "celeb5", "celeb24", "actors5", "stock", "fr_examples", "family", "mixed", HELD_OUT)


def end_to_end(labeled: str, cache: str, settings: ClusterSettings) -> dict:
    """`photoface cluster` (a full run) on a copy of the set's indexed library, scored per
    face against the truth, as a user would get it."""
    src = os.path.join(cache_dir(cache), "labeled-" + cache_key([os.path.abspath(labeled)]), "faces.db")
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "library.db")
        shutil.copy(src, db)
        api.cluster(db, full=True, settings=settings)
        with open_store(db) as store:
            table = store.face_table(FACENET_MODEL)
            paths = store.photo_paths()
        person = table["person_id"]
    truth = labeled_truth([paths[p] for p in table["photo_id"]], table["photo_id"], table["size"],
                          os.path.abspath(labeled))
    (row,) = compare_clusterings(truth, {"photoface end to end (index + cluster)": np.where(person < 0, -1, person)})
    return row


def moved(embeddings: np.ndarray, length: float, seed: int) -> np.ndarray:
    """``embeddings`` each moved by a Gaussian vector of median length about ``length`` and
    normalised again; a seed moves every caller's faces by the same vectors."""
    rng = np.random.default_rng(1000 + seed)
    out = embeddings + rng.normal(0.0, length / np.sqrt(embeddings.shape[1]), embeddings.shape).astype(np.float32)
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def expected_f1(table: dict, truth: np.ndarray, settings: ClusterSettings, length: float, seeds: int,
                anchors: bool = False) -> dict[str, tuple[float, float]]:
    """Each algorithm's mean BCubed F1 and its standard error over ``seeds`` moved copies
    of the table's embeddings (photoface's, and the anchors' with ``anchors``)."""
    original, clustered, scores = table["X"], table["C"], {}
    for seed in range(seeds):
        table["X"] = moved(original, length, seed)
        table["C"] = table["X"] if clustered is original else moved(clustered, length, seed)
        for row in cluster_report(table, truth, settings, anchors=anchors)["results"]:
            scores.setdefault(row["algorithm"], []).append(row["bcubed_f1"])
    table["X"], table["C"] = original, clustered
    return {name: (float(np.mean(v)), float(np.std(v) / np.sqrt(len(v)))) for name, v in scores.items()}


def expected_table(rows: list[tuple[str, dict]], length: float, seeds: int) -> str:
    """photoface's and the best anchor's expected BCubed F1 on each set."""
    lines = [f"| set | photoface, mean over {seeds} moves of {length:g} | best anchor, mean | margin |", "|---|---|---|---|"]
    for name, scores in rows:
        ours = scores["photoface"]
        best_name, best = max(((k, v) for k, v in scores.items() if not k.startswith("photoface")),
                              key=lambda item: item[1][0])
        lines.append(f"| {name} | {ours[0]:.3f} +- {ours[1]:.3f} | {best[0]:.3f} +- {best[1]:.3f} "
                     f"{best_name.split(' (')[0]} | {ours[0] - best[0]:+.3f} |")
    return "\n".join(lines)


def run_set(name: str, folder: str, cache: str, settings: ClusterSettings) -> dict:
    out = api.eval_cluster(folder, cache=cache, settings=settings, scheduler="sync")
    out["results"].append(end_to_end(folder, cache, settings))
    out["set"] = name
    return out


def table(reports: list[dict]) -> str:
    head = "| set | algorithm | clusters | noise | pair P | pair R | pair F1 | B3 P | B3 R | B3 F1 |"
    lines = [head, "|" + "---|" * 10]
    for rep in reports:
        label = f"{rep['set']}{' (held out)' if rep['set'] == HELD_OUT else ''}: {rep['photos']} photos, " \
                f"{rep['faces']} faces, {rep['true_people']} identities"
        for r in rep["results"]:
            lines.append(f"| {label} | {r['algorithm']} | {r['clusters']} | {r['noise']:.3f} | {r['pairwise_p']:.3f} | "
                         f"{r['pairwise_r']:.3f} | {r['pairwise_f1']:.3f} | {r['bcubed_p']:.3f} | {r['bcubed_r']:.3f} | "
                         f"**{r['bcubed_f1']:.3f}** |" if r["algorithm"] == "photoface" else
                         f"| {label} | {r['algorithm']} | {r['clusters']} | {r['noise']:.3f} | {r['pairwise_p']:.3f} | "
                         f"{r['pairwise_r']:.3f} | {r['pairwise_f1']:.3f} | {r['bcubed_p']:.3f} | {r['bcubed_r']:.3f} | "
                         f"{r['bcubed_f1']:.3f} |")
            label = ""
    return "\n".join(lines)


def margins(reports: list[dict]) -> str:
    """photoface's BCubed F1 against the best anchor on each set."""
    lines = []
    for rep in reports:
        rows = {r["algorithm"]: r["bcubed_f1"] for r in rep["results"]}
        best = max((v, k) for k, v in rows.items() if not k.startswith("photoface"))
        lines.append(f"{rep['set']:<12} photoface {rows['photoface']:.3f}  best anchor {best[0]:.3f} ({best[1].split(' (')[0]})"
                     f"  margin {rows['photoface'] - best[0]:+.3f}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("sets", type=Path)
    ap.add_argument("--lfw", help="all of LFW (deep-funneled <Person>/ folder) as one more set")
    ap.add_argument("--cache", default=None)
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="NAME=VALUE")
    ap.add_argument("--json")
    ap.add_argument("--perturb", type=float, default=0.0,
                    help="also each algorithm's mean BCubed F1 over --seeds copies moved by this median length")
    ap.add_argument("--seeds", type=int, default=48)
    args = ap.parse_args()
    settings = with_overrides(ClusterSettings(), args.overrides)
    folders = {p.name: str(p) for p in args.sets.iterdir() if p.is_dir()}
    if args.lfw:
        folders["lfw_all"] = args.lfw
    names = [n for n in ORDER if n in folders] + sorted(set(folders) - set(ORDER))
    reports, expected = [], []
    for name in names:
        if args.only and name not in args.only:
            continue
        reports.append(run_set(name, folders[name], args.cache, settings))
        if args.perturb > 0:  # the set is indexed into the cache by now
            faces, truth = labeled_faces(folders[name], args.cache, lambda root, db: None)
            expected.append((name, expected_f1(faces, truth, settings, args.perturb, args.seeds, anchors=True)))
        print(f"{name}: done", file=sys.stderr, flush=True)
    print(table(reports))
    print()
    print(margins(reports))
    if expected:
        print()
        print(expected_table(expected, args.perturb, args.seeds))
    if args.json:
        Path(args.json).write_text(json.dumps(reports, indent=1))


if __name__ == "__main__":
    main()
