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
