"""Model registry: each model loads once per process (worker) from a small ModelSpec."""
from __future__ import annotations

import threading

from ..config import AGE_GENDER_MODEL, EMOTION_MODEL, FACENET_MODEL, MTCNN_MODEL
from ..errors import ModelError
from ..types import ModelSpec
from .base import AgeGenderEstimator, Detector, Embedder, ExpressionEstimator

_cache: dict[ModelSpec, object] = {}
_lock = threading.Lock()


def _load(spec: ModelSpec):
    match spec.name:
        case name if name == FACENET_MODEL:
            from .facenet import FaceNetEmbedder

            return FaceNetEmbedder(spec.path, spec.device, spec.threads, spec.precision)
        case name if name == MTCNN_MODEL:
            from .detector import MTCNNDetector

            return MTCNNDetector(spec.device, spec.threads)
        case name if name == AGE_GENDER_MODEL:
            from .agegender import AgeGenderEstimator

            return AgeGenderEstimator(spec.path, spec.device, spec.threads)
        case name if name == EMOTION_MODEL:
            from .emotion import EmotionClassifier

            return EmotionClassifier(spec.path, spec.device, spec.threads)
        case _:
            known = ", ".join((FACENET_MODEL, MTCNN_MODEL, AGE_GENDER_MODEL, EMOTION_MODEL))
            raise ModelError(f"unknown model {spec.name!r}: known models are {known}")


def get_model(spec: ModelSpec):
    """The loaded model for ``spec``, loading it on first use in this process (thread-safe)."""
    with _lock:
        model = _cache.get(spec)
        if model is None:
            model = _cache[spec] = _load(spec)
        return model


def _typed(spec: ModelSpec, kind: type):
    model = get_model(spec)
    if not isinstance(model, kind):
        raise ModelError(f"model {spec.name!r} is not a {kind.__name__}")
    return model


def get_detector(spec: ModelSpec) -> Detector:
    return _typed(spec, Detector)


def get_embedder(spec: ModelSpec) -> Embedder:
    return _typed(spec, Embedder)


def get_age_gender(spec: ModelSpec) -> AgeGenderEstimator:
    return _typed(spec, AgeGenderEstimator)


def get_expression(spec: ModelSpec) -> ExpressionEstimator:
    return _typed(spec, ExpressionEstimator)
