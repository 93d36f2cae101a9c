"""Clusters under the user's decisions: a cluster holding faces the user told apart (two
people, or a person and faces rejected from them) is split along its shortest links.

Pure computation on arrays: no database, no models.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .cluster import knn_graph


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
