"""The user's decisions in the clustering, end to end: on a copy of each indexed set of the
clustering suite, `photoface cluster` runs, then a simulated user names a share of the
people (at least two) as they would in the app: the cluster holding most of a person's
faces gets the name (a person whose faces lie in no cluster, or whose cluster another
named person already took, gets a new person of their faces), the strangers in it are
rejected, the person's other faces moved in. `photoface cluster --full` then runs again,
with the decisions splitting the clusters they tell apart (split_by_decisions, shipped)
and without (the decisions only kept, as before). Every face is scored by the person it
ends in (BCubed F1 against the full truth; unknown faces are people of their own), and
so are the faces of the people the user did not name, which only the clustering places.

With ``--questions`` the user instead answers photoface's questions "maybe someone else?"
(review.split_questions, on the review page and `photoface faces --maybe-someone-else`):
faces whose main person (by the truth) differs from the rest of their person's are split
off, others are kept (confirmed); then `photoface cluster --full` runs again.

    python benchmarks/cluster_suite.py SETS --cache C [--lfw LFW]             # indexes every set once
    python benchmarks/user_decisions.py SETS --cache C [--lfw LFW] [--share 0.1] [--seeds 5] [--only SET ...]
    python benchmarks/user_decisions.py SETS --cache C [--lfw LFW] --questions
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

from learned_metric import bcubed_f1
from photoface import api, decisions
from photoface.config import FACENET_MODEL, ClusterSettings
from photoface.db import open_store
from photoface.evaluate import cache_dir, cache_key, labeled_truth


def library(folder: str, cache: str, into: str) -> str:
    src = os.path.join(cache_dir(cache), "labeled-" + cache_key([os.path.abspath(folder)]), "faces.db")
    db = os.path.join(into, "library.db")
    shutil.copy(src, db)
    return db


def state(db: str, folder: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(face ids, true person of each, the person it is in, -1 for none)."""
    with open_store(db) as store:
        table = store.face_table(FACENET_MODEL, facenet=False)
        paths = store.photo_paths()
    truth = labeled_truth([paths[p] for p in table["photo_id"]], table["photo_id"], table["size"],
                          os.path.abspath(folder))
    return table["id"], truth, table["person_id"]


def name_people(db: str, ids: np.ndarray, truth: np.ndarray, person: np.ndarray, named: list[str]) -> None:
    """What a user does in the app to name each of ``named``."""
    taken: set[int] = set()
    for who in named:
        mine = truth == who
        counts = Counter(int(p) for p in person[mine] if p >= 0 and p not in taken)
        if not counts:
            decisions.new_person(db, [int(f) for f in ids[mine]], who, as_new=True)
            continue
        pid = counts.most_common(1)[0][0]
        taken.add(pid)
        decisions.name(db, pid, who, as_new=True)
        strangers = [int(f) for f in ids[~mine & (person == pid)]]
        if strangers:
            decisions.reject(db, strangers, pid)
        outside = [int(f) for f in ids[mine & (person != pid)]]
        if outside:
            decisions.move(db, outside, pid)


def suite_folders(sets: Path, lfw: str | None) -> dict[str, Path]:
    """The suite's sets by name: the folders under ``sets``, and all of LFW as lfw_all."""
    folders = {p.name: p for p in sorted(sets.iterdir()) if p.is_dir()}
    if lfw:
        folders["lfw_all"] = Path(lfw)
    return folders


def someone_else(truth: np.ndarray, side: np.ndarray, rest: np.ndarray) -> bool:
    """Whether the faces ``side`` are mostly of another person than the faces ``rest`` (masks)."""
    return Counter(truth[side].tolist()).most_common(1)[0][0] != Counter(truth[rest].tolist()).most_common(1)[0][0]


