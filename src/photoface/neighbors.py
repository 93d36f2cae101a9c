"""Nearest neighbours of face embeddings with faiss: the k-NN graph for clustering and the
search index kept beside the database for "faces like this one".

Embeddings are unit vectors, so the Euclidean distance follows from the inner product:
d = sqrt(2 - 2 u.v). Up to EXACT_LIMIT faces a brute-force inner product (BLAS) is exact
and fast; above it an inverted-file index (IVF) visits only the closest cells, built on
the vectors' first IVF_COLUMNS numbers, and what it finds is re-ranked on all of them.
"""
from __future__ import annotations

import json
import logging
import os

import numpy as np

from .models.facenet import EMBEDDING_DIM
from .vectors import similarity_to_distance

log = logging.getLogger(__name__)

#: Up to this many vectors, searches are exact brute force.
EXACT_LIMIT = 50_000
#: IVF cells visited per query: when building the clustering graph, and for one search.
GRAPH_NPROBE = 8
SEARCH_NPROBE = 32
#: Faces added since the search index was built are kept in an exact side index up to this many.
DELTA_LIMIT = 50_000
#: Vectors added to or searched in an index per call, to bound temporary memory.
CHUNK = 100_000
#: An IVF is built on at most this many leading numbers of each vector: the clustering
#: vectors (vectors.fused) lead with FaceNet's 512 and carry dlib's 128 after them. Its
#: candidates are re-ranked exactly on every number. On 640 numbers faiss's 8-bit search
#: took 2.4 times as long as on 512 (300k faces), and on FaceNet's 512 it found as many of
#: the exact nearest fused neighbours (docs/people.md, "Clustering a million faces").
IVF_COLUMNS = EMBEDDING_DIM


def _faiss():
    import faiss

    return faiss


def to_distance(inner: np.ndarray) -> np.ndarray:
    return similarity_to_distance(inner).astype(np.float32)


def _ivf(faiss, X: np.ndarray, quantized: bool, rows: np.ndarray | None = None):
    """An IVF index trained (vectors not yet added) for X[rows], all of X by default, on
    their first IVF_COLUMNS numbers; when ``quantized``, 8-bit scalar quantization keeps a
    quarter of float32's memory."""
    n = len(X) if rows is None else len(rows)
    d = min(X.shape[1], IVF_COLUMNS)
    # 2 sqrt(n) cells, k-means on 40 points per cell for 10 rounds: at 100k faces this trains
    # in 1.3 s instead of 15.6 s (4 sqrt(n) cells, 64 points, 25 rounds) at the same recall
    nlist = int(max(16, min(65536, 2 * np.sqrt(n))))
    quantizer = faiss.IndexFlatIP(d)
    if quantized:
        index = faiss.IndexIVFScalarQuantizer(quantizer, d, nlist, faiss.ScalarQuantizer.QT_8bit,
                                              faiss.METRIC_INNER_PRODUCT)
    else:
        index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.niter = 10
    pick = np.arange(n) if n <= nlist * 40 else np.sort(np.random.default_rng(0).choice(n, nlist * 40, replace=False))
    index.train(np.ascontiguousarray(X[pick if rows is None else rows[pick], :d]))
    index.own_fields = True
    quantizer.this.disown()
    return index


def _index_over(X: np.ndarray, rows: np.ndarray | None, exact_limit: int):
    """Exact inner product for small sets; above ``exact_limit`` a quantized IVF (its results
    are re-ranked exactly by the callers). Vectors are added in chunks, so X[rows] is never
    copied whole."""
    faiss = _faiss()
    n = len(X) if rows is None else len(rows)
    if n <= exact_limit:
        index = faiss.IndexFlatIP(X.shape[1])
    else:
        index = _ivf(faiss, X, quantized=True, rows=rows)
        index.nprobe = GRAPH_NPROBE
    for start in range(0, n, CHUNK):
        part = X[start:start + CHUNK] if rows is None else X[rows[start:start + CHUNK]]
        index.add(np.ascontiguousarray(part[:, :index.d], dtype=np.float32))
    return index


