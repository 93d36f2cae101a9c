"""The search index beside the database, and incremental clustering through it, on
synthetic embeddings with the structure of real ones (identity centres in 512-d, each
face its centre plus noise: same-person distances ~0.75, different people ~1.4)."""
import json

import numpy as np
import pytest

from photoface import neighbors, organize
from photoface.config import FACENET_MODEL, ClusterSettings
from photoface.neighbors import FaceIndex
from photoface.db import Store


def faces_of(centres: np.ndarray, labels: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = centres[labels] + rng.standard_normal((len(labels), centres.shape[1])).astype(np.float32) * 0.023
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)


def centres(n: int, seed: int = 0) -> np.ndarray:
    c = np.random.default_rng(seed).standard_normal((n, 512)).astype(np.float32)
    return c / np.linalg.norm(c, axis=1, keepdims=True)


def add_faces(store: Store, X: np.ndarray) -> list[int]:
    """One photo per face; returns the new face ids."""
    ids = []
    with store.db.atomic():
        for v in X:
            photo = store.db["photos"].insert({"path": f"/synthetic/{store.db['photos'].count}.jpg",
                                               "status": "indexed", "face_count": 1}).last_pk
            ids.append(store.db["faces"].insert({
                "photo_id": photo, "face_index": 0, "x1": 0, "y1": 0, "x2": 200, "y2": 200, "score": 0.999,
                "landmarks": "[]", "embedding": v.astype("<f4").tobytes(), "model": FACENET_MODEL,
                "sharpness": 80.0}).last_pk)
    return ids


def meta(index: FaceIndex) -> dict:
    with open(index.meta_path) as fh:
        return json.load(fh)


def own_hits(index: FaceIndex, X: np.ndarray, ids: list[int]) -> float:
    """Share of vectors whose nearest indexed face is themselves."""
    _, got = index.search(X, 1)
    return float(np.mean(got[:, 0] == np.array(ids)))


def test_exact_index_adds_new_faces_to_its_delta_and_rebuilds_after_deletions(tmp_path):
    db = str(tmp_path / "lib.db")
    store = Store(db)
    c = centres(50)
    X = faces_of(c, np.arange(200) % 50, seed=1)
    ids = add_faces(store, X)
    index = FaceIndex(db, FACENET_MODEL)
    index.sync(store, FACENET_MODEL)
    assert meta(index)["kind"] == "flat" and meta(index)["base_count"] == 200
    # exact: the same neighbours, in the same order, as brute force
    d, got = index.search(X[:5], 4)
    brute = np.argsort(-(X[:5] @ X.T), axis=1)[:, :4]
    assert (got == np.array(ids)[brute]).all()
    assert np.allclose(d, np.sqrt(np.clip(2 - 2 * np.take_along_axis(X[:5] @ X.T, brute, 1), 0, 4)), atol=1e-3)

    new = faces_of(c, np.arange(30) % 50, seed=2)
    new_ids = add_faces(store, new)
    index.sync(store, FACENET_MODEL)
    assert meta(index)["base_count"] == 200 and meta(index)["delta_count"] == 30
    # a fresh process sees base and delta from disk
    reopened = FaceIndex(db, FACENET_MODEL)
    reopened.sync(store, FACENET_MODEL)
    assert reopened.ntotal == 230 and own_hits(reopened, new, new_ids) == 1.0

    # deleting photos (their faces go with them) rebuilds: deleted faces are never returned
    gone = new_ids[:10]
    store.db.execute(f"DELETE FROM photos WHERE id IN (SELECT photo_id FROM faces WHERE id IN "
                     f"({','.join(map(str, gone))}))")
    store.db.conn.commit()
    reopened.sync(store, FACENET_MODEL)
    assert reopened.ntotal == 220 and meta(reopened)["delta_count"] == 0
    _, got = reopened.search(new[:10], 5)
    assert not set(got.ravel().tolist()) & set(gone)


def test_damaged_index_files_are_rebuilt(tmp_path):
    db = str(tmp_path / "lib.db")
    store = Store(db)
    X = faces_of(centres(10), np.arange(40) % 10, seed=3)
    ids = add_faces(store, X)
    index = FaceIndex(db, FACENET_MODEL)
    index.sync(store, FACENET_MODEL)
    with open(index.path, "r+b") as fh:
        fh.truncate(100)
    again = FaceIndex(db, FACENET_MODEL)
    again.sync(store, FACENET_MODEL)
    assert again.ntotal == 40 and own_hits(again, X, ids) == 1.0


