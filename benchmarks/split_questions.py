"""How the question "maybe someone else?" (review.maybe_someone_else) would be asked at other
conductance bars: on each set of the clustering suite, clustered with the shipped defaults,
every person of at least twice SPLIT_QUESTION_MIN_FACES faces is cut where its faces are
joined least (decided.weakest_cut), and for each bar the table counts the questions asked
and how many are right (the faces asked about are mostly of another person than the rest,
by the truth). The last column counts the clusters that hold at least
SPLIT_QUESTION_MIN_FACES faces of a second person: the merges a question could find.

    python benchmarks/cluster_suite.py SETS --cache C [--lfw LFW]      # indexes every set once
    python benchmarks/split_questions.py SETS --cache C [--lfw LFW] [--bars 0.05 0.1 0.2 0.3]

`python benchmarks/user_decisions.py SETS --cache C --questions` answers the questions asked
at the shipped bar end to end and scores the result.
"""
from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np

from cluster_tune import load
from photoface.config import SPLIT_QUESTION_MIN_FACES, ClusterSettings
from photoface.decided import weakest_cut
from photoface.organize import eligible_mask, make_clusterer
from user_decisions import someone_else, suite_folders


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("sets", type=Path)
    ap.add_argument("--cache")
    ap.add_argument("--lfw", help="all of LFW (deep-funneled <Person>/ folder) as one more set, named lfw_all")
    ap.add_argument("--bars", type=float, nargs="*", default=[0.05, 0.1, 0.15, 0.2, 0.3])
    args = ap.parse_args()
    folders = suite_folders(args.sets, args.lfw)
    s, least = ClusterSettings(), SPLIT_QUESTION_MIN_FACES
    print("| set | " + " | ".join(f"below {b:g}: asked (right)" for b in args.bars)
          + " | lowest cuts (right ones starred) | merged clusters |")
    print("|---" * (len(args.bars) + 3) + "|")
    for name, folder in folders.items():
        table, truth = load(str(folder), args.cache)
        labels = make_clusterer(s).fit_predict(table["C"], groups=table["photo_id"], eligible=eligible_mask(table, s))
        cuts, merged = [], 0
        for c in np.unique(labels[labels >= 0]):
            rows = np.flatnonzero(labels == c)
            top = Counter(truth[rows].tolist()).most_common(2)
            merged += len(top) > 1 and top[1][1] >= least
            if len(rows) < 2 * least:
                continue
            conductance, side = weakest_cut(table["C"][rows], s.n_neighbors)
            side = side if side.sum() <= (~side).sum() else ~side
            if side.sum() >= least:
                cuts.append((conductance, someone_else(truth[rows], side, ~side)))
        cuts.sort()
        cells = [f"{sum(c < b for c, _ in cuts)} ({sum(c < b and right for c, right in cuts)})" for b in args.bars]
        lowest = ", ".join(f"{c:.3f}{'*' if right else ''}" for c, right in cuts[:4])
        print(f"| {name} | " + " | ".join(cells) + f" | {lowest} | {merged} |", flush=True)


if __name__ == "__main__":
    main()