def _search(index, base: np.ndarray, rows: np.ndarray | None, queries: np.ndarray, k: int,
            query_rows: np.ndarray | None = None):
    """Search in chunks; distances recomputed exactly from ``base`` and neighbours re-sorted."""
    n = len(queries) if query_rows is None else len(query_rows)
    dist = np.empty((n, k), np.float32)
    idx = np.empty((n, k), np.int64)
    for start in range(0, n, CHUNK):
        q = queries[start:start + CHUNK] if query_rows is None else queries[query_rows[start:start + CHUNK]]
        q = np.ascontiguousarray(q, dtype=np.float32)
        _, found = index.search(q if index.d == q.shape[1] else np.ascontiguousarray(q[:, :index.d]), k)
        for s in range(0, len(q), 2048):
            f = found[s:s + 2048]
            vec = base[np.maximum(f, 0) if rows is None else rows[np.maximum(f, 0)]]
            sims = np.matmul(vec, q[s:s + 2048, :, None])[:, :, 0]
            sims[f < 0] = -np.inf
            order = np.argsort(-sims, axis=1, kind="stable")
            dist[start + s:start + s + len(f)] = to_distance(np.take_along_axis(sims, order, 1))
            idx[start + s:start + s + len(f)] = np.take_along_axis(f, order, 1)
    dist[idx < 0] = np.inf
    return dist, idx


