"""Embeddings as clustering, naming and the search index read them: column arrays over many
faces, decoded in one place (vectors.from_blobs)."""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..types import PEOPLES_NAMES
from ..vectors import from_blob, from_blobs, fuse_in_place
from .base import marks


class Vectors:
    def face_table(self, model: str, ids: Iterable[int] | None = None, facenet: bool = True) -> dict[str, np.ndarray]:
        """Faces of present photos as column arrays, in id order (``X``: n x d float32 embeddings).

        ``photo_id`` groups the faces that can never be one person (the faces of one photo);
        a face track of a video is its own group (minus its face id), since a person can
        appear in a video several times.

        ``C``: the vectors faces are clustered on, FaceNet's and dlib's descriptors fused
        (vectors.fused) when every face has its descriptor, else ``X`` itself (a library
        indexed before descriptors existed, until `photoface index` adds them). With
        ``facenet=False`` a fused table holds no ``X`` (a full clustering run needs only
        ``C``): at a million faces that is 2 GB less.

        ``person_id`` is -1 for unassigned faces; ``size`` is the shorter side of the box in
        photo pixels; ``sharpness`` is NaN where it was not measured. Rows are read in chunks
        into preallocated arrays, so a million faces cost their vectors' memory once.
        """
        where = ("FROM faces f JOIN photos p ON p.id = f.photo_id LEFT JOIN face_descriptors d ON d.face_id = f.id "
                 "WHERE p.status = 'indexed' AND f.model = ?")
        if ids is None:  # every face: counted first, so the arrays are allocated once
            n, undescribed = self.db.execute(f"SELECT count(*), coalesce(sum(d.face_id IS NULL), 0) {where}",
                                             [model]).fetchone()
            fuse = n > 0 and undescribed == 0
        else:  # some faces (an incremental run's neighbourhood): read once, whether fused found on the way
            self._wanted(ids)
            where += " AND f.id IN (SELECT id FROM wanted_ids)"
            n, fuse = self._one("SELECT count(*) FROM wanted_ids"), True
        first = self.db.execute(f"SELECT length(f.embedding) {where} LIMIT 1", [model]).fetchone()
        dim = first[0] // 4 if first else 512
        from ..models.dlib_resnet import DESCRIPTOR_DIM, load_centre
        out = {
            "id": np.empty(n, np.int64), "photo_id": np.empty(n, np.int64), "person_id": np.empty(n, np.int64),
            "assigned_by": np.empty(n, object), "clustered": np.empty(n, bool), "score": np.empty(n, np.float32),
            "size": np.empty(n, np.float32), "sharpness": np.empty(n, np.float32),
            "assign_distance": np.empty(n, np.float64),
        }
        names = list(out)
        # fused: FaceNet's embeddings and the raw descriptors side by side, made fused in place
        both = np.empty((n, dim + DESCRIPTOR_DIM if fuse else dim), np.float32)
        cursor = self.db.execute(
            "SELECT f.id, CASE WHEN f.t_start IS NULL THEN f.photo_id ELSE -f.id END, coalesce(f.person_id, -1), coalesce(f.assigned_by, ''), f.clustered, f.score, "
            "min(f.x2 - f.x1, f.y2 - f.y1), coalesce(f.sharpness, 'nan'), coalesce(f.assign_distance, 'nan'), "
            f"f.embedding{', d.descriptor' if fuse else ''} {where} ORDER BY f.id", [model])
        start = 0
        while start < n and (rows := cursor.fetchmany(min(20_000, n - start))):  # rows added meanwhile wait
            end = start + len(rows)
            cols = list(zip(*rows))
            for name, col in zip(names, cols):
                out[name][start:end] = col
            both[start:end, :dim] = from_blobs(cols[len(names)])
            if fuse and None in cols[len(names) + 1]:  # a face without its descriptor: FaceNet alone
                fuse, both = False, both[:, :dim].copy()
            elif fuse:
                both[start:end, dim:] = from_blobs(cols[len(names) + 1])
            start = end
        if start < n:
            out, both = {k: v[:start] for k, v in out.items()}, both[:start]
        if not fuse or not start:
            out["X"] = out["C"] = both[:, :dim]
            return out
        if facenet:
            out["X"] = both[:, :dim].copy()
        from ..config import SECOND_DESCRIPTOR_WEIGHT

        out["C"] = fuse_in_place(both, dim, load_centre(), SECOND_DESCRIPTOR_WEIGHT)
        return out

    def faces_changed(self, model: str) -> tuple[int, int]:
        """(highest face id of ``model``, times stored vectors were deleted or replaced): both only
        grow, and a copy made from the database (the search index) is current while they are
        unchanged."""
        top = self.db.execute("SELECT coalesce(max(id), 0) FROM faces WHERE model = ?", [model]).fetchone()[0]
        deleted = self.db.execute("SELECT value FROM counters WHERE name = 'vectors_changed'").fetchone()[0]
        return top, deleted

    def unclustered_face_ids(self, model: str) -> list[int]:
        """Faces no clustering run has looked at yet (new, or let go by the user), not placed by hand."""
        return [r[0] for r in self.db.execute(
            "SELECT id FROM faces INDEXED BY idx_faces_unclustered WHERE model = ? AND clustered = 0 AND person_id IS NULL "
            "AND coalesce(assigned_by, '') != 'user'", [model])]

    def unknown_face_ids(self, model: str, ignored: bool = False) -> list[int]:
        """Faces of present photos that belong to nobody: those not ignored, or (``ignored``)
        only the ones a user ignored (placed with nobody)."""
        return [r[0] for r in self.db.execute(
            "SELECT id FROM present_faces WHERE model = ? AND person_id IS NULL "
            "AND (coalesce(assigned_by, '') = 'user') = ? ORDER BY id", [model, int(ignored)])]

    def with_photo_mates(self, face_ids: Iterable[int], model: str) -> list[int]:
        """The given faces and every other face of ``model`` in their photos."""
        self._wanted(face_ids)
        return [r[0] for r in self.db.execute(
            "SELECT id FROM faces WHERE photo_id IN (SELECT f.photo_id FROM wanted_ids w JOIN faces f ON f.id = w.id) "
            "AND +model = ?", [model])]

    def face_count(self, model: str) -> int:
        """Faces of present photos."""
        return self._face_counts(model, unknown=False)[0]

    def face_counts(self, model: str) -> tuple[int, int]:
        """(faces of present photos, those of them that belong to nobody and are not ignored)."""
        return self._face_counts(model, unknown=True)

    def _face_counts(self, model: str, unknown: bool) -> tuple[int, int | None]:
        def one(sql: str) -> tuple:
            return self.db.execute(sql, [model]).fetchone()

        # counted from indexes alone (a join over every face costs a second at a million
        # faces; reading each unassigned face's row for assigned_by, 0.5 s): the unknown
        # faces are the unassigned ones less those the user ignored (idx_faces_ignored)
        faces, = one("SELECT count(*) FROM faces WHERE model = ?")
        gone, gone_unknown = one(
            "SELECT count(*), coalesce(sum(f.person_id IS NULL AND coalesce(f.assigned_by, '') != 'user'), 0) "
            "FROM photos p CROSS JOIN faces f ON f.photo_id = p.id "
            "WHERE p.status IN ('failed', 'missing') AND f.model = ?")
        if not unknown:
            return faces - gone, None
        unassigned, = one("SELECT count(*) FROM faces WHERE model = ? AND person_id IS NULL")
        ignored, = one("SELECT count(*) FROM faces INDEXED BY idx_faces_ignored "
                       "WHERE model = ? AND person_id IS NULL AND assigned_by = 'user'")
        return faces - gone, unassigned - ignored - gone_unknown

    def has_people(self, model: str) -> bool:
        return self.db.execute(
            "SELECT 1 FROM faces f JOIN photos p ON p.id = f.photo_id WHERE f.person_id IS NOT NULL "
            "AND p.status = 'indexed' AND f.model = ? LIMIT 1", [model]).fetchone() is not None

    def face_vectors(self, model: str, after_id: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(face ids, embeddings) of every face of ``model`` with an id above ``after_id``."""
        rows = self.db.execute(
            "SELECT id, embedding FROM faces WHERE model = ? AND id > ? ORDER BY id", [model, after_id]).fetchall()
        if not rows:
            return np.zeros(0, np.int64), from_blobs([])
        ids, blobs = zip(*rows)
        return np.array(ids, dtype=np.int64), from_blobs(blobs)

    def embeddings_by_person(self, model: str, user_named: bool = False) -> dict[int, np.ndarray]:
        """{person id: embeddings of their present faces}: the people a user did not name
        (what gallery and classifier naming may name), or only those a user named."""
        given = f"pe.name_source IN ({','.join('?' * len(PEOPLES_NAMES))})"
        who = given if user_named else f"(pe.name IS NULL OR NOT {given})"
        rows = self.db.execute(
            f"SELECT f.person_id, f.embedding FROM present_faces f JOIN people pe ON pe.id = f.person_id "
            f"WHERE f.model = ? AND {who} ORDER BY f.person_id", [model, *PEOPLES_NAMES]).fetchall()
        out: dict[int, list] = {}
        for pid, blob in rows:
            out.setdefault(pid, []).append(blob)
        return {pid: from_blobs(v) for pid, v in out.items()}

    def named_faces(self, model: str, user_named: bool = False) -> tuple[list[str], np.ndarray]:
        """(names, embeddings) of the present faces of named, visible people (``user_named``:
        people a user named, hidden ones too)."""
        who, args = ((f"pe.name_source IN ({','.join('?' * len(PEOPLES_NAMES))})", list(PEOPLES_NAMES)) if user_named
                     else ("pe.name IS NOT NULL AND pe.hidden = 0", []))
        rows = self.db.execute(
            f"SELECT pe.name, f.embedding FROM present_faces f JOIN people pe ON pe.id = f.person_id "
            f"WHERE f.model = ? AND {who}", [model, *args]).fetchall()
        return [r[0] for r in rows], from_blobs([r[1] for r in rows])

    def person_vectors(self, person_id: int, model: str, limit: int) -> np.ndarray:
        """Embeddings of a person's best detected faces (at most ``limit``)."""
        return from_blobs([r[0] for r in self.db.execute(
            "SELECT embedding FROM faces WHERE person_id = ? AND model = ? ORDER BY score DESC LIMIT ?",
            [person_id, model, limit])])

    def machine_placed_faces(self, model: str, limit: int) -> tuple[list[tuple[int, int, int]], np.ndarray]:
        """([(face id, person id, photo id)], embeddings) of present faces that a clustering run
        placed, least close to their person first (the candidates for review)."""
        rows = self.db.execute(
            "SELECT id, person_id, photo_id, embedding FROM present_faces "
            "WHERE person_id IS NOT NULL AND assigned_by IN ('cluster', 'assign') AND model = ? "
            "ORDER BY assign_distance IS NULL, assign_distance DESC, id LIMIT ?", [model, limit]).fetchall()
        return [r[:3] for r in rows], from_blobs([r[3] for r in rows])

    def face_hits(self, face_ids: Iterable[int]) -> list[dict]:
        """Present faces by id with their photo, person and embedding (``vector``)."""
        ids = list(face_ids)
        rows = self.db.execute(
            f"SELECT f.id, f.embedding, f.photo_id, p.path, f.person_id, pe.name, f.x1, f.y1, f.x2, f.y2, "
            f"f.t_start, f.t_end "
            # faces by id first (CROSS JOIN keeps that order): through present_faces, SQLite chose to
            # walk every indexed photo for a page of ids (1.6 s at 110,000 faces)
            f"FROM faces f CROSS JOIN photos p ON p.id = f.photo_id AND p.status = 'indexed' "
            f"LEFT JOIN people pe ON pe.id = f.person_id "
            f"WHERE f.id IN ({marks(ids)})", ids).fetchall()
        return [{"face_id": r[0], "vector": from_blob(r[1]), "photo_id": r[2], "path": r[3], "person_id": r[4],
                 "name": r[5], "box": [round(v, 1) for v in r[6:10]],
                 **({"t_start": r[10], "t_end": r[11]} if r[10] is not None else {})} for r in rows]
