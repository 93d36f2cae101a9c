"""Families on real photos (tests/data/family: three families from stock photo shoots,
parents and their young children, 106-464 px web crops): clustering keeps each person
together and never puts a child with a parent or a sibling, and the two people seen once
stay unknown rather than join a relative."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from conftest import DATA
from photoface import api

FAMILY = DATA / "family"


@pytest.fixture(scope="module")
def people(tmp_path_factory) -> dict[str, set[int | None]]:
    db = tmp_path_factory.mktemp("family") / "family.db"
    api.index(str(FAMILY), str(db), scheduler="sync")
    api.cluster(str(db))
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT p.path, f.person_id FROM faces f JOIN photos p ON p.id = f.photo_id").fetchall()
    out: dict[str, set[int | None]] = {}
    for path, person in rows:
        out.setdefault(Path(path).parent.name, set()).add(person)
    assert sum(1 for _ in FAMILY.rglob("*.jpg")) == len(rows) == 18  # one face in each photo
    return out


def test_each_person_is_one_person_and_no_child_joins_a_parent(people):
    seen_twice = {who: ids for who, ids in people.items() if len(list((FAMILY / who).iterdir())) > 1}
    assert len(seen_twice) == 6
    for who, ids in seen_twice.items():
        assert len(ids) == 1 and None not in ids, (who, people)
    ids = [next(iter(v)) for v in seen_twice.values()]
    assert len(set(ids)) == len(ids), people  # father, mother, son and daughter all apart


def test_people_seen_once_stay_unknown_rather_than_join_a_relative(people):
    """Family3's husband and wife have one photo each: neither joins anyone (each other
    included); the other people's ids are not theirs."""
    others = {i for who, ids in people.items() if not who.startswith("Family3") for i in ids}
    lady, man = people["Family3-Lady"], people["Family3-Man"]
    assert lady == {None} or not lady & (others | man), people
    assert man == {None} or not man & (others | lady), people