def knn(X: np.ndarray, k: int, exact_limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest other vectors of every row of X: (distances, indices), -1 where fewer exist."""
    n = len(X)
    k = min(k, n - 1)
    if k < 1:
        return np.zeros((n, 0), np.float32), np.zeros((n, 0), np.int64)
    index = _index_over(X, None, EXACT_LIMIT if exact_limit is None else exact_limit)
    dist, idx = _search(index, X, None, X, k + 1)
    del index
    # Drop each row's own entry (normally first; a duplicate vector may come first instead).
    own = idx == np.arange(n)[:, None]
    keep = ~own
    no_self = ~own.any(axis=1)
    keep[no_self, -1] = False
    return dist[keep].reshape(n, k), idx[keep].reshape(n, k)


def nearest(base: np.ndarray, queries: np.ndarray, k: int, exact_limit: int | None = None,
            rows: np.ndarray | None = None, query_rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest rows of ``base`` for each query: (distances, indices), inf / -1 where
    fewer exist. ``rows`` / ``query_rows`` select rows of ``base`` / ``queries`` without
    copying them; indices then count within ``rows``."""
    size = len(base) if rows is None else len(rows)
    nq = len(queries) if query_rows is None else len(query_rows)
    if not size or not nq:
        return np.full((nq, 0), np.inf, np.float32), np.zeros((nq, 0), np.int64)
    index = _index_over(base, rows, EXACT_LIMIT if exact_limit is None else exact_limit)
    return _search(index, base, rows, queries, min(k, size), query_rows)


class FaceIndex:
    """A faiss index of face embeddings by face id, saved beside the database.

    Two parts: the base (exact inner product up to EXACT_LIMIT faces, IVF + 8-bit scalar
    quantization memory-mapped above) and a small exact "delta" holding faces added since
    the base was built, so adding a thousand faces to a million-face index rewrites only
    the delta. The delta is folded into the base once it passes DELTA_LIMIT (or 5% of the
    base). Freshness costs two indexed lookups: the highest face id and the count of faces
    ever deleted (kept by a trigger); a deletion rebuilds the index. Callers re-rank
    results with the exact stored embeddings.
    """

    VERSION = 2

    def __init__(self, db_path: str, model: str):
        base = os.path.abspath(db_path)
        self.path = f"{base}.{model}.faiss"
        self.delta_path = self.path + ".delta"
        self.meta_path = self.path + ".json"
        self.index = None
        self.delta = None
        self.meta: dict = {}

    @property
    def ntotal(self) -> int:
        return (self.index.ntotal if self.index is not None else 0) + (self.delta.ntotal if self.delta is not None else 0)

    def _load(self) -> None:
        if self.index is not None or not os.path.exists(self.meta_path):
            return
        faiss = _faiss()
        try:
            with open(self.meta_path) as fh:
                meta = json.load(fh)
            if meta.get("version") != self.VERSION:
                return
            flags = faiss.IO_FLAG_MMAP if meta["kind"] == "ivf" else 0
            index = faiss.read_index(self.path, flags)
            delta = faiss.read_index(self.delta_path) if meta["delta_count"] else _flat(index.d)
            if index.ntotal != meta["base_count"] or delta.ntotal != meta["delta_count"]:
                return  # a write was cut short: rebuild
            self.index, self.delta, self.meta = index, delta, meta
        except Exception:  # a damaged index file is rebuilt, never trusted
            self.index, self.delta, self.meta = None, None, {}

    def sync(self, store, model: str) -> None:
        """Make the index hold exactly the faces of ``model`` in the database."""
        top, deleted = store.faces_changed(model)
        self._load()
        if self.index is not None and self.meta["deleted"] == deleted and self.meta["max_id"] == top:
            return
        if self.index is None or self.meta["deleted"] != deleted or top < self.meta["max_id"]:
            self._rebuild(store, model, top, deleted)
            return
        ids, X = store.face_vectors(model, self.meta["max_id"])
        pending = self.delta.ntotal + len(ids)
        if pending <= min(DELTA_LIMIT, max(DELTA_LIMIT // 5, self.index.ntotal // 20)):
            self.delta.add_with_ids(np.ascontiguousarray(X), ids)
            self._save(top, deleted, base=False)
            return
        total = self.index.ntotal + pending
        if (self.meta["kind"] == "flat" and total <= EXACT_LIMIT
                or self.meta["kind"] == "ivf" and total <= 4 * self.meta["built_count"]):
            # Fold the delta into the base; the IVF cells still fit the data.
            ids, X = store.face_vectors(model, self.meta["base_max_id"])
            self.index = _faiss().read_index(self.path)  # a memory-mapped index is read-only
            self.index.add_with_ids(np.ascontiguousarray(X), ids)
            self.delta = _flat(self.index.d)
            self._save(top, deleted, base=True)
        else:
            self._rebuild(store, model, top, deleted)

    def _rebuild(self, store, model, top, deleted) -> None:
        faiss = _faiss()
        ids, X = store.face_vectors(model)
        if len(ids) <= EXACT_LIMIT:
            index, kind = _flat(X.shape[1] if len(X) else 512), "flat"
        else:
            index, kind = _ivf(faiss, X, quantized=True), "ivf"
        if len(ids):
            index.add_with_ids(np.ascontiguousarray(X), ids)
        self.index, self.delta = index, _flat(index.d)
        self.meta = {"kind": kind, "built_count": len(ids)}
        self._save(top, deleted, base=True)

    def _save(self, top: int, deleted: int, base: bool) -> None:
        """Keep the index beside the database; where that folder cannot be written (a library
        on read-only storage), it serves this process from memory."""
        if base:
            self.meta["base_max_id"] = top
        self.meta.update(version=self.VERSION, max_id=top, deleted=deleted,
                         base_count=self.index.ntotal, delta_count=self.delta.ntotal)
        faiss = _faiss()
        try:
            if base:
                faiss.write_index(self.index, self.path + ".tmp")
                os.replace(self.path + ".tmp", self.path)
            if self.delta.ntotal:
                faiss.write_index(self.delta, self.delta_path + ".tmp")
                os.replace(self.delta_path + ".tmp", self.delta_path)
            with open(self.meta_path + ".tmp", "w") as fh:
                json.dump(self.meta, fh)
            os.replace(self.meta_path + ".tmp", self.meta_path)
        except (OSError, RuntimeError) as exc:  # faiss reports a failed write as RuntimeError
            log.info("search index kept in memory only: %s", exc)

    def search(self, queries: np.ndarray, k: int, nprobe: int = SEARCH_NPROBE) -> tuple[np.ndarray, np.ndarray]:
        """(approximate distances, face ids) of the k nearest faces of each query, closest
        first; id -1 and distance inf pad rows with fewer."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        n = len(queries)
        parts_d, parts_i = [np.full((n, 0), -np.inf, np.float32)], [np.zeros((n, 0), np.int64)]
        for part in (self.index, self.delta):
            if part is None or part.ntotal == 0:
                continue
            if part is self.index and self.meta.get("kind") == "ivf":
                _faiss().extract_index_ivf(part).nprobe = nprobe
            sims, ids = part.search(queries, min(k, part.ntotal))
            parts_d.append(sims)
            parts_i.append(ids)
        sims, ids = np.hstack(parts_d), np.hstack(parts_i)
        sims[ids < 0] = -np.inf
        order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
        sims, ids = np.take_along_axis(sims, order, 1), np.take_along_axis(ids, order, 1)
        dist = to_distance(sims)
        dist[ids < 0] = np.inf
        return dist, ids


def _flat(dim: int = 512):
    faiss = _faiss()
    return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