def test_ivf_index_folds_its_delta_and_retrains_when_the_library_outgrows_it(tmp_path, monkeypatch):
    monkeypatch.setattr(neighbors, "EXACT_LIMIT", 300)
    monkeypatch.setattr(neighbors, "DELTA_LIMIT", 100)
    db = str(tmp_path / "lib.db")
    store = Store(db)
    c = centres(300)
    X = faces_of(c, np.arange(600) % 300, seed=4)
    ids = add_faces(store, X)
    index = FaceIndex(db, FACENET_MODEL)
    index.sync(store, FACENET_MODEL)
    m = meta(index)
    assert m["kind"] == "ivf" and m["base_count"] == 600
    assert own_hits(index, X, ids) >= 0.98  # approximate, but finds the face itself

    small = faces_of(c, np.arange(20), seed=5)  # fits the delta (up to max(100 // 5, 600 // 20) = 30)
    small_ids = add_faces(store, small)
    index.sync(store, FACENET_MODEL)
    assert meta(index)["delta_count"] == 20 and meta(index)["base_count"] == 600

    more = faces_of(c, np.arange(50), seed=6)  # the delta would pass its limit: folded into the base
    more_ids = add_faces(store, more)
    index.sync(store, FACENET_MODEL)
    m = meta(index)
    assert (m["kind"], m["base_count"], m["delta_count"], m["built_count"]) == ("ivf", 670, 0, 600)
    assert own_hits(index, np.vstack([small, more]), small_ids + more_ids) >= 0.98

    big = faces_of(centres(1000, seed=9), np.arange(2000) % 1000, seed=7)  # beyond 4x the trained size
    add_faces(store, big)
    index.sync(store, FACENET_MODEL)
    m = meta(index)
    assert (m["kind"], m["base_count"], m["built_count"]) == ("ivf", 2670, 2670)


@pytest.mark.parametrize("exact_limit", [50_000, 300])
def test_incremental_run_reads_only_the_new_faces_neighbourhood(tmp_path, monkeypatch, exact_limit):
    """New faces of known people join them, new faces of newcomers form new people, and a
    stranger seen once stays unknown: through the exact index and through IVF."""
    monkeypatch.setattr(neighbors, "EXACT_LIMIT", exact_limit)
    db = str(tmp_path / "lib.db")
    store = Store(db)
    c = centres(130)
    old_labels = np.arange(600) % 100  # 100 people with 6 faces each
    add_faces(store, faces_of(c, old_labels, seed=10))
    first = organize.run(store, FACENET_MODEL, full=False)  # a first run is full all the same
    assert first.mode == "full" and first.people == 100 and first.unknown == 0

    loaded = []
    real_face_table = store.face_table
    monkeypatch.setattr(store, "face_table", lambda model, ids=None: loaded.append(
        None if ids is None else len(list(ids))) or real_face_table(model, ids))
    person_of = {int(i): int(p) for i, p in store.db.execute("SELECT id, person_id FROM faces")}
    # 2 more faces for each of 40 known people, 3 faces each for 10 newcomers, 1 stranger
    new_labels = np.concatenate([np.arange(40).repeat(2), 100 + np.arange(10).repeat(3), [120]])
    new_ids = add_faces(store, faces_of(c, new_labels, seed=11))
    second = organize.run(store, FACENET_MODEL, full=False)
    assert second.mode == "incremental" and second.assigned == 80
    assert second.new_people == 10 and second.unknown == 1 and second.people == 110
    assert None not in loaded  # never the whole library
    got = {int(i): p for i, p in store.db.execute("SELECT id, person_id FROM faces")}
    old_person = {lab: person_of[i + 1] for i, lab in enumerate(old_labels)}  # face ids start at 1
    for fid, lab in zip(new_ids, new_labels):
        if lab < 100:
            assert got[fid] == old_person[lab]
    newcomers = [{got[f] for f, lab in zip(new_ids, new_labels) if lab == who} for who in range(100, 110)]
    assert all(len(s) == 1 and None not in s for s in newcomers)
    assert len(set().union(*newcomers)) == 10
    assert got[new_ids[-1]] is None
    # nothing new: a run changes nothing
    third = organize.run(store, FACENET_MODEL, full=False)
    assert (third.assigned, third.new_people, third.considered) == (0, 0, 0)


