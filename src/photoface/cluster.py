"""Group face embeddings into people: HDBSCAN on a k-NN graph, as a scikit-learn estimator,
plus the incremental assignment of new faces to existing people.

Pure computation on arrays: no database, no models.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.utils.validation import validate_data

from .config import ClusterSettings
from .neighbors import knn, nearest
from .vectors import similarity_to_distance

#: The shipped settings: FaceClusterer() is the clusterer `photoface cluster` runs.
_SHIPPED = ClusterSettings()

#: Distance given to the edges that join separate components of the k-NN graph: larger
#: than any distance between unit vectors, so HDBSCAN sees them as far apart.
_FAR = 4.0


def knn_graph(X: np.ndarray, n_neighbors: int) -> sp.csr_matrix:
    """A symmetric sparse k-NN distance graph of X in which every component is joined to the next at _FAR."""
    n = len(X)
    dist, idx = knn(X, n_neighbors)
    k = dist.shape[1]
    valid = idx >= 0
    rows = np.repeat(np.arange(n), k)[valid.ravel()]
    # sparse matrices drop explicit zeros: keep duplicate faces connected at a tiny distance
    graph = sp.csr_matrix((dist[valid] + 1e-6, (rows, idx[valid])), shape=(n, n))
    graph = graph.maximum(graph.T).tocsr()
    ncomp, comp = connected_components(graph, directed=False)
    if ncomp > 1:
        reps = np.unique(comp, return_index=True)[1]
        bridge = sp.csr_matrix((np.full(ncomp - 1, _FAR), (reps[:-1], reps[1:])), shape=(n, n))
        graph = (graph + bridge + bridge.T).tocsr()
    return graph


def single_linkage_tree(graph: sp.csr_matrix, min_samples: int) -> np.ndarray:
    """HDBSCAN's single-linkage tree of a sparse distance graph, as the hdbscan package
    computes it for sparse precomputed input (core distance: the ``min_samples``-th smallest
    distance stored in a row; mutual reachability; minimum spanning tree), but vectorised:
    the package's per-edge Python loop takes minutes at a million faces."""
    from hdbscan._hdbscan_linkage import label
    from scipy.sparse.csgraph import minimum_spanning_tree

    g = graph.tocsr().astype(np.float64)
    n = g.shape[0]
    counts = np.diff(g.indptr)
    row = np.repeat(np.arange(n), counts)
    ordered = g.data[np.lexsort((g.data, row))]
    pos = np.minimum(g.indptr[:-1] + min_samples - 1, max(len(ordered) - 1, 0))
    core = np.where(counts >= min_samples, ordered[pos] if len(ordered) else np.inf, np.inf)
    reach = np.maximum(g.data, np.maximum(core[row], core[g.indices]))
    mst = minimum_spanning_tree(sp.csr_matrix((reach, g.indices, g.indptr), shape=g.shape)).tocoo()
    keep = mst.data != 0  # the entries in the order of the package's mst.nonzero()
    edges = np.column_stack([mst.row[keep], mst.col[keep], mst.data[keep]]).astype(np.float64)
    # the package's edge order (ties included), so results match it exactly
    return label(edges[np.argsort(edges[:, 2])])


def enforce_cannot_link(labels: np.ndarray, groups: np.ndarray, strength: np.ndarray) -> np.ndarray:
    """Faces of one group (photo) never share a label: in each (label, group) only the face
    with the highest ``strength`` keeps the label, the others become noise (-1)."""
    labels = labels.copy()
    order = np.lexsort((-strength, groups, labels))
    lab, grp = labels[order], groups[order]
    dup = np.zeros(len(order), bool)
    dup[1:] = (lab[1:] == lab[:-1]) & (grp[1:] == grp[:-1]) & (lab[1:] >= 0)
    labels[order[dup]] = -1
    return labels


