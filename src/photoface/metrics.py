"""Clustering quality against true identities: pairwise and BCubed precision / recall / F1.

Conventions: every face carries a true label; a predicted label of -1 (noise, unknown)
counts as a cluster of its own for that face, so leaving a face unknown costs recall,
never precision.
"""
from __future__ import annotations

import numpy as np


def _singletons(pred: np.ndarray) -> np.ndarray:
    pred = np.asarray(pred).copy()
    noise = pred < 0
    pred[noise] = pred.max(initial=-1) + 1 + np.arange(noise.sum())
    return pred


def _contingency(truth, pred):
    _, t = np.unique(np.asarray(truth), return_inverse=True)
    _, p = np.unique(_singletons(pred), return_inverse=True)
    pairs, counts = np.unique(np.stack([t, p], 1), axis=0, return_counts=True)
    return t, p, pairs, counts.astype(np.float64)


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def pairwise(truth, pred) -> dict:
    """Precision and recall over all pairs of faces put together (predicted) or belonging together (true)."""
    t, p, pairs, n_tp = _contingency(truth, pred)
    together = (n_tp * (n_tp - 1) / 2).sum()
    pred_pairs = sum(c * (c - 1) / 2 for c in np.bincount(p).astype(np.float64))
    true_pairs = sum(c * (c - 1) / 2 for c in np.bincount(t).astype(np.float64))
    precision = together / pred_pairs if pred_pairs else 1.0
    recall = together / true_pairs if true_pairs else 1.0
    return {"precision": precision, "recall": recall, "f1": _f1(precision, recall)}


def bcubed(truth, pred) -> dict:
    """BCubed: for each face, the share of its predicted cluster that is its person
    (precision) and the share of its person found in its cluster (recall), averaged."""
    t, p, pairs, n_tp = _contingency(truth, pred)
    size_t = np.bincount(t).astype(np.float64)
    size_p = np.bincount(p).astype(np.float64)
    # every face in cell (t, p) has the same precision n_tp/|p| and recall n_tp/|t|
    precision = (n_tp * n_tp / size_p[pairs[:, 1]]).sum() / len(t)
    recall = (n_tp * n_tp / size_t[pairs[:, 0]]).sum() / len(t)
    return {"precision": precision, "recall": recall, "f1": _f1(precision, recall)}


def clustering_report(truth, pred) -> dict:
    pred = np.asarray(pred)
    return {
        "faces": len(pred),
        "true_people": len(np.unique(truth)),
        "clusters": len(np.unique(pred[pred >= 0])),
        "noise_fraction": float((pred < 0).mean()) if len(pred) else 0.0,
        "pairwise": pairwise(truth, pred),
        "bcubed": bcubed(truth, pred),
    }
