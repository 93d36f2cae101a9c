"""Model registry: each model loads once per process (worker) from a small ModelSpec."""
from __future__ import annotations

import threading

from ..config import AGE_GENDER_MODEL, EMOTION_MODEL, FACENET_MODEL, MTCNN_MODEL
from ..errors import ModelError
from ..types import ModelSpec
from .base import AgeGenderEstimator, Detector, Embedder, ExpressionEstimator

_cache: dict[ModelSpec, object] = {}  # by the spec as it runs here: device "auto" resolved
_aliases: dict[ModelSpec, ModelSpec] = {}  # a spec as asked -> its key in _cache
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


def _as_run_here(spec: ModelSpec) -> ModelSpec:
    """``spec`` with device "auto" resolved to where it runs in this process, so that "auto"
    and "cpu" on a machine without a GPU share one loaded model."""
    if spec.device != "auto":
        return spec
    from dataclasses import replace

    from .runtime import gpu_visible

    return replace(spec, device="gpu" if gpu_visible(spec.device, spec.threads) else "cpu")


def get_model(spec: ModelSpec):
    """The loaded model for ``spec``, loading it on first use in this process (thread-safe)."""
    with _lock:
        key = _aliases.get(spec)
        if key is None:
            key = _aliases[spec] = _as_run_here(spec)
        model = _cache.get(key)
        if model is None:
            model = _cache[key] = _load(spec)
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