class FaceClusterer(ClusterMixin, BaseEstimator):
    """HDBSCAN over unit-length face embeddings, with photoface's rules.

    - The density graph is a k-NN graph (faiss), so it scales to a million faces.
    - ``groups`` (the photo of each face): faces of one photo never share a cluster.
    - ``eligible``: faces allowed to form clusters (big, sharp, confident ones); the others,
      and faces pushed out by the photo rule, are attached afterwards only when they lie
      within attach_within of a cluster's face; what matches nobody stays -1.
    - Clusters are split where their faces are joined only by links longer than
      the longest link (longest_link): HDBSCAN keeps a lone outlier in the cluster it joined before
      that cluster merged with others, however far it lies (a stranger seen once next to a
      family), and with min_samples 2 it joins two people who have two photos each.
    """

    def __init__(self, min_cluster_size: int = _SHIPPED.min_cluster_size, min_samples: int = _SHIPPED.min_samples,
                 n_neighbors: int = _SHIPPED.n_neighbors,
                 cluster_selection_epsilon: float = _SHIPPED.cluster_selection_epsilon,
                 cluster_selection_method: str = _SHIPPED.cluster_selection_method,
                 attach_distance: float = _SHIPPED.attach_distance,
                 attach_below_link: float = _SHIPPED.attach_below_link,
                 single_cluster_radius: float = _SHIPPED.single_cluster_radius,
                 link_distance: float = _SHIPPED.link_distance, max_link_distance: float = _SHIPPED.max_link_distance,
                 max_link_per_decade: float = _SHIPPED.max_link_per_decade,
                 max_link_from_faces: int = _SHIPPED.max_link_from_faces,
                 min_link_distance: float = _SHIPPED.min_link_distance, pair_distance: float = _SHIPPED.pair_distance,
                 spread_quantile: float = _SHIPPED.spread_quantile, spread_margin: float = _SHIPPED.spread_margin,
                 spread_max_distance: float = _SHIPPED.spread_max_distance, spread_votes: int = _SHIPPED.spread_votes):
        self.min_cluster_size = min_cluster_size
        self.min_samples = min_samples
        self.n_neighbors = n_neighbors
        self.cluster_selection_epsilon = cluster_selection_epsilon
        self.cluster_selection_method = cluster_selection_method
        self.attach_distance = attach_distance
        self.attach_below_link = attach_below_link
        self.single_cluster_radius = single_cluster_radius
        self.link_distance = link_distance
        self.max_link_distance = max_link_distance
        self.max_link_per_decade = max_link_per_decade
        self.max_link_from_faces = max_link_from_faces
        self.min_link_distance = min_link_distance
        self.pair_distance = pair_distance
        self.spread_quantile = spread_quantile
        self.spread_margin = spread_margin
        self.spread_max_distance = spread_max_distance
        self.spread_votes = spread_votes

    @classmethod
    def from_settings(cls, s: ClusterSettings) -> "FaceClusterer":
        """The clusterer ``s`` describes (ClusterSettings' other fields are about which faces
        it gets and how new faces join people)."""
        from inspect import signature

        return cls(**{name: getattr(s, name) for name in signature(cls).parameters})

    def longest_link(self, library_faces: int) -> float:
        """The longest link kept inside a cluster in a library of ``library_faces`` faces:
        ``link_distance`` when set (> 0: learned from the user's names or given), else
        ``max_link_distance`` up to ``max_link_from_faces`` faces, then shorter by
        ``max_link_per_decade`` per tenfold more faces, never below ``min_link_distance``.
        The more faces, the more strangers lie within any fixed distance of a person's
        faces (on the same embeddings all of LFW, 15,247 faces, is best cut at 0.85 and a
        123-face library of people photographed over decades at 1.0: docs/people.md)."""
        if self.link_distance > 0:
            return float(self.link_distance)
        decades = np.log10(max(library_faces, 1) / self.max_link_from_faces)
        return float(max(self.min_link_distance,
                         min(self.max_link_distance, self.max_link_distance - self.max_link_per_decade * decades)))

    def attach_within(self, longest_link: float) -> float:
        """How far from a cluster's face a left-over face may lie to join it:
        ``attach_distance`` when set (> 0), else ``attach_below_link`` less than the longest
        link, so it shrinks with the library as the link does (on the same embeddings all of
        LFW is best attached within 0.75-0.8 and libraries of a few hundred web photos within
        0.95: docs/people.md)."""
        if self.attach_distance > 0:
            return float(self.attach_distance)
        return max(0.0, float(longest_link) - self.attach_below_link)

    def fit(self, X, y=None, groups=None, eligible=None, library_faces=None):
        """Cluster X (n faces x d, unit-length rows); ``groups``: the photo of each face (faces of
        one group never share a cluster); ``eligible``: faces that may form clusters;
        ``library_faces``: how many faces the whole library holds (X's rows when not given),
        which sets the longest link (longest_link).

        The faces are clustered in an order of their own (canonical_order), so the same faces
        give the same people whatever order they come in: a library indexed again, or in
        another order, is not clustered differently (ties between equal distances, which
        the linkage breaks by position, moved a set's BCubed F1 by up to 0.015 before)."""
        X = validate_data(self, X, dtype=np.float32, ensure_min_samples=1)
        n = len(X)
        groups = np.arange(n) if groups is None else np.asarray(groups)
        eligible = np.ones(n, bool) if eligible is None else np.asarray(eligible, bool)
        if len(groups) != n or len(eligible) != n:
            raise ValueError(f"groups and eligible need one entry per row of X ({n})")
        X = np.ascontiguousarray(X)
        order = canonical_order(X, groups)
        if X.nbytes > IN_PLACE_BYTES and X.flags.writeable:
            # a million faces' embeddings are 2 GB: reordered where they are and put back
            # after, rather than copied (the 1M-face run stays within its 8 GB)
            permute_rows(X, order)
            try:
                self._fit_ordered(X, groups[order], eligible[order], library_faces)
            finally:
                permute_rows(X, np.argsort(order))
        else:
            self._fit_ordered(np.ascontiguousarray(X[order]), groups[order], eligible[order], library_faces)
        labels = np.empty_like(self.labels_)
        labels[order] = self.labels_
        self.labels_ = labels
        return self

    def _fit_ordered(self, X, groups, eligible, library_faces):
        n = len(X)
        self.link_distance_ = self.longest_link(n if library_faces is None else library_faces)
        self.attach_distance_ = self.attach_within(self.link_distance_)
        labels = np.full(n, -1, np.int64)
        strength = np.zeros(n, np.float32)
        core = np.flatnonzero(eligible)
        graph = None
        if len(core) >= max(2, self.min_cluster_size):
            core_labels, core_strength, graph = self._hdbscan(X[core])
            labels[core], strength[core] = core_labels, core_strength
        labels = enforce_cannot_link(labels, groups, strength)
        if self.pair_distance > 0 and graph is not None:
            labels = self._pair_up(graph, groups, labels, core)
        labels = self._attach(X, groups, labels)
        if graph is not None and self.spread_max_distance > self.attach_distance_:
            labels = self._attach_by_spread(X, groups, labels, graph, core)
        # number clusters 0..k-1 by size, largest first
        uniq, counts = np.unique(labels[labels >= 0], return_counts=True)
        remap = np.full(uniq.max() + 1 if len(uniq) else 1, -1)
        remap[uniq[np.argsort(-counts, kind="stable")]] = np.arange(len(uniq))
        self.labels_ = np.where(labels >= 0, remap[np.maximum(labels, 0)], -1)
        self.n_clusters_ = len(uniq)

    def _hdbscan(self, X):
        from hdbscan.hdbscan_ import _tree_to_labels

        n = len(X)
        k = max(self.n_neighbors, self.min_samples)
        graph = knn_graph(X, k)
        tree = single_linkage_tree(graph, min(self.min_samples, n - 1))

        def fit(single: bool):
            labels, strength = _tree_to_labels(
                None, tree, self.min_cluster_size, self.cluster_selection_method, single, False,
                self.cluster_selection_epsilon)[:2]
            return labels.astype(np.int64), strength.astype(np.float32)

        labels, strength = self._cut_long_links(graph, *fit(False))
        if (labels < 0).all():
            # HDBSCAN never calls everything one cluster unless allowed: a library with a
            # single person (plus strangers) would stay unknown. Allow it, and keep only the
            # faces close to the cluster's medoid, so strangers are not swept in.
            labels, strength = fit(True)
            members = np.flatnonzero(labels >= 0)
            if len(members):
                centre = X[members].mean(axis=0)
                medoid = members[np.argmax(X[members] @ centre)]
                far = similarity_to_distance(X[members] @ X[medoid]) > self.single_cluster_radius
                labels[members[far]] = -1
                if (labels >= 0).sum() < self.min_cluster_size:
                    labels[:] = -1
        return labels, strength, graph

    def _cut_long_links(self, graph, labels, strength):
        """Split each cluster where its faces are joined only by links longer than
        the longest link (longest_link): the pieces (connected through shorter k-NN links) become
        clusters of their own, and pieces too small become noise. HDBSCAN would keep a
        lone stranger, or two people with two photos each, together."""
        g = graph.tocoo()
        keep = (labels[g.row] == labels[g.col]) & (labels[g.row] >= 0) & (g.data <= self.link_distance_)
        n = len(labels)
        short = sp.csr_matrix((np.ones(int(keep.sum())), (g.row[keep], g.col[keep])), shape=(n, n))
        _, piece = connected_components(short, directed=False)
        piece = np.where(labels >= 0, piece, -1)
        sizes = np.bincount(piece[piece >= 0], minlength=1)
        labels = np.where((piece >= 0) & (sizes[np.maximum(piece, 0)] >= self.min_cluster_size), piece, -1)
        return labels, np.where(labels >= 0, strength, 0).astype(np.float32)

    def _pair_up(self, graph, groups, labels, core):
        """Two eligible unclustered faces of different photos that are each other's nearest
        face (in the k-NN graph), closer than ``pair_distance``, become a cluster: with
        min_samples 2 HDBSCAN measures a face's density by its second neighbour, so a person
        seen in exactly two photos of a small library can be left out."""
        if self.min_cluster_size > 2:
            return labels
        g = graph.tocsr()
        n = g.shape[0]
        nearest_of = np.full(n, -1, np.int64)
        d = np.full(n, np.inf)
        for i in np.flatnonzero((labels[core] < 0) & (np.diff(g.indptr) > 0)):
            row = slice(g.indptr[i], g.indptr[i + 1])
            j = int(np.argmin(g.data[row]))
            nearest_of[i], d[i] = g.indices[row][j], g.data[row][j]
        next_label = labels.max() + 1
        for i in np.flatnonzero(nearest_of >= 0):
            j = nearest_of[i]
            if (j > i and nearest_of[j] == i and d[i] <= self.pair_distance
                    and groups[core[i]] != groups[core[j]] and labels[core[j]] < 0):
                labels[core[i]] = labels[core[j]] = next_label
                next_label += 1
        return labels

    def _attach(self, X, groups, labels):
        """Give unlabeled faces the label of their nearest labeled face when close enough."""
        loose = np.flatnonzero(labels < 0)
        members = np.flatnonzero(labels >= 0)
        if not len(loose) or not len(members):
            return labels
        dist, idx = nearest(X, X, 5, rows=members, query_rows=loose)
        taken = defaultdict(set)
        for i in members:
            taken[labels[i]].add(groups[i])
        order = np.argsort(dist[:, 0]) if dist.shape[1] else []
        for j in order:
            for d, m in zip(dist[j], idx[j]):
                if d > self.attach_distance_ or m < 0:
                    break
                lab = labels[members[m]]
                if groups[loose[j]] not in taken[lab]:
                    labels[loose[j]] = lab
                    taken[lab].add(groups[loose[j]])
                    break
        return labels

    def cluster_radii(self, graph, labels, core) -> dict[int, float]:
        """Each cluster's own attach radius, from how spread its faces are: the
        ``spread_quantile`` of its core faces' distances to their nearest face of the same
        cluster (in the k-NN graph), plus ``spread_margin``, at most ``spread_max_distance``.
        A person photographed over decades has a loose cluster and takes farther faces; a
        tight cluster (press portraits) keeps the common attach distance (attach_within)."""
        g = graph.tocoo()
        lab = labels[core]
        same = (lab[g.row] == lab[g.col]) & (lab[g.row] >= 0) & (g.data < _FAR)
        nn = np.full(len(core), np.inf)
        np.minimum.at(nn, g.row[same], g.data[same])
        radii = {}
        for c in np.unique(lab[np.isfinite(nn)]):
            d = nn[(lab == c) & np.isfinite(nn)]
            if len(d) >= 3:
                radii[int(c)] = min(self.spread_max_distance, float(np.quantile(d, self.spread_quantile)) + self.spread_margin)
        return radii

    def _attach_by_spread(self, X, groups, labels, graph, core):
        """A face still unlabeled joins a cluster when its ``spread_votes`` nearest faces all
        belong to that cluster and the nearest lies within the cluster's own radius
        (cluster_radii): recall for people whose photos span years, without widening the
        radius of every cluster."""
        radii = self.cluster_radii(graph, labels, core)
        loose = np.flatnonzero(labels < 0)
        if not radii or not len(loose):
            return labels
        dist, idx = nearest(X, X, self.spread_votes + 1, query_rows=loose)
        not_self = idx != loose[:, None]
        # each loose face's nearest other faces (the face itself is among its own nearest)
        order = np.argsort(~not_self, axis=1, kind="stable")[:, :self.spread_votes]
        dist, idx = np.take_along_axis(dist, order, 1), np.take_along_axis(idx, order, 1)
        neighbor_labels = np.where(idx >= 0, labels[np.maximum(idx, 0)], -1)
        in_photo = defaultdict(set)
        for i in np.flatnonzero(labels >= 0):
            in_photo[groups[i]].add(int(labels[i]))
        got = assign_by_spread(dist, neighbor_labels, groups[loose], [in_photo[groups[i]] for i in loose],
                               radii, self.spread_votes)
        labels = labels.copy()
        labels[loose[got >= 0]] = got[got >= 0]
        return labels

    def fit_predict(self, X, y=None, groups=None, eligible=None, library_faces=None):
        return self.fit(X, groups=groups, eligible=eligible, library_faces=library_faces).labels_