def test_an_ivf_over_fused_vectors_is_built_on_facenets_columns_and_ranks_on_all():
    """Above the exact limit the k-NN index holds only the vectors' first IVF_COLUMNS
    numbers (FaceNet's part of the fused vectors); distances and order come from all."""
    labels = np.arange(600).repeat(5)  # each face's four nearest are its own person's others
    X = np.hstack([faces_of(centres(600, seed=21), labels, seed=22),
                   0.4 * faces_of(centres(600, seed=23)[:, :128], labels, seed=24)])
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    assert neighbors._index_over(X, None, exact_limit=1000).d == neighbors.IVF_COLUMNS == 512
    dist, idx = neighbors.knn(X, 4, exact_limit=1000)
    exact_dist, _ = neighbors.knn(X, 4, exact_limit=10_000)
    full = np.sqrt(np.maximum(0, 2 - 2 * np.einsum("ij,ikj->ik", X, X[idx])))
    assert np.allclose(dist, full, atol=1e-3) and (np.diff(dist, axis=1) >= 0).all()
    found = np.isclose(dist, exact_dist, atol=1e-3).all(axis=1)
    assert found.mean() > 0.95  # the IVF visits 8 of its cells: a few rows miss a neighbour
    assert (labels[idx[found]] == labels[found, None]).all()


def test_a_table_of_some_faces_fuses_only_when_each_has_its_descriptor_and_counts_skip_the_ignored(tmp_path):
    """face_table(ids) reads the given faces in one pass: fused (640 numbers) when every one
    of them has dlib's descriptor, FaceNet's alone when one lacks it, empty when none is
    present; face_counts leaves out ignored faces and faces of missing photos."""
    from photoface.config import DLIB_MODEL

    store = Store(str(tmp_path / "lib.db"))
    X = faces_of(centres(3, seed=31), np.arange(3).repeat(2), seed=32)
    ids = add_faces(store, X)
    D = np.random.default_rng(33).normal(size=(len(ids), 128)).astype(np.float32)
    store.write_descriptors(zip(ids[:5], D[:5]), DLIB_MODEL)
    some = store.face_table(FACENET_MODEL, ids[1:5])
    assert some["id"].tolist() == ids[1:5] and some["C"].shape == (4, 640) and some["X"].shape == (4, 512)
    assert np.allclose(some["X"], X[1:5], atol=1e-6)
    everyone = store.face_table(FACENET_MODEL, ids)
    assert everyone["C"] is everyone["X"] and np.allclose(everyone["X"], X, atol=1e-6)
    assert store.face_table(FACENET_MODEL, [10_000])["C"].shape == (0, 512)
    assert store.face_counts(FACENET_MODEL) == (6, 6) and store.face_count(FACENET_MODEL) == 6
    store.db.execute("UPDATE faces SET assigned_by = 'user' WHERE id = ?", [ids[0]])  # ignored
    store.db.execute("UPDATE faces SET person_id = ?, assigned_by = 'cluster' WHERE id = ?",
                     [store.create_person(), ids[1]])
    store.db.execute("UPDATE photos SET status = 'missing' WHERE id = (SELECT photo_id FROM faces WHERE id = ?)", [ids[2]])
    assert store.face_counts(FACENET_MODEL) == (5, 3)
    assert store.face_count(FACENET_MODEL) == 5


def test_vectorised_single_linkage_gives_the_hdbscan_package_result():
    import hdbscan
    from hdbscan.hdbscan_ import _tree_to_labels

    from photoface.cluster import knn_graph, single_linkage_tree

    rng = np.random.default_rng(12)
    X = faces_of(centres(150, seed=12), rng.zipf(1.8, 1500).clip(1, 149), seed=13)
    graph = knn_graph(X, 15)
    for min_samples, size in ((2, 2), (3, 4)):
        expected = hdbscan.HDBSCAN(metric="precomputed", min_cluster_size=size, min_samples=min_samples).fit(graph)
        got = _tree_to_labels(None, single_linkage_tree(graph, min_samples), size, "eom", False, False, 0.0)
        assert (got[0] == expected.labels_).all() and np.allclose(got[1], expected.probabilities_)


def test_a_far_outlier_does_not_join_the_cluster_it_touches_first():
    from photoface.cluster import FaceClusterer

    c = centres(11, seed=14)
    labels = np.concatenate([np.arange(10).repeat(3), [10]])  # ten families of three, one stranger
    X = faces_of(c, labels, seed=37)  # a draw where plain HDBSCAN makes the stranger a fourth member
    assert FaceClusterer(n_neighbors=15, max_link_distance=4.0).fit_predict(X)[-1] >= 0
    got = FaceClusterer(n_neighbors=15).fit_predict(X)
    assert got[-1] == -1
    assert len(set(got[:-1])) == 10 and all(len(set(got[labels == i])) == 1 for i in range(10))


