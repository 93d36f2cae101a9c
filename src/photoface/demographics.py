"""Age, gender and expression of stored faces: filters for search, per-person summaries, reports."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

import numpy as np

from .db import Store
from .errors import InputError
from .types import EMOTIONS

GENDERS = ("female", "male")
#: Age bands of the demographics report: (label, lowest age, highest age exclusive).
AGE_BANDS = (("0-12", 0, 13), ("13-19", 13, 20), ("20-29", 20, 30), ("30-39", 30, 40), ("40-49", 40, 50),
             ("50-59", 50, 60), ("60+", 60, 200))


@dataclass(frozen=True)
class AttributeFilter:
    """Faces to keep: expression, age range (inclusive, either end open) and gender; None = any."""

    emotion: str | None = None
    age: tuple[float | None, float | None] | None = None
    gender: str | None = None

    def __bool__(self) -> bool:
        return bool(self.emotion or self.age or self.gender)

    @classmethod
    def parse(cls, emotion: str | None = None, age: str | None = None, gender: str | None = None) -> "AttributeFilter":
        if emotion is not None and emotion.lower() not in EMOTIONS:
            raise InputError(f"unknown emotion {emotion!r}: use one of {', '.join(EMOTIONS)}")
        if gender is not None and gender.lower() not in GENDERS:
            raise InputError(f"unknown gender {gender!r}: use female or male")
        return cls(emotion and emotion.lower(), parse_age_range(age) if age is not None else None,
                   gender and gender.lower())

    def bounds(self) -> tuple[float | None, float | None]:
        """(lowest age, age below which): "20-35" includes everyone estimated younger than 36."""
        low, high = self.age or (None, None)
        return low, None if high is None else high + 1


def parse_age_range(text: str) -> tuple[float | None, float | None]:
    """"20-35", "60-" (60 and older), "-12" (12 and younger) or "30" (30 only)."""
    m = re.fullmatch(r"\s*(\d{1,3})?\s*(-)?\s*(\d{1,3})?\s*", text or "")
    if not m or not (m.group(1) or m.group(3)) or (m.group(2) is None and m.group(3)):
        raise InputError(f"--age wants a range like 20-35, 60- or -12, got {text!r}")
    low = float(m.group(1)) if m.group(1) else None
    high = float(m.group(3)) if m.group(3) else (low if m.group(2) is None else None)
    if low is not None and high is not None and high < low:
        raise InputError(f"--age range {text!r} ends before it starts")
    return low, high


def matching_faces(store: Store, flt: AttributeFilter) -> dict[int, set[int]]:
    """{photo id: {face ids}} of present photos' faces whose attributes pass ``flt``."""
    low, below = flt.bounds()
    return store.faces_with_attributes(flt.emotion, flt.gender, low, below)


def require_attributes(store: Store) -> None:
    if not store.has_attributes():
        raise InputError("no face has age, gender or expression yet: run `photoface attributes` "
                         "(or index with --attributes) first")


def _summary(rows) -> dict:
    """Summary of (age, gender, emotion, P(happy)) rows of one person or group."""
    ages = np.array([r[0] for r in rows], np.float64)
    females = sum(r[1] == "female" for r in rows)
    emotions = {e: 0 for e in EMOTIONS}
    for r in rows:
        emotions[r[2]] += 1
    n = len(rows)
    gender = "female" if females * 2 > n else "male" if females * 2 < n else "uncertain"
    return {
        "faces_with_attributes": n,
        "median_age": round(float(np.median(ages)), 1),
        "age_iqr": [round(float(v), 1) for v in np.percentile(ages, [25, 75])],
        "gender": gender,
        "gender_agreement": round(max(females, n - females) / n, 3),
        "smiling_share": round(emotions["happy"] / n, 3),
        "emotions": emotions,
    }


def person_summary(store: Store, person_id: int) -> dict | None:
    """Median age estimate, majority gender (and how many faces agree), share of smiling
    faces and expression counts over a person's faces; None if none has attributes."""
    rows = store.attribute_rows(person_id)
    return _summary([(r[1], r[2], r[3]) for r in rows]) if rows else None


def _bands(ages) -> dict:
    counts = {label: 0 for label, _, _ in AGE_BANDS}
    for age in ages:
        for label, low, high in AGE_BANDS:
            if low <= age < high:
                counts[label] += 1
                break
    return counts


def report(store: Store, per_person: bool = False, include_hidden: bool = False) -> dict:
    """Counts by age band, gender and expression: over all faces, over people (each person
    once: their median age and majority gender), and per person with ``per_person``."""
    require_attributes(store)
    rows = store.attribute_rows()
    faces = {
        "count": len(rows),
        "age_bands": _bands(r[1] for r in rows),
        "gender": {g: sum(r[2] == g for r in rows) for g in GENDERS},
        "emotion": {e: sum(r[3] == e for r in rows) for e in EMOTIONS},
        "mean_probability": {e: round(float(np.mean([json.loads(r[4])[e] for r in rows])), 4) for e in EMOTIONS},
    }
    hidden = set() if include_hidden else store.hidden_person_ids()
    by_person: dict[int, list] = {}
    for pid, age, gender, emotion, _ in rows:
        if pid is not None and pid not in hidden:
            by_person.setdefault(pid, []).append((age, gender, emotion))
    names = store.person_names()
    summaries = {pid: _summary(v) for pid, v in by_person.items()}
    people = {
        "count": len(summaries),
        "age_bands": _bands(s["median_age"] for s in summaries.values()),
        "gender": {g: sum(s["gender"] == g for s in summaries.values()) for g in (*GENDERS, "uncertain")},
    }
    out = {"faces": faces, "people": people,
           "unassigned_faces": sum(1 for r in rows if r[0] is None)}
    if per_person:
        out["per_person"] = sorted(({"person_id": pid, "name": names.get(pid), **s} for pid, s in summaries.items()),
                                   key=lambda s: (-s["faces_with_attributes"], s["person_id"]))
    return out