#: Embeddings larger than this are put in order where they lie (permute_rows), not copied.
IN_PLACE_BYTES = 256 << 20


def permute_rows(X: np.ndarray, order: np.ndarray) -> None:
    """``X[:] = X[order]`` without a second copy of X: row by row along the permutation's
    cycles, with one row's buffer."""
    done = np.zeros(len(order), bool)
    row = np.empty(X.shape[1:], X.dtype)
    for start in np.flatnonzero(order != np.arange(len(order))):
        if done[start]:
            continue
        row[...] = X[start]
        i = start
        while order[i] != start:
            X[i] = X[order[i]]
            done[i] = True
            i = order[i]
        X[i] = row
        done[i] = True


def canonical_order(X: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """An order of the rows that depends on their values only: by the first three
    coordinates (compared exactly, no arithmetic that could round differently elsewhere),
    then by group for identical rows (np.lexsort's last key is its first)."""
    return np.lexsort((groups, *X[:, 2::-1].T))


def spread_radii(X: np.ndarray, labels: np.ndarray, quantile: float, margin: float, cap: float) -> dict[int, float]:
    """Each label's own attach radius from its faces in X (FaceClusterer.cluster_radii's rule,
    measured with exact nearest neighbours): the ``quantile`` of its faces' distances to
    their nearest face of the same label, plus ``margin``, at most ``cap``; labels with
    fewer than three faces have none."""
    radii = {}
    for lab in np.unique(labels[labels >= 0]):
        members = np.flatnonzero(labels == lab)
        if len(members) < 3:
            continue
        d, _ = nearest(X, X, 2, rows=members, query_rows=members)
        radii[int(lab)] = min(cap, float(np.quantile(d[:, 1], quantile)) + margin)
    return radii


def assign_by_spread(distances: np.ndarray, neighbor_people: np.ndarray, groups: np.ndarray,
                     blocked: list[set[int]], radii: dict[int, float], votes: int) -> np.ndarray:
    """For faces ``assign`` left out: a face joins person p when its ``votes`` nearest
    assigned faces are all p's and the nearest lies within p's own radius (spread_radii);
    never a person in ``blocked[i]``, and one face per photo and person, nearest first.
    Returns the person id or -1 per face."""
    person = np.full(len(distances), -1, np.int64)
    found = []
    for i in range(len(distances)):
        top = neighbor_people[i][:votes]
        if len(top) < votes or (top < 0).any() or (top != top[0]).any():
            continue
        p = int(top[0])
        if p not in blocked[i] and distances[i][0] <= radii.get(p, -1.0):
            found.append((float(distances[i][0]), i, p))
    used: dict[int, set[int]] = defaultdict(set)
    for _, i, p in sorted(found):
        if p not in used[groups[i]]:
            used[groups[i]].add(p)
            person[i] = p
    return person


def assign(
    distances: np.ndarray,
    neighbor_people: np.ndarray,
    groups: np.ndarray,
    blocked: list[set[int]],
    threshold: float,
    margin: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Assign new faces to people from their nearest already-assigned faces.

    ``distances`` / ``neighbor_people``: for each new face, its nearest assigned faces and
    their person ids (-1 for none). A face goes to the person of its nearest neighbour
    when that is closer than ``threshold`` and the nearest other person is at least
    ``margin`` farther; never to a person in ``blocked[i]`` (rejected, or already present
    in the face's photo), and two new faces of one photo never to the same person.
    Returns (person id or -1, distance) per face.
    """
    n = len(distances)
    person = np.full(n, -1, np.int64)
    best_d = np.full(n, np.inf, np.float32)
    choices = []
    for i in range(n):
        per: dict[int, float] = {}
        for d, p in zip(distances[i], neighbor_people[i]):
            if p >= 0 and p not in blocked[i] and d < per.get(p, np.inf):
                per[int(p)] = float(d)
        if not per:
            continue
        ranked = sorted(per.items(), key=lambda kv: kv[1])
        p, d = ranked[0]
        second = ranked[1][1] if len(ranked) > 1 else np.inf
        best_d[i] = d
        if d < threshold and second - d >= margin:
            choices.append((d, i, p))
    used: dict[int, set[int]] = defaultdict(set)
    for d, i, p in sorted(choices):
        if p in used[groups[i]]:
            continue
        used[groups[i]].add(p)
        person[i] = p
    return person, best_d
