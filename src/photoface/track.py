"""Link face detections of successive video samples into tracks: pure arrays, no model, no video."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .types import Detection, box_iou
from .vectors import distance, unit_mean


def iou(a: Detection, b: Detection) -> float:
    return box_iou((a.x1, a.y1, a.x2, a.y2), (b.x1, b.y1, b.x2, b.y2))


@dataclass
class Observation:
    t: float
    detection: Detection
    embedding: np.ndarray
    extra: object = None  # whatever the caller keeps with it (crops)

    @property
    def quality(self) -> float:
        return self.detection.score * min(self.detection.width, self.detection.height)


@dataclass
class FaceTrack:
    observations: list[Observation] = field(default_factory=list)

    @property
    def t_start(self) -> float:
        return self.observations[0].t

    @property
    def t_end(self) -> float:
        return self.observations[-1].t

    @property
    def last(self) -> Observation:
        return self.observations[-1]

    def embedding(self) -> np.ndarray:
        """The unit-length mean of the track's embeddings: steadier than any one frame."""
        return unit_mean([o.embedding for o in self.observations])

    def representatives(self, k: int = 3) -> list[Observation]:
        """Up to ``k`` observations spread over the track: the best-quality one of each
        of k equal stretches of time, best first."""
        if len(self.observations) <= k:
            picks = list(self.observations)
        else:
            edges = np.linspace(self.t_start, self.t_end, k + 1)
            picks = []
            for i in range(k):
                part = [o for o in self.observations
                        if edges[i] <= o.t and (o.t < edges[i + 1] or i == k - 1 and o.t <= edges[i + 1])]
                if part:
                    picks.append(max(part, key=lambda o: o.quality))
        return sorted(picks, key=lambda o: -o.quality)


class Tracker:
    """Greedy-optimal (Hungarian) linking of each sample's faces to the open tracks.

    A face continues a track when it is within ``link_distance`` of the track's last face
    in embedding space, or within ``overlap_distance`` if the boxes also overlap (IoU >=
    ``min_iou``): the same person seen again moments later. A track closes after ``max_gap``
    seconds without a face, and every track closes at a scene cut.
    """

    def __init__(self, max_gap: float, link_distance: float = 0.85, overlap_distance: float = 1.05,
                 min_iou: float = 0.3):
        self.max_gap = max_gap
        self.link_distance = link_distance
        self.overlap_distance = overlap_distance
        self.min_iou = min_iou
        self.open: list[FaceTrack] = []
        self.closed: list[FaceTrack] = []

    def update(self, t: float, observations: list[Observation], cut: bool = False) -> None:
        from scipy.optimize import linear_sum_assignment

        keep = []
        for track in self.open:
            (self.closed if cut or t - track.last.t > self.max_gap else keep).append(track)
        self.open = keep
        if not observations:
            return
        matched = set()
        if self.open:
            cost = np.full((len(self.open), len(observations)), np.inf)
            for i, track in enumerate(self.open):
                for j, obs in enumerate(observations):
                    d = distance(track.last.embedding, obs.embedding)
                    overlap = iou(track.last.detection, obs.detection)
                    if d < self.link_distance or (overlap >= self.min_iou and d < self.overlap_distance):
                        cost[i, j] = d - 0.5 * overlap
            finite = np.isfinite(cost)
            if finite.any():
                rows, cols = linear_sum_assignment(np.where(finite, cost, 1e6))
                for i, j in zip(rows, cols):
                    if finite[i, j]:
                        self.open[i].observations.append(observations[j])
                        matched.add(j)
        for j, obs in enumerate(observations):
            if j not in matched:
                self.open.append(FaceTrack([obs]))

    def finish(self) -> list[FaceTrack]:
        """Every track, in order of appearance."""
        tracks = self.closed + self.open
        self.closed, self.open = [], []
        return sorted(tracks, key=lambda tr: (tr.t_start, tr.observations[0].detection.x1))
