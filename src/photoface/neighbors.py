"""Nearest neighbours of face embeddings with faiss: the k-NN graph for clustering and the
search index kept beside the database for "faces like this one".

Embeddings are unit vectors, so the Euclidean distance follows from the inner product:
d = sqrt(2 - 2 u.v). Up to EXACT_LIMIT faces a brute-force inner product (BLAS) is exact
and fast; above it an inverted-file index (IVF) visits only the closest cells.
"""
from __future__ import annotations

import json
import os

import numpy as np

#: Up to this many vectors, searches are exact brute force.
EXACT_LIMIT = 50_000
#: IVF cells visited per query: when building the clustering graph, and for one search.
GRAPH_NPROBE = 8
SEARCH_NPROBE = 32


def _faiss():
    import faiss

    return faiss


def to_distance(inner: np.ndarray) -> np.ndarray:
    return np.sqrt(np.clip(2.0 - 2.0 * inner, 0.0, 4.0)).astype(np.float32)


def _ivf(faiss, X: np.ndarray, quantized: bool):
    n, d = X.shape
    nlist = int(max(16, min(65536, 4 * np.sqrt(n))))
    quantizer = faiss.IndexFlatIP(d)
    if quantized:
        index = faiss.IndexIVFScalarQuantizer(quantizer, d, nlist, faiss.ScalarQuantizer.QT_8bit,
                                              faiss.METRIC_INNER_PRODUCT)
    else:
        index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
    sample = X
    if n > nlist * 64:
        sample = X[np.random.default_rng(0).choice(n, nlist * 64, replace=False)]
    index.train(np.ascontiguousarray(sample))
    index.own_fields = True
    quantizer.this.disown()
    return index


def knn(X: np.ndarray, k: int, exact_limit: int = EXACT_LIMIT) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest other vectors of every row of X: (distances, indices), -1 where fewer exist."""
    faiss = _faiss()
    X = np.ascontiguousarray(X, dtype=np.float32)
    n, d = X.shape
    k = min(k, n - 1)
    if k < 1:
        return np.zeros((n, 0), np.float32), np.zeros((n, 0), np.int64)
    if n <= exact_limit:
        index = faiss.IndexFlatIP(d)
    else:
        index = _ivf(faiss, X, quantized=False)
        index.nprobe = GRAPH_NPROBE
    index.add(X)
    sims, idx = index.search(X, k + 1)
    # Drop each row's own entry (normally first; a duplicate vector may come first instead).
    own = idx == np.arange(n)[:, None]
    keep = ~own
    no_self = ~own.any(axis=1)
    keep[no_self, -1] = False
    sims = sims[keep].reshape(n, k)
    idx = idx[keep].reshape(n, k)
    dist = to_distance(sims)
    dist[idx < 0] = np.inf
    return dist, idx


def nearest(base: np.ndarray, queries: np.ndarray, k: int,
            exact_limit: int = EXACT_LIMIT) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest rows of ``base`` for each query: (distances, indices), inf / -1 where fewer exist."""
    faiss = _faiss()
    base = np.ascontiguousarray(base, dtype=np.float32)
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    if not len(base) or not len(queries):
        return np.full((len(queries), 0), np.inf, np.float32), np.zeros((len(queries), 0), np.int64)
    if len(base) <= exact_limit:
        index = faiss.IndexFlatIP(base.shape[1])
    else:
        index = _ivf(faiss, base, quantized=False)
        index.nprobe = GRAPH_NPROBE
    index.add(base)
    sims, idx = index.search(queries, min(k, len(base)))
    dist = to_distance(sims)
    dist[idx < 0] = np.inf
    return dist, idx


class FaceIndex:
    """A faiss index of face embeddings by face id, saved beside the database.

    It is brought up to date before use: new faces are added; when faces were removed
    it is rebuilt. Results are re-ranked with the exact stored embeddings by the caller.
    """

    def __init__(self, db_path: str, model: str):
        base = os.path.abspath(db_path)
        self.path = f"{base}.{model}.faiss"
        self.meta_path = self.path + ".json"
        self.index = None
        self.meta: dict = {}

    def _load(self):
        faiss = _faiss()
        if self.index is None and os.path.exists(self.path) and os.path.exists(self.meta_path):
            try:
                with open(self.meta_path) as fh:
                    self.meta = json.load(fh)
                flags = faiss.IO_FLAG_MMAP if self.meta.get("kind") == "ivf" else 0
                self.index = faiss.read_index(self.path, flags)
            except Exception:  # a damaged index file is rebuilt, never trusted
                self.index, self.meta = None, {}

    def is_current(self, count: int, max_id: int) -> bool:
        self._load()
        return self.index is not None and self.meta.get("count") == count and self.meta.get("max_id") == max_id

    def sync(self, store, model: str) -> None:
        """Make the index hold exactly the faces of ``model`` in the database."""
        count, max_id = store.db.execute(
            "SELECT count(*), coalesce(max(id), 0) FROM faces WHERE model = ?", [model]).fetchone()
        if self.is_current(count, max_id):
            return
        old_count, old_max = self.meta.get("count", -1), self.meta.get("max_id", -1)
        if self.index is not None and old_count >= 0:
            added = store.db.execute(
                "SELECT count(*) FROM faces WHERE model = ? AND id > ?", [model, old_max]).fetchone()[0]
            still = count - added
            # Only additions since the last build (and the IVF cells still fit): append them.
            if still == old_count and (self.meta.get("kind") == "flat" and count <= EXACT_LIMIT
                                        or self.meta.get("kind") == "ivf" and count <= 4 * self.meta["built_count"]):
                self._append(*store.face_vectors(model, old_max), count, max_id)
                return
        self._rebuild(store, model, count, max_id)

    def _append(self, ids, X, count, max_id):
        faiss = _faiss()
        if self.meta["kind"] == "ivf":  # a memory-mapped index is read-only: load it fully to extend it
            self.index = faiss.read_index(self.path)
        self.index.add_with_ids(np.ascontiguousarray(X), ids)
        self._save(count, max_id, self.meta["kind"], self.meta["built_count"])

    def _rebuild(self, store, model, count, max_id):
        faiss = _faiss()
        ids, X = store.face_vectors(model)
        if len(ids) <= EXACT_LIMIT:
            index, kind = faiss.IndexIDMap2(faiss.IndexFlatIP(X.shape[1] if len(X) else 512)), "flat"
        else:
            index, kind = _ivf(faiss, X, quantized=True), "ivf"
        if len(ids):
            index.add_with_ids(np.ascontiguousarray(X), ids)
        self.index = index
        self._save(count, max_id, kind, len(ids))

    def _save(self, count, max_id, kind, built_count):
        faiss = _faiss()
        tmp = self.path + ".tmp"
        faiss.write_index(self.index, tmp)
        os.replace(tmp, self.path)
        self.meta = {"count": count, "max_id": max_id, "kind": kind, "built_count": built_count}
        with open(self.meta_path + ".tmp", "w") as fh:
            json.dump(self.meta, fh)
        os.replace(self.meta_path + ".tmp", self.meta_path)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(approximate distances, face ids) of the k nearest faces of each query; id -1 pads."""
        if self.index is None or self.index.ntotal == 0:
            n = len(queries)
            return np.full((n, 0), np.inf, np.float32), np.zeros((n, 0), np.int64)
        if self.meta.get("kind") == "ivf":
            _faiss().extract_index_ivf(self.index).nprobe = SEARCH_NPROBE
        sims, ids = self.index.search(np.ascontiguousarray(queries, dtype=np.float32), min(k, self.index.ntotal))
        return to_distance(sims), ids