def answer_questions(db: str, ids: np.ndarray, truth: np.ndarray, person: np.ndarray) -> tuple[int, int]:
    """What a user does with each "maybe someone else?" question: faces mostly of another
    person than the rest of their person's are split off, others kept. (asked, split)."""
    asked = split = 0
    for q in api.split_questions(db):
        asked += 1
        side = np.isin(ids, q.face_ids)
        if someone_else(truth, side, (person == q.person_id) & ~side):
            decisions.split(db, q.person_id, q.face_ids)
            split += 1
        else:
            decisions.move(db, q.face_ids, q.person_id)
    return asked, split


def questions_table(folders: dict[str, Path], cache: str, only: list[str] | None) -> None:
    print("| set | questions | split off (the others kept) | before | after answering and `cluster --full` |")
    print("|---|---|---|---|---|")
    for name, folder in folders.items():
        if only and name not in only:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            db = library(str(folder), cache, tmp)
            api.cluster(db, full=True, settings=ClusterSettings())
            ids, truth, person = state(db, str(folder))
            asked, split = answer_questions(db, ids, truth, person)
            api.cluster(db, full=True, settings=ClusterSettings())
            _, _, after = state(db, str(folder))
        print(f"| {name} | {asked} | {split} | {f1(truth, person):.3f} | {f1(truth, after):.3f} |", flush=True)


def f1(truth: np.ndarray, person: np.ndarray, mask: np.ndarray | None = None) -> float:
    return bcubed_f1(truth, np.where(person >= 0, person, -1), mask)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("sets", type=Path)
    ap.add_argument("--cache")
    ap.add_argument("--lfw", help="all of LFW (deep-funneled <Person>/ folder) as one more set, named lfw_all")
    ap.add_argument("--share", type=float, default=0.1)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--questions", action="store_true", help="answer the split questions instead of naming people")
    args = ap.parse_args()
    folders = suite_folders(args.sets, args.lfw)
    if args.questions:
        return questions_table(folders, args.cache, args.only)
    print(f"| set | people named ({args.share:.0%}) | before naming | after: decisions kept | after: decisions split "
          "| unnamed people's faces: kept | split |")
    print("|---|---|---|---|---|---|---|")
    for name, folder in folders.items():
        if args.only and name not in args.only:
            continue
        rows = []
        for seed in range(args.seeds):
            scores = []
            for split in (False, True):
                with tempfile.TemporaryDirectory() as tmp:
                    db = library(str(folder), args.cache, tmp)
                    api.cluster(db, full=True, settings=ClusterSettings())
                    ids, truth, person = state(db, str(folder))
                    counts = Counter(truth.tolist())
                    people = sorted(p for p, c in counts.items() if c >= 2 and not p.startswith("stranger-"))
                    named = list(np.random.default_rng(seed).choice(
                        people, size=max(2, round(args.share * len(people))), replace=False))
                    unnamed = ~np.isin(truth, named)
                    before = f1(truth, person), f1(truth, person, unnamed)
                    name_people(db, ids, truth, person, named)
                    api.cluster(db, full=True, settings=ClusterSettings(split_by_decisions=split))
                    _, _, after = state(db, str(folder))
                    scores.append((f1(truth, after), f1(truth, after, unnamed)))
            rows.append((len(named), before, *scores))
        n = rows[0][0]
        mean = lambda get: np.mean([get(r) for r in rows])  # noqa: E731
        lo = lambda get: np.min([get(r) for r in rows])  # noqa: E731
        print(f"| {name} | {n} | {mean(lambda r: r[1][0]):.3f} | {mean(lambda r: r[2][0]):.3f} | "
              f"{mean(lambda r: r[3][0]):.3f} ({mean(lambda r: r[3][0] - r[2][0]):+.3f}, worst draw "
              f"{lo(lambda r: r[3][0] - r[2][0]):+.3f}) | {mean(lambda r: r[2][1]):.3f} | "
              f"{mean(lambda r: r[3][1]):.3f} ({mean(lambda r: r[3][1] - r[2][1]):+.3f}) |", flush=True)


if __name__ == "__main__":
    main()
