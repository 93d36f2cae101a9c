"""What each kind of model offers the pipeline: one protocol per kind, one verb per protocol.

Every model is loaded once per process from a ModelSpec (models.get_detector and friends) and
called on a batch of images; none of them touches the disk or the database after loading.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from ..types import Detection


@runtime_checkable
class Detector(Protocol):
    def detect(self, image_rgb: np.ndarray, min_face_px: int = 20, min_score: float = 0.0) -> list[Detection]:
        """Faces in one H x W x 3 uint8 RGB image, in its pixels."""


@runtime_checkable
class Embedder(Protocol):
    def embed(self, faces_rgb_uint8: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """N x 160 x 160 x 3 uint8 RGB face crops -> N x 512 float32 unit vectors."""


@runtime_checkable
class AgeGenderEstimator(Protocol):
    def predict(self, crops_rgb_uint8: np.ndarray, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """N RGB face crops -> (P(female), age, age standard deviation), each of length N."""


@runtime_checkable
class ExpressionEstimator(Protocol):
    def predict(self, crops_grey_uint8: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """N x 64 x 64 grey face crops -> N x 7 probabilities in types.EMOTIONS order."""
