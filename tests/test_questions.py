"""Where a person's faces are joined least (decided.weakest_cut), which the review page and
`photoface faces --maybe-someone-else` put to the user; on small fake vectors. The real
photos' case is in test_family.py."""
from __future__ import annotations

import numpy as np
import pytest

from photoface import decided
from photoface.decided import weakest_cut


def unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def blob(rng, centre: np.ndarray, n: int, spread: float) -> np.ndarray:
    return unit(centre + rng.normal(0, spread, (n, len(centre))))


@pytest.fixture
def two_people():
    """30 faces of one person, 20 of another, and 3 faces between them (a bridge)."""
    rng = np.random.default_rng(0)
    a, b = unit(rng.normal(size=(2, 32)))
    bridge = unit(np.outer(np.linspace(0.35, 0.65, 3), b) + np.outer(np.linspace(0.65, 0.35, 3), a))
    return np.vstack([blob(rng, a, 30, 0.08), blob(rng, b, 20, 0.08), bridge])


def test_two_people_joined_by_a_bridge_are_cut_between_them(two_people):
    conductance, side = weakest_cut(two_people, 15)
    smaller = side if side.sum() <= (~side).sum() else ~side
    assert conductance < 0.1
    assert smaller[30:50].all() and not smaller[:30].any()  # the second person, the bridge where it falls


def test_one_persons_faces_have_no_weak_cut():
    rng = np.random.default_rng(1)
    conductance, _ = weakest_cut(blob(rng, unit(rng.normal(size=(1, 32)))[0], 50, 0.08), 15)
    assert conductance > 0.3


def test_large_people_are_cut_the_same_with_the_iterative_solver(two_people, monkeypatch):
    dense = weakest_cut(two_people, 15)
    monkeypatch.setattr(decided, "_DENSE_FACES", 10)
    sparse = weakest_cut(two_people, 15)
    assert sparse[0] == pytest.approx(dense[0])
    assert (sparse[1] == dense[1]).all() or (sparse[1] == ~dense[1]).all()


def test_a_solver_that_does_not_converge_falls_back_to_the_dense_one(two_people, monkeypatch):
    import scipy.sparse.linalg as linalg

    def no_convergence(*args, **kwargs):
        raise linalg.ArpackNoConvergence("no convergence", np.zeros(0), np.zeros((0, 0)))

    dense = weakest_cut(two_people, 15)
    monkeypatch.setattr(decided, "_DENSE_FACES", 10)
    monkeypatch.setattr(linalg, "eigsh", no_convergence)
    assert weakest_cut(two_people, 15)[0] == pytest.approx(dense[0])


def test_too_few_faces_have_no_cut():
    assert weakest_cut(np.eye(3, 8, dtype=np.float32), 15) is None
