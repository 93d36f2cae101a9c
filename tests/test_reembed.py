"""A library indexed with an older embedding is embedded again by the next index run, from
its stored boxes: face ids, clusters and names stay; nothing compares old and new vectors."""
from __future__ import annotations

import os
import sqlite3

import numpy as np
import pytest

from photoface import api
from photoface.cli import main
from photoface.config import FACENET_MODEL, LEGACY_FACENET_MODELS
from photoface.errors import InputError


def vectors(db: str) -> dict[int, tuple]:
    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT id, model, person_id, embedding FROM faces").fetchall()
    conn.close()
    return {fid: (model, person, np.frombuffer(blob, "<f4").copy()) for fid, model, person, blob in rows}


def make_legacy(db: str) -> None:
    """What an older photoface left: other vectors under the older model name."""
    conn = sqlite3.connect(db)
    rng = np.random.default_rng(0)
    for (fid,) in conn.execute("SELECT id FROM faces").fetchall():
        v = rng.normal(size=512).astype("<f4")
        conn.execute("UPDATE faces SET model = ?, embedding = ? WHERE id = ?",
                     [LEGACY_FACENET_MODELS[0], (v / np.linalg.norm(v)).tobytes(), fid])
    conn.commit()
    conn.close()


def test_older_embeddings_are_redone_by_index_keeping_people(lib, capsys):
    folder, db, _ = lib
    api.cluster(db)
    pid = next(p.id for p in api.people(db) if p.faces >= 3)
    api.name(db, pid, "Barack Obama")
    before = vectors(db)
    make_legacy(db)

    with pytest.raises(InputError, match="older photoface"):
        api.cluster(db)
    assert main(["cluster", "--db", db]) != 0
    assert "photoface index" in capsys.readouterr().err

    assert main(["index", str(folder), "--db", db]) == 0
    out = capsys.readouterr().out
    assert f"embedded again: {len(before)} of {len(before)} faces" in out
    after = vectors(db)
    assert after.keys() == before.keys()
    for fid, (model, person, vec) in after.items():
        assert model == FACENET_MODEL
        assert person == before[fid][1]  # clusters and names untouched
        assert np.linalg.norm(vec - before[fid][2]) < 1e-3  # the same crop, the same vector
    assert any(p.name == "Barack Obama" for p in api.people(db))
    api.cluster(db)  # works again
    assert main(["index", str(folder), "--db", db]) == 0
    assert "embedded again" not in capsys.readouterr().out  # nothing left to do


def test_a_photo_that_cannot_be_read_keeps_its_faces_for_the_next_run(lib):
    folder, db, _ = lib
    make_legacy(db)
    conn = sqlite3.connect(db)
    path, photo_id, n = conn.execute("SELECT p.path, p.id, count(*) FROM photos p JOIN faces f ON f.photo_id = p.id "
                                     "GROUP BY p.id ORDER BY p.path LIMIT 1").fetchone()
    conn.close()
    st = os.stat(path)
    good = open(path, "rb").read()
    with open(path, "wb") as fh:  # damaged in place: same size and time, so the scan sees no change
        fh.write(b"\0" * len(good))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    try:
        s = api.index(str(folder), db, scheduler="sync")
        assert s.reembedded["failed"] == n and s.reembedded["reembedded"] == s.reembedded["faces"] - n
        assert s.reembedded["errors"][0]["error"]
        left = {m for _, (m, _, _) in vectors(db).items()}
        assert left == {FACENET_MODEL, LEGACY_FACENET_MODELS[0]}
    finally:
        with open(path, "wb") as fh:
            fh.write(good)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    s = api.index(str(folder), db, scheduler="sync")
    assert s.reembedded["reembedded"] == n and s.reembedded["failed"] == 0
    assert {m for _, (m, _, _) in vectors(db).items()} == {FACENET_MODEL}
