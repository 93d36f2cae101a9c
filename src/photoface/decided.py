"""Clusters under the user's decisions: a cluster holding faces the user told apart (two
people, or a person and faces rejected from them) is split along its shortest links; and
where to ask for such a decision (weakest_cut: the faces of a person that may be someone
else).

Pure computation on arrays: no database, no models.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .cluster import knn_graph
from .neighbors import knn

#: Above this many faces the cut's eigenvector is found iteratively (scipy's eigsh), not densely.
_DENSE_FACES = 200
#: Up to this many faces their neighbours are found from all their similarities at once.
_EXACT_FACES = 4000


def split_by_decisions(X: np.ndarray, labels: np.ndarray, person: np.ndarray, rejected: dict[int, set[int]],
                       min_cluster_size: int, n_neighbors: int, longest_link: float) -> np.ndarray:
    """Clusters split where the user's decisions tell their faces apart.

    ``person``: per row, the person the user's decisions put the face in (a named person's
    face, -1 for others); ``rejected``: row -> people the user said the face is not. A
    cluster holding faces of two such people, or a person's faces and faces rejected from
    them, is split by single linkage under those decisions: its k-NN links up to
    ``longest_link`` are joined shortest first, except a link that would put two people,
    or a person and a face rejected from them, in one piece. Each face thus goes with the decided faces it is
    joined to by the shortest links (a look-alike's faces the user rejected from a person
    become a cluster of their own, instead of staying unknown; strangers rejected from one
    person, far from each other, stay apart). Pieces smaller than
    ``min_cluster_size`` become noise. Other clusters are unchanged."""
    labels = np.asarray(labels).copy()
    next_label = labels.max(initial=-1) + 1
    for c in _conflicting(labels, person, rejected):
        rows = np.flatnonzero(labels == c)
        piece = _constrained_pieces(X[rows], person[rows], [rejected.get(int(r), set()) for r in rows], n_neighbors,
                                    longest_link)
        sizes = np.bincount(piece)
        for p in np.unique(piece):
            mine = rows[piece == p]
            if sizes[p] < min_cluster_size:
                labels[mine] = -1
            elif p != piece[np.argmax(sizes[piece])]:  # the largest piece keeps the label
                labels[mine] = next_label
                next_label += 1
    return labels


def _conflicting(labels: np.ndarray, person: np.ndarray, rejected: dict[int, set[int]]) -> list[int]:
    """The clusters holding faces of two decided people, or a person's face and a face
    rejected from them (found from the decided and rejected faces alone)."""
    decided = np.flatnonzero((person >= 0) & (labels >= 0))
    pairs = np.unique(np.column_stack([labels[decided], person[decided]]), axis=0)
    clusters, people_in = np.unique(pairs[:, 0], return_counts=True)
    out = set(clusters[people_in > 1].tolist())
    rows = [r for r in rejected if labels[r] >= 0]
    wanted = {(int(labels[r]), p) for r in rows for p in rejected[r]}
    out |= {c for c, p in map(tuple, pairs.tolist()) if (c, p) in wanted} if wanted else set()
    return sorted(out)


def _constrained_pieces(X: np.ndarray, person: np.ndarray, rejected: list[set[int]], n_neighbors: int,
                        longest_link: float) -> np.ndarray:
    """Kruskal's single linkage over X's k-NN graph, refusing the links that would join two
    people, or a person and a face rejected from them (split_by_decisions): a piece id per row."""
    n = len(X)
    parent = np.arange(n)
    people = [{int(p)} if p >= 0 else set() for p in person]
    nots = [set(r) for r in rejected]

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    g = sp.triu(knn_graph(X, min(n_neighbors, n - 1)) if n > 1 else sp.csr_matrix((n, n))).tocoo()
    for k in np.argsort(g.data, kind="stable"):
        if g.data[k] > longest_link:
            break
        a, b = root(int(g.row[k])), root(int(g.col[k]))
        if a == b:
            continue
        joined = people[a] | people[b]
        if len(joined) > 1 or joined & (nots[a] | nots[b]):
            continue
        parent[b] = a
        people[a], nots[a] = joined, nots[a] | nots[b]
    return np.unique([root(i) for i in range(n)], return_inverse=True)[1]


def weakest_cut(X: np.ndarray, n_neighbors: int) -> tuple[float, np.ndarray] | None:
    """Where one person's faces are joined least: (conductance, mask of one side), or None
    for fewer than four faces.

    Each face is linked to its ``n_neighbors`` nearest (symmetric, unweighted). The faces
    are ordered along the second eigenvector of the graph's normalised Laplacian (spectral
    partitioning), and of the cuts between consecutive faces in that order the one with the
    smallest conductance is returned: the links it cuts over the links of its smaller side.
    Two people's faces in one cluster share few neighbours (actors5's merged actresses: 0.07);
    one person's photos of two eras can share as few (Amitabh Bachchan young and old: 0.03),
    so the cut is a question for the user, not a decision (docs/people.md, "Maybe someone
    else")."""
    n = len(X)
    if n < 4:
        return None
    k = min(n_neighbors, n - 1)
    X = np.ascontiguousarray(X, dtype=np.float32)
    if n <= _EXACT_FACES:  # a person's faces: one product is quicker than an index over them
        similarity = X @ X.T
        np.fill_diagonal(similarity, -np.inf)
        idx = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
    else:
        _, idx = knn(X, k)
    rows = np.repeat(np.arange(n), idx.shape[1])
    valid = idx.ravel() >= 0
    A = sp.csr_matrix((np.ones(int(valid.sum())), (rows[valid], idx.ravel()[valid])), shape=(n, n))
    A = ((A + A.T) > 0).astype(np.float64).tocsr()
    degree = np.asarray(A.sum(axis=1)).ravel()
    scale = sp.diags(1.0 / np.sqrt(degree))
    M = scale @ A @ scale  # its second largest eigenvector is the Laplacian's second smallest
    second = None
    if n > _DENSE_FACES:
        from scipy.sparse.linalg import ArpackNoConvergence, eigsh

        try:
            second = eigsh(M, k=2, which="LA", v0=np.sqrt(degree))[1][:, 0]
        except ArpackNoConvergence:  # rare: solved densely instead
            pass
    if second is None:
        second = np.linalg.eigh(M.toarray())[1][:, -2]
    order = np.argsort(second / np.sqrt(degree), kind="stable")
    inside = np.zeros(n, bool)
    total, cut, volume = degree.sum(), 0.0, 0.0
    best, best_at = np.inf, 0
    for step, i in enumerate(order[:-1]):
        cut += degree[i] - 2 * inside[A.indices[A.indptr[i]:A.indptr[i + 1]]].sum()
        volume += degree[i]
        inside[i] = True
        conductance = cut / min(volume, total - volume)
        if conductance < best:
            best, best_at = conductance, step
    side = np.zeros(n, bool)
    side[order[:best_at + 1]] = True
    return float(best), side
