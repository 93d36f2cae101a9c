"""FaceNet 20180408-102900 (Inception-ResNet-v1) from its frozen graph: 160x160 RGB faces -> 512-d unit vectors."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DeviceError, ModelError
from .runtime import cpu_has_bf16, gpu_visible, static_int8_faster, tensorflow, tf_device_name
from .weights import FACENET_PB, locate, shipped_vector

INPUT_SIZE = 160
EMBEDDING_DIM = 512
#: float32 on the CPU runs the graph unoptimised for a process's first this many faces: the
#: optimisation costs about 1.5 s once and saves 5-16% per face (0.5-1.7 ms on two cores),
#: so a small job (verify, a search by face, a few new photos) skips it and a big one loses
#: at most about 0.4 s (docs/performance.md).
QUICK_FACES = 256
#: int8 in LiteRT runs fastest on a few faces at a time (LFW View 2's 7,701 faces, 2 cores:
#: 303 faces/s one by one, 383 by 4, 353 by 16, 295 by 64; cut to 8: 356, to 4 in a second
#: run 342; docs/performance.md), so its batches are cut to at most this many whatever the
#: caller's batch.
LITE_BATCH = 8
# The frozen graph fixes the batch to 1 in the input and in two folded Reshape shapes;
# these are rewritten so any batch size runs (outputs agree with batch 1 to 1e-7).
_BATCH_PATCHES = {
    "InceptionResnetV1/Logits/Flatten/flatten/Reshape/shape/_1__cf__3": [-1, 1792],
    "InceptionResnetV1/Bottleneck/BatchNorm/Shape/_0__cf__2": [-1, 512],
}


#: The mean FaceNet output over 5,529 LFW faces outside the View 2 test pairs, cut with
#: photoface's crop (benchmarks/facenet_centre.py). Every embedding has it subtracted
#: before it is normalized: the offset is shared by all faces, so removing it lets the
#: distance measure identity only (LFW View 2 0.9858 -> 0.9895, VAL@1e-3 0.93 -> 0.96;
#: docs/quality.md).
CENTRE_PATH = Path(__file__).with_name("facenet_centre.npy")


def load_centre() -> np.ndarray:
    return shipped_vector(CENTRE_PATH, EMBEDDING_DIM, "the FaceNet centre")


def centred(raw: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Raw network outputs -> photoface embeddings: the centre subtracted, then unit length."""
    x = raw - centre
    return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def uncentred(emb: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """photoface embeddings -> the raw network outputs they came from (the inverse of
    ``centred``: the raw output is the unit vector centre + s * emb, s > 0). For comparing
    with tools that use FaceNet's raw output."""
    e = np.asarray(emb, np.float64)
    c = np.asarray(centre, np.float64)
    ec = e @ c
    s = -ec + np.sqrt(np.maximum(ec * ec - c @ c + 1.0, 0.0))
    raw = c + s[:, None] * e
    return (raw / np.linalg.norm(raw, axis=1, keepdims=True)).astype(np.float32)


def preprocess(faces_rgb_uint8: np.ndarray) -> np.ndarray:
    """Fixed standardization the model was trained with: (x - 127.5) / 128 on RGB."""
    return (faces_rgb_uint8.astype(np.float32) - 127.5) / 128.0


def choose_precision(requested: str, device: str, threads: int = 0, static: bool = True) -> str:
    """The arithmetic FaceNet runs in for ``--precision requested`` on ``device``.

    "auto": float32 on a GPU; on the CPU static int8 through ONNX Runtime where it was
    measured the fastest (AVX2 without AVX-512 or int8 dot products: 1.9x LiteRT's int8,
    runtime.static_int8_faster) and ``static`` allows it, else int8 through LiteRT where
    that runtime is installed (3.8x float32's faces/s and faster than bfloat16 even on AMX,
    docs/performance.md), else bfloat16 where the CPU has it, else float32. A library keeps
    one kind of int8 (indexer._library_precision asks with ``static`` False for one embedded
    in the other kind). An explicit choice the machine cannot run is a DeviceError or
    ModelError that says what to use instead."""
    from . import lite, onnx_int8

    if requested == "fp32":
        return "fp32"
    on_gpu = gpu_visible(device, threads)
    if requested in ("int8", "int8-static"):
        if device == "gpu":
            raise DeviceError(f"--precision {requested} runs on the CPU: use --device cpu or auto, "
                              "or --precision fp32 on the GPU")
        if requested == "int8" and not lite.available():
            raise ModelError("--precision int8 needs the LiteRT runtime: pip install ai-edge-litert "
                             "(or use --precision fp32)")
        if requested == "int8-static" and not onnx_int8.available():
            raise ModelError("--precision int8-static needs ONNX Runtime and tf2onnx: pip install onnxruntime tf2onnx "
                             "(or use --precision int8)")
        return requested
    if requested == "bf16":
        if on_gpu or not cpu_has_bf16():
            raise DeviceError("--precision bf16 needs a CPU with bfloat16 instructions (AMX or AVX512-BF16) "
                              "and the model on that CPU: use --precision fp32, int8 or auto")
        return "bf16"
    if on_gpu:
        return "fp32"
    if static and static_int8_faster() and onnx_int8.available():
        return "int8-static"
    if lite.available():
        return "int8"
    return "bf16" if cpu_has_bf16() else "fp32"


def read_graph(pb_path: Path, tf):
    """The frozen graph, with its batch dimension freed."""
    graph_def = tf.compat.v1.GraphDef()
    try:
        graph_def.ParseFromString(pb_path.read_bytes())
    except Exception as exc:  # protobuf raises its own DecodeError
        raise ModelError(f"cannot parse the FaceNet graph {pb_path}: {exc}") from exc
    _patch_batch_dimension(tf, graph_def)
    return graph_def


class FaceNetEmbedder:
    """Batched FaceNet embedding. Load once per process through models.get_embedder.

    ``precision`` (choose_precision): "fp32"; "bf16" on a CPU with bfloat16 instructions
    (AMX or AVX512-BF16): oneDNN then runs the convolutions and matrix products in bfloat16,
    about 3x faster, with embeddings within 0.02 of float32 and the same LFW accuracy;
    "int8": the graph converted for LiteRT with int8 weights (models/lite.py), on the CPU,
    which needs no TensorFlow once converted; "auto" picks the fastest this machine runs
    (docs/performance.md)."""

    def __init__(self, path: str | None = None, device: str = "auto", threads: int = 0, precision: str = "auto"):
        self.precision = choose_precision(precision, device, threads)
        self._session = None
        self._optimised = None  # float32 on the CPU: the optimised session's (graph, config), until used
        self._lite = None
        self._centre: np.ndarray | None = None  # read on first use (network() does not need it)
        self._faces_seen = 0
        if self.precision in ("int8", "int8-static"):
            from . import lite, onnx_int8

            self._device = "/CPU:0"
            # the graph is read (and its sha256 checked) only when there is no converted copy yet
            graph = lambda: read_graph(locate(FACENET_PB, path), tensorflow("cpu", threads))  # noqa: E731
            if self.precision == "int8-static":
                self._lite = onnx_int8.load(FACENET_PB.sha256, graph, threads)
                return
            self._lite = lite.load_int8(FACENET_PB.sha256, graph, threads)
            return
        tf = tensorflow(device, threads)
        graph_def = read_graph(locate(FACENET_PB, path), tf)

        def import_graph():
            tf.compat.v1.import_graph_def(graph_def, name="")

        self._tf = tf
        self._device = tf_device_name(tf, device)
        on_cpu = self._device == "/CPU:0"
        if on_cpu:
            # A session of its own: on the CPU it starts faster than a wrapped function
            # (docs/performance.md), and the bfloat16 rewrite applies to FaceNet only
            # (MTCNN got slower and changed its detections under it).
            from tensorflow.core.protobuf import rewriter_config_pb2

            graph = tf.Graph()
            with graph.as_default(), tf.device("/CPU:0"):
                tf.compat.v1.import_graph_def(graph_def, name="")
            config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=threads,
                                              inter_op_parallelism_threads=1 if threads else 0)
            if self.precision == "bf16":
                config.graph_options.rewrite_options.auto_mixed_precision_onednn_bfloat16 = \
                    rewriter_config_pb2.RewriterConfig.ON
                self._session = tf.compat.v1.Session(graph=graph, config=config)
            else:
                # float32 starts on the graph as it is (Grappler's optimisation costs 1.5 s
                # on the first call) and moves to the optimised graph, 5% faster per face,
                # once a job proves big enough to pay for it (QUICK_FACES)
                self._optimised = (graph, config)
                quick = tf.compat.v1.ConfigProto()
                quick.CopyFrom(config)
                quick.graph_options.rewrite_options.disable_meta_optimizer = True
                self._session = tf.compat.v1.Session(graph=graph, config=quick)
            self._input = graph.get_tensor_by_name("input:0")
            self._output = graph.get_tensor_by_name("embeddings:0")
        else:
            with tf.device(self._device):
                wrapped = tf.compat.v1.wrap_function(import_graph, [])
                self._fn = wrapped.prune(
                    wrapped.graph.as_graph_element("input:0"),
                    wrapped.graph.as_graph_element("embeddings:0"),
                )

    def embed(self, faces_rgb_uint8: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """(N, 160, 160, 3) uint8 RGB crops -> (N, 512) float32 unit vectors: photoface's
        embedding, the network's output with the shared centre removed."""
        if self._centre is None:
            self._centre = load_centre()
        return centred(self.network(faces_rgb_uint8, batch_size), self._centre)

    def network(self, faces_rgb_uint8: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """(N, 160, 160, 3) uint8 RGB crops -> (N, 512) raw network outputs (unit vectors,
        not centred)."""
        faces = np.asarray(faces_rgb_uint8)
        if faces.ndim != 4 or faces.shape[1:] != (INPUT_SIZE, INPUT_SIZE, 3):
            raise ValueError(f"expected (N, {INPUT_SIZE}, {INPUT_SIZE}, 3) crops, got {faces.shape}")
        out = np.empty((len(faces), EMBEDDING_DIM), np.float32)
        if self._lite is not None:
            step = max(1, min(batch_size, LITE_BATCH))
            for start in range(0, len(faces), step):
                out[start:start + step] = self._lite(preprocess(faces[start:start + step]))
            return out
        self._faces_seen += len(faces)
        if self._optimised is not None and self._faces_seen > QUICK_FACES:
            graph, config = self._optimised
            self._session, self._optimised = self._tf.compat.v1.Session(graph=graph, config=config), None
        with self._tf.device(self._device):
            for start in range(0, len(faces), batch_size):
                batch = preprocess(faces[start:start + batch_size])
                if self._session is not None:
                    out[start:start + len(batch)] = self._session.run(self._output, {self._input: batch})
                else:
                    out[start:start + len(batch)] = self._fn(self._tf.constant(batch)).numpy()
        return out


def _patch_batch_dimension(tf, graph_def) -> None:
    found = set()
    for node in graph_def.node:
        if node.name == "input" and node.op == "Placeholder":
            shape = node.attr["shape"].shape
            if shape.dim:
                shape.dim[0].size = -1
            found.add(node.name)
        elif node.name in _BATCH_PATCHES:
            dtype = tf.dtypes.as_dtype(node.attr["dtype"].type).as_numpy_dtype
            value = np.array(_BATCH_PATCHES[node.name], dtype=dtype)
            node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value))
            found.add(node.name)
    missing = ({"input"} | set(_BATCH_PATCHES)) - found
    if missing:
        raise ModelError(f"the FaceNet graph lacks the nodes {sorted(missing)}: not the expected 20180408-102900 graph")
