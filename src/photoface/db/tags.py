"""What photoface read from the photos' face tags: each photo's tag files as last read (so
`index` reads only photos whose photo or sidecars changed since) and the name the tags gave
each face (so a change made in another app is taken, a name given in photoface is kept, and
`eval cluster --from-tags` has the library's own truth)."""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .base import chunks, now_iso


class Tags:
    def tag_signatures(self) -> dict[int, str | None]:
        """{photo id: the signature of its tag files when last read} for indexed photos."""
        return dict(self.db.execute("SELECT id, tags_signature FROM photos WHERE status = 'indexed'").fetchall())

    def set_tag_signatures(self, rows: Iterable[tuple[int, str]]) -> None:
        with self.db.atomic():
            self.db.conn.executemany("UPDATE photos SET tags_signature = ? WHERE id = ?", [(s, pid) for pid, s in rows])

    def tag_names_of(self, photo_ids: Iterable[int]) -> dict[int, str]:
        """{face id: the name the photo's tags gave it} for the faces of ``photo_ids``."""
        out = {}
        for chunk, qs in chunks(photo_ids):
            out.update(self.db.execute(
                f"SELECT t.face_id, t.name FROM tag_names t JOIN faces f ON f.id = t.face_id "
                f"WHERE f.photo_id IN ({qs})", chunk).fetchall())
        return out

    def set_tag_names(self, names: dict[int, str | None]) -> None:
        """Record (or, for None, forget) the name the tags give each face."""
        with self.db.atomic():
            self.db.conn.executemany("DELETE FROM tag_names WHERE face_id = ?", [(f,) for f, n in names.items() if n is None])
            self.db.conn.executemany("INSERT OR REPLACE INTO tag_names (face_id, name, read_at) VALUES (?, ?, ?)",
                                [(f, n, now_iso()) for f, n in names.items() if n is not None])

    def tag_names_for(self, face_ids: np.ndarray) -> np.ndarray:
        """The tags' name of each of ``face_ids`` (None where the tags name none)."""
        names = dict(self.db.execute(
            "SELECT t.face_id, t.name FROM tag_names t JOIN present_faces f ON f.id = t.face_id").fetchall())
        return np.array([names.get(int(f)) for f in face_ids], dtype=object)