def test_the_same_faces_give_the_same_people_in_any_order(monkeypatch):
    """Clustering depends on the faces, not on the order they come in (a library indexed
    again renumbers its faces): 40 people of 1-11 faces, several faces to a photo, in ten
    orders. Before the faces were put in an order of their own, eight of these ten orders
    gave other people (ties between equal distances broken by position)."""
    from photoface.cluster import FaceClusterer
    from photoface.config import ClusterSettings

    rng = np.random.default_rng(2)
    sizes = rng.integers(1, 12, size=40)
    c = rng.normal(size=(40, 128))
    X = np.repeat(c / np.linalg.norm(c, axis=1, keepdims=True), sizes, axis=0) + rng.normal(scale=0.07, size=(sizes.sum(), 128))
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
    photos = rng.integers(0, len(X) // 2, size=len(X))
    clusterer = FaceClusterer.from_settings(ClusterSettings())

    def people(order, faces=None):
        """The people found in faces X[order] (``faces``: that very array), by index of X."""
        labels = np.empty(len(X), np.int64)
        labels[order] = clusterer.fit_predict(X[order] if faces is None else faces, groups=photos[order])
        return {frozenset(np.flatnonzero(labels == p)) for p in set(labels) if p >= 0}

    first = people(np.arange(len(X)))
    assert len(first) >= 30
    for seed in range(10):
        assert people(np.random.default_rng(seed).permutation(len(X))) == first
    # large embeddings are put in order where they lie and put back afterwards: the same
    # people, and the caller's array unchanged
    from photoface import cluster

    monkeypatch.setattr(cluster, "IN_PLACE_BYTES", 0)
    order = np.random.default_rng(99).permutation(len(X))
    shuffled = X[order]
    assert people(order, shuffled) == first
    assert np.array_equal(shuffled, X[order])


def test_face_clusterer_is_the_shipped_one_and_a_scikit_learn_estimator():
    from inspect import signature

    from sklearn.utils.estimator_checks import check_estimator

    from photoface.cluster import FaceClusterer
    from photoface.config import ClusterSettings

    shipped = ClusterSettings()
    params = FaceClusterer().get_params()
    assert params == {name: getattr(shipped, name) for name in signature(FaceClusterer).parameters}
    assert FaceClusterer.from_settings(shipped).get_params() == params
    results = check_estimator(FaceClusterer(), on_fail=None)
    failed = [(r["check_name"], str(r["exception"])) for r in results if r["status"] == "failed"]
    assert not failed, failed
    # the one check that cannot run here needs SCIPY_ARRAY_API set before scipy is imported
    assert {r["check_name"] for r in results if r["status"] == "skipped"} <= {"check_array_api_input"}
    assert len(results) >= 40
    with pytest.raises(ValueError):
        FaceClusterer().fit(np.full((4, 8), np.nan))


def test_a_small_library_is_reclustered_so_new_faces_can_join_clusters_kept_apart(tmp_path):
    """Someone's first photos form two clusters (two looks, too far apart); new photos lie
    between them. An incremental run keeps the two apart (it never merges people); the
    default run of a library this small re-clusters everything and makes them one."""
    store = Store(str(tmp_path / "lib.db"))
    c = centres(20)
    a, b = c[0], c[1]  # about 1.41 apart

    def between(ts, seed):
        P = np.stack([(1 - t) * a + t * b for t in ts])
        P /= np.linalg.norm(P, axis=1, keepdims=True)
        return faces_of(P, np.arange(len(ts)), seed)

    others = faces_of(c, np.arange(2, 20).repeat(4), seed=1)
    first = add_faces(store, np.concatenate([between([0.0] * 4 + [1.0] * 4, seed=2), others]))
    assert organize.run(store, FACENET_MODEL).mode == "full"
    person = dict(store.db.execute("SELECT id, person_id FROM faces").fetchall())
    look_a, look_b = {person[i] for i in first[:4]}, {person[i] for i in first[4:8]}
    assert len(look_a) == len(look_b) == 1 and look_a != look_b and None not in look_a | look_b

    add_faces(store, between(np.repeat(np.linspace(0.15, 0.85, 6), 2), seed=3))
    assert organize.run(store, FACENET_MODEL, full=False).mode == "incremental"
    person = dict(store.db.execute("SELECT id, person_id FROM faces").fetchall())
    assert {person[i] for i in first[:4]} != {person[i] for i in first[4:8]}

    assert organize.run(store, FACENET_MODEL).mode == "full"
    person = dict(store.db.execute("SELECT id, person_id FROM faces").fetchall())
    assert len({person[i] for i in first[:8]}) == 1
    # with the bound at 0 the same library is clustered incrementally
    settings = ClusterSettings(full_run_faces=0)
    assert organize.choose_mode(store, FACENET_MODEL, settings) == "incremental"
    assert organize.choose_mode(store, FACENET_MODEL, ClusterSettings()) == "full"
