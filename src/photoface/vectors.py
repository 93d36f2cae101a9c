"""Face embeddings as numpy arrays: the storage codec, distances, means and matching against
named faces. numpy only; every other module computes on embeddings through these."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: How an embedding is stored in a BLOB: little-endian float32.
BLOB_DTYPE = "<f4"


def to_blob(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=BLOB_DTYPE).tobytes()


def from_blob(blob: bytes) -> np.ndarray:
    """One stored embedding (a read-only view of the bytes)."""
    return np.frombuffer(blob, dtype=BLOB_DTYPE)


def from_blobs(blobs: Sequence[bytes], dim: int | None = None) -> np.ndarray:
    """Stored embeddings as an n x d float32 matrix (0 x ``dim`` when there are none)."""
    if not len(blobs):
        return np.zeros((0, dim or 512), np.float32)
    return from_blob(b"".join(blobs)).reshape(len(blobs), len(blobs[0]) // 4)


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance between two embeddings (for unit vectors, sqrt(2 - 2 cos))."""
    return float(np.linalg.norm(np.asarray(a, np.float32) - np.asarray(b, np.float32)))


def distances(X: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Euclidean distance of each row of ``X`` to ``query``."""
    return np.linalg.norm(np.asarray(X, np.float32) - np.asarray(query, np.float32), axis=-1)


def similarity_to_distance(sims: np.ndarray) -> np.ndarray:
    """Euclidean distance from the inner product of unit vectors."""
    return np.sqrt(np.clip(2.0 - 2.0 * sims, 0.0, 4.0))


def unit_mean(X: np.ndarray) -> np.ndarray:
    """The mean of embeddings scaled back to unit length (float32): a person's centre."""
    centre = np.mean(np.asarray(X), axis=0)  # in the embeddings' own precision
    return (centre / max(float(np.linalg.norm(centre)), 1e-12)).astype(np.float32)


class NamedFaces:
    """The faces of named people; names a query by its nearest named face within ``max_distance``
    (exact inner product: unit vectors)."""

    def __init__(self, vectors: np.ndarray, names: Sequence[str], max_distance: float):
        self.vectors = np.ascontiguousarray(vectors, np.float32)
        self.names = list(names)
        self.max_distance = max_distance

    def __len__(self) -> int:
        return len(self.names)

    def nearest(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(index of the nearest named face, its distance) for each query row."""
        queries = np.asarray(queries, np.float32)
        if not len(self.names) or not len(queries):
            return np.full(len(queries), -1), np.full(len(queries), np.inf)
        sims = queries @ self.vectors.T
        best = sims.argmax(axis=1)
        return best, similarity_to_distance(sims[np.arange(len(queries)), best])

    def match(self, queries: np.ndarray, unknown: str | None = None) -> list[tuple[str | None, float | None]]:
        """(name, distance) per query: the nearest named face's name within ``max_distance``,
        else ``unknown`` with the distance (None when there are no named faces)."""
        if not len(self.names):
            return [(unknown, None)] * len(queries)
        best, dist = self.nearest(queries)
        return [(self.names[j], float(d)) if d <= self.max_distance else (unknown, float(d))
                for j, d in zip(best, dist)]


def leader_groups(X: np.ndarray, max_distance: float, block: int = 256) -> np.ndarray:
    """Group unit vectors given best first: each joins the group of the first earlier leader
    within ``max_distance`` of it, or leads a new group. Every member lies within that
    distance of its group's (best) face, so groups never chain strangers together the way
    linking neighbours would. Returns each row's group number (0, 1, ... in order of leaders).
    Rows are compared to the leaders a block at a time (one matrix product per block)."""
    X = np.asarray(X, np.float32)
    n = len(X)
    group = np.full(n, -1, np.int64)
    leaders: list[int] = []
    min_sim = 1.0 - max_distance**2 / 2.0  # distance -> inner product of unit vectors
    for start in range(0, n, block):
        rows = range(start, min(start + block, n))
        first_new = len(leaders)
        known = X[leaders] @ X[start:start + block].T if leaders else np.empty((0, len(rows)), np.float32)
        for j, i in enumerate(rows):
            sims = known[:, j]
            if first_new < len(leaders):  # leaders made within this block
                sims = np.concatenate([sims, X[leaders[first_new:]] @ X[i]])
            hit = np.flatnonzero(sims >= min_sim)
            if len(hit):
                group[i] = group[leaders[hit[0]]]
            else:
                group[i] = len(leaders)
                leaders.append(i)
    return group


def fused(embeddings: np.ndarray, descriptors: np.ndarray, centre: np.ndarray, weight: float) -> np.ndarray:
    """The vectors faces are clustered on: FaceNet's unit embeddings and ``weight`` times
    dlib's descriptors (made unit length, the shared centre removed, unit length again),
    side by side and made unit length. Distances between them are shorter than FaceNet's
    alone by about 10% for the same people, as much longer for people FaceNet confuses and
    dlib does not (docs/people.md, "A second embedding")."""
    embeddings = np.asarray(embeddings, np.float32)
    both = np.empty((len(embeddings), embeddings.shape[1] + descriptors.shape[1]), np.float32)
    both[:, :embeddings.shape[1]] = embeddings
    both[:, embeddings.shape[1]:] = descriptors
    return fuse_in_place(both, embeddings.shape[1], centre, weight)


def fuse_in_place(both: np.ndarray, dim: int, centre: np.ndarray, weight: float, chunk: int = 65_536) -> np.ndarray:
    """``fused`` on a matrix holding the embeddings in its first ``dim`` columns and the
    raw descriptors after them, computed in place a chunk of rows at a time (a million faces
    need no second copy)."""
    for start in range(0, len(both), chunk):
        part = both[start:start + chunk]
        d = part[:, dim:]
        d /= np.maximum(np.sqrt(np.einsum("ij,ij->i", d, d)), 1e-12)[:, None]
        d -= centre
        d *= (weight / np.maximum(np.sqrt(np.einsum("ij,ij->i", d, d)), 1e-12))[:, None]
        part /= np.maximum(np.sqrt(np.einsum("ij,ij->i", part, part)), 1e-12)[:, None]
    return both
