"""Facial expression: mini-Xception (Arriaga et al. 2017) trained on FER2013, as shipped in
fer 25.10.3. 64x64 grey face crops -> probabilities of 7 expressions."""
from __future__ import annotations

import numpy as np

from ..types import EMOTIONS
from .keras_h5 import KerasH5Network
from .runtime import tensorflow, tf_device_name
from .weights import EMOTION_H5, locate

INPUT_SIZE = 64
#: Crop side as a multiple of the MTCNN box's longer side: FER2013 faces are tightly cropped.
CROP_SCALE = 1.2


class EmotionClassifier:
    def __init__(self, path: str | None = None, device: str = "auto", threads: int = 0):
        tf = tensorflow(device, threads)
        self._net = KerasH5Network(tf, locate(EMOTION_H5, path), tf_device_name(tf, device))

    def predict(self, crops_grey_uint8: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """(N, 64, 64) grey crops -> (N, 7) probabilities in EMOTIONS order.

        Pixels are scaled to [-1, 1], the network's training preprocessing. Each crop and
        its mirror image are classified and the two averaged: on its own the network can
        call a neutral face "neutral" and its mirror image "sad" (seen on the test photos);
        an expression does not change with the side it is seen from."""
        crops = np.asarray(crops_grey_uint8)
        if crops.ndim != 3 or crops.shape[1:] != (INPUT_SIZE, INPUT_SIZE):
            raise ValueError(f"expected (N, {INPUT_SIZE}, {INPUT_SIZE}) grey crops, got {crops.shape}")
        out = np.empty((len(crops), len(EMOTIONS)), np.float32)
        for start in range(0, len(crops), batch_size):
            batch = crops[start:start + batch_size, :, :, None].astype(np.float32) / 127.5 - 1.0
            both = self._net(np.concatenate([batch, batch[:, :, ::-1]]))[0]
            out[start:start + len(batch)] = (both[:len(batch)] + both[len(batch):]) / 2
        return out
