"""Other photo organizers' face clustering, re-implemented from their published algorithms
and default parameters, to compare with photoface on the same embeddings (`photoface eval
cluster`). They run on FaceNet's raw outputs (photoface's embeddings with the centre put
back, `models.facenet.uncentred`), the vectors PhotoPrism itself clusters; distances are
Euclidean between those unit vectors. Where a tool works in another distance or with
another model, its parameter is converted as stated.
"""
from __future__ import annotations

import numpy as np

from .neighbors import knn

#: FaceNet's and dlib's same-person distances (raw FaceNet's 1:1 threshold on LFW; dlib's
#: documented 0.6): LibrePhotos' epsilon, set for dlib embeddings, is scaled by their ratio.
FACENET_SAME, DLIB_SAME = 1.10, 0.60


def immich(X: np.ndarray, max_distance_cosine: float = 0.5, min_faces: int = 3) -> np.ndarray:
    """Immich (facial recognition job): faces in order; a face with at least ``min_faces``
    faces (itself included) within maxDistance is a core face: it joins the person of its
    nearest such face that has one, else of the nearest face with a person within
    maxDistance, else starts a new person. Other faces are deferred to a second pass, where
    they only join an existing person. maxDistance is a cosine distance: 0.5 is Euclidean
    sqrt(2 * 0.5) = 1.0 between unit vectors."""
    radius = float(np.sqrt(2 * max_distance_cosine))
    n = len(X)
    dist, idx = knn(X, min(n - 1, 50))
    person = np.full(n, -1, np.int64)
    next_id = 0

    def within(i):
        ok = (dist[i] <= radius) & (idx[i] >= 0)
        return idx[i][ok]

    deferred = []
    for second_pass in (False, True):
        for i in (deferred if second_pass else range(n)):
            near = within(i)
            core = len(near) + 1 >= min_faces
            if not core and not second_pass:
                deferred.append(i)
                continue
            with_person = [j for j in near if person[j] >= 0]
            if with_person:
                person[i] = person[with_person[0]]
            elif core:
                person[i] = next_id
                next_id += 1
    return person


def photoprism(X: np.ndarray, cluster_dist: float = 0.64, cluster_core: int = 4) -> np.ndarray:
    """PhotoPrism: DBSCAN with its defaults (cluster distance 0.64, core 4). PhotoPrism embeds
    with FaceNet as photoface does, so the distance needs no conversion."""
    from sklearn.cluster import DBSCAN

    return DBSCAN(eps=cluster_dist, min_samples=cluster_core).fit_predict(X).astype(np.int64)


def librephotos(X: np.ndarray, min_cluster_size: int = 2, epsilon_dlib: float = 0.05) -> np.ndarray:
    """LibrePhotos: HDBSCAN (min_cluster_size 2, cluster_selection_epsilon 0.05) on dlib
    embeddings; the epsilon is scaled to FaceNet by the ratio of same-person distances."""
    import hdbscan

    eps = epsilon_dlib * FACENET_SAME / DLIB_SAME
    model = hdbscan.HDBSCAN(min_cluster_size=min_cluster_size, cluster_selection_epsilon=eps)
    return model.fit_predict(X.astype(np.float64)).astype(np.int64)


ANCHORS = {
    "Immich (cosine 0.5 = 1.0, min 3 faces)": immich,
    "PhotoPrism (DBSCAN 0.64, core 4)": photoprism,
    "LibrePhotos (HDBSCAN 2, eps 0.05 dlib = 0.092)": librephotos,
}
