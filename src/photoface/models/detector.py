"""MTCNN face detector (PyPI mtcnn 1.0.0): RGB image -> face boxes, scores and 5 landmarks."""
from __future__ import annotations

import numpy as np

from ..types import Detection
from .runtime import tensorflow, tf_device_name
from .weights import MTCNN_WEIGHTS, locate

# mtcnn 1.0.0 builds its scale pyramid from min_face_size and drops below P-Net's 12 px
# input for any value above 20, then swallows the error and returns no faces. It is
# therefore always run at 20 px, and larger minimum sizes are applied afterwards.
_MTCNN_MIN_FACE_PX = 20


class MTCNNDetector:
    """One image at a time: mtcnn pads a list of images to the largest one, which moves boxes."""

    def __init__(self, device: str = "auto", threads: int = 0):
        tf = tensorflow(device, threads)
        for weight in MTCNN_WEIGHTS:
            locate(weight)
        from mtcnn import MTCNN

        self._tf = tf
        self._mtcnn = MTCNN(device=tf_device_name(tf, device).lstrip("/"))
        for stage in self._mtcnn.stages:
            stage._model = _compiled(tf, stage._model)

    def detect(self, image_rgb: np.ndarray, min_face_px: int = 20, min_score: float = 0.0) -> list[Detection]:
        """Faces in an (H, W, 3) uint8 RGB image, in that image's pixel coordinates."""
        if image_rgb.ndim != 3 or image_rgb.shape[2] != 3:
            raise ValueError(f"expected an (H, W, 3) RGB image, got {image_rgb.shape}")
        if min(image_rgb.shape[:2]) < 12:
            return []
        rows = self._mtcnn.detect_faces(
            image_rgb, box_format="xyxy", output_type="numpy", min_face_size=_MTCNN_MIN_FACE_PX,
        )
        detections = []
        for row in np.asarray(rows, dtype=np.float64).reshape(-1, 16):
            x1, y1, x2, y2, score = row[1:6]
            if score < min_score or min(x2 - x1, y2 - y1) < min_face_px:
                continue
            # landmark columns: x of the five points, then y of the five points
            marks = tuple((float(row[6 + i]), float(row[11 + i])) for i in range(5))
            detections.append(Detection(float(x1), float(y1), float(x2), float(y2), float(score), marks))
        detections.sort(key=lambda d: (d.y1, d.x1))
        return detections


def _compiled(tf, model):
    """The stage's Keras network run as one TensorFlow graph instead of layer by layer in
    eager mode: the same outputs (a test checks), about 2.8x faster per photo, because in
    eager mode three quarters of MTCNN's time was Keras' Python overhead per layer call.
    One trace serves every input size (P-Net is fully convolutional). An empty batch (no
    candidate left for R-Net or O-Net) goes to the eager network, which handles it."""
    graph = tf.function(lambda x: model(x, training=False), reduce_retracing=True,
                        input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])

    def run(x, *args, **kwargs):
        if args or kwargs or x.shape[0] == 0:
            return model(x, *args, **kwargs)
        return graph(tf.cast(x, tf.float32))

    return run
