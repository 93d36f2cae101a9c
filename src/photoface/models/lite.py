"""The models in the LiteRT runtime (PyPI ai-edge-litert, XNNPACK kernels) on the CPU.

Each network is converted once per machine by TensorFlow's own converter from the weights
the install already holds (nothing is downloaded) and kept in the model cache
(``$PHOTOFACE_MODEL_CACHE``, else ``$XDG_CACHE_HOME/photoface/models``), named by its
weights' sha256, CONVERSION_VERSION and the TensorFlow version, so new weights or a new
converter convert afresh. After that a process runs them without importing TensorFlow.

- FaceNet in int8 (dynamic-range quantisation: int8 weights, each face's activations
  quantised on the fly, so a face's embedding does not depend on the rest of its batch);
- MTCNN's three networks in float32 (models/detector.py).

Measured (docs/performance.md, "LiteRT on the CPU"): FaceNet int8 3.9x float32
TensorFlow's faces/s on a 2-core Xeon, LFW View 2 within 0.0004 and clustering within
0.002 BCubed F1 of float32; the files are memory-mapped, so loading takes milliseconds.
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np

from ..errors import ModelError
from .runtime import quiet_native_stderr, tensorflow, usable_cores

#: Bump when the conversion recipe changes, so cached files made the old way are not used.
CONVERSION_VERSION = 1
_announced = False  # the first conversion of a process told the user on a terminal


def available() -> bool:
    """Whether the LiteRT runtime is installed (found without importing it)."""
    try:
        return importlib.util.find_spec("ai_edge_litert") is not None
    except (ImportError, ValueError):
        return False


def model_cache_dir() -> Path:
    base = os.environ.get("PHOTOFACE_MODEL_CACHE")
    if base:
        return Path(base)
    return Path(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache"))) / "photoface" / "models"


def _tf_version() -> str:
    try:
        return importlib.metadata.version("tensorflow")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def cached_name(model: str, weights_sha256: str, suffix: str = ".tflite") -> str:
    return f"{model}-{weights_sha256[:16]}-v{CONVERSION_VERSION}-tf{_tf_version()}{suffix}"


def convert_int8(graph_def, threads: int = 0) -> bytes:
    """The FaceNet graph (batch dimension already free) as an int8 dynamic-range LiteRT model."""
    tf = tensorflow("cpu", threads)
    graph = tf.Graph()
    with graph.as_default(), tf.device("/CPU:0"):
        tf.compat.v1.import_graph_def(graph_def, name="")
    try:
        with quiet_native_stderr(), tf.compat.v1.Session(graph=graph) as session:
            converter = tf.compat.v1.lite.TFLiteConverter.from_session(
                session, [graph.get_tensor_by_name("input:0")], [graph.get_tensor_by_name("embeddings:0")])
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            return converter.convert()
    except Exception as exc:  # the converter raises its own ConverterError
        raise ModelError(f"cannot convert FaceNet to LiteRT int8: {exc}; use --precision fp32") from exc


def convert_function(tf, function) -> bytes:
    """A tf.function (one input signature, float32 arithmetic) as a LiteRT model."""
    try:
        with quiet_native_stderr():
            return tf.lite.TFLiteConverter.from_concrete_functions([function.get_concrete_function()]).convert()
    except Exception as exc:  # the converter raises its own ConverterError
        raise ModelError(f"cannot convert a model to LiteRT: {exc}") from exc


def cached_model(model: str, weights_sha256: str, convert, suffix: str = ".tflite") -> tuple[Path | None, bytes | None]:
    """A converted model: (path of the cached file, None), or (None, its bytes) where the
    cache cannot be written. ``convert()`` makes it when no cached file exists. The file is
    written under a temporary name and renamed, so processes converting at the same time
    never see half a file."""
    folder = model_cache_dir()
    path = folder / cached_name(model, weights_sha256, suffix)
    if path.is_file() and path.stat().st_size > 0:
        return path, None
    global _announced
    if sys.stderr.isatty() and not _announced:  # a person waits: say why, once
        _announced = True
        print(f"photoface: preparing the models for this machine's CPU (once, under a minute; kept in {folder})",
              file=sys.stderr, flush=True)
    content = convert()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=path.name, suffix=".part")
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError:
        return None, content  # a read-only or full cache: this process uses it from memory
    return path, None


def load_cached(model: str, weights_sha256: str, convert, threads: int = 0, shapes: int = 0,
                max_elements: int = 0):
    """A cached converted model, converted on first use; a damaged cached file is converted
    again. ``shapes`` > 0: a ShapePool keeping that many input shapes (of at most
    ``max_elements`` values) ready."""
    def load(path, content):
        if shapes:
            return ShapePool(path, content, threads, shapes, max_elements)
        return LiteRunner(path, content, threads)

    return load_converted(model, weights_sha256, convert, load)


def load_converted(model: str, weights_sha256: str, convert, open_model, suffix: str = ".tflite",
                   errors: tuple = (ValueError, RuntimeError)):
    """``open_model(path, content)`` of a converted model (cached_model), converted on first
    use; a cached file it cannot open (one of ``errors``) is converted again."""
    path, content = cached_model(model, weights_sha256, convert, suffix)
    try:
        return open_model(path, content)
    except errors as exc:
        if path is None:
            raise ModelError(f"cannot load the converted model {model}: {exc}") from exc
        path.unlink(missing_ok=True)  # damaged (a disk error, a stray write): convert again
        path, content = cached_model(model, weights_sha256, convert, suffix)
        return open_model(path, content)


class LiteRunner:
    """One LiteRT interpreter: float32 batches in, the network's outputs out. Calls are
    serialised (an interpreter is not thread-safe); the input is resized only when the
    batch size changes."""

    def __init__(self, path: Path | None, content: bytes | None, threads: int = 0):
        from ai_edge_litert.interpreter import Interpreter

        threads = threads if threads > 0 else usable_cores()
        with quiet_native_stderr():
            if path is not None:
                self._interpreter = Interpreter(model_path=str(path), num_threads=threads)
            else:
                self._interpreter = Interpreter(model_content=content, num_threads=threads)
        detail = self._interpreter.get_input_details()[0]
        self._input, self.input_dtype = detail["index"], detail["dtype"]
        # outputs in the order of their names (a converted function's outputs are named
        # output_0, output_1, ... in the order it returns them)
        details = sorted(self._interpreter.get_output_details(), key=lambda d: _natural(d["name"]))
        self._outputs = [d["index"] for d in details]
        self._batch = None
        self._lock = threading.Lock()

    def __call__(self, batch: np.ndarray) -> np.ndarray | list[np.ndarray]:
        """The outputs for one input (a list when the model has several)."""
        batch = np.ascontiguousarray(batch)
        with self._lock:
            if self._batch != batch.shape:
                with quiet_native_stderr():  # XNNPACK announces itself on stderr
                    self._interpreter.resize_tensor_input(self._input, batch.shape)
                    self._interpreter.allocate_tensors()
                self._batch = batch.shape
            self._interpreter.set_tensor(self._input, batch)
            self._interpreter.invoke()
            outs = [self._interpreter.get_tensor(i).copy() for i in self._outputs]
        return outs[0] if len(outs) == 1 else outs


def _natural(name: str) -> tuple:
    import re

    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name))


def load_int8(graph_sha256: str, graph_def_fn, threads: int = 0) -> LiteRunner:
    """The int8 FaceNet; ``graph_def_fn()`` gives the graph when it must be converted."""
    return load_cached("facenet-int8", graph_sha256, lambda: convert_int8(graph_def_fn(), threads), threads)


class ShapePool:
    """One interpreter per input shape, the ``size`` most recently used kept. Preparing an
    interpreter for a new shape (XNNPACK plans its buffers and builds its convolutions'
    indirection buffers) costs about twice a run of that shape, so a network that sees the
    same shapes again (MTCNN's P-Net on photos of one size) keeps one interpreter per shape:
    a 1000x700 photo's 11 levels took 75.7 ms resized level by level on one thread, 41.7
    ms on interpreters kept per shape (docs/performance.md). Once ``size`` interpreters
    exist, a new shape resizes the least recently used one. Inputs of more than
    ``max_elements`` values share one interpreter, resized: an interpreter keeps buffers for
    the largest input it has seen (24 kept for photos of many sizes held 0.8 GB).
    ``fixed(shape)`` makes an interpreter prepared once for one shape (P-Net's tiles)."""

    def __init__(self, path: Path | None, content: bytes | None, threads: int = 0, size: int = 32,
                 max_elements: int = 0):
        from collections import OrderedDict

        self._source = (path, content, threads)
        self.size = size
        self._max_elements = max_elements
        self._runners: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self._large = LiteRunner(*self._source)  # fails now, not on the first photo, if the model cannot load

    def ready(self, shape) -> bool:
        """Whether an interpreter is prepared for ``shape`` (a call with it prepares nothing)."""
        with self._lock:
            return tuple(shape) in self._runners

    def keeps(self, shape) -> bool:
        """Whether ``shape`` gets an interpreter of its own (not the shared one for inputs of
        more than ``max_elements`` values)."""
        return not (self._max_elements and int(np.prod(shape)) > self._max_elements)

    def fixed(self, shape) -> LiteRunner:
        """A new interpreter of this model prepared for ``shape`` (kept by the caller)."""
        runner = LiteRunner(*self._source)
        runner(np.zeros(shape, self._large.input_dtype))
        return runner

    def _get(self, shape):
        if not self.keeps(shape):
            return self._large
        with self._lock:
            runner = self._runners.pop(shape, None)
            if runner is None:
                # a new shape: a new interpreter while the pool has room, else the least
                # recently used one, resized (photos of ever-new sizes cost a resize each,
                # as with one interpreter, and memory stays bounded)
                runner = self._runners.popitem(last=False)[1] if len(self._runners) >= self.size \
                    else LiteRunner(*self._source)
            self._runners[shape] = runner
            return runner

    def __call__(self, batch: np.ndarray):
        return self._get(batch.shape)(batch)
