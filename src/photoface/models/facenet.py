"""FaceNet 20180408-102900 (Inception-ResNet-v1) from its frozen graph: 160x160 RGB faces -> 512-d unit vectors."""
from __future__ import annotations

import numpy as np

from ..errors import ModelError
from .runtime import tensorflow, tf_device_name
from .weights import FACENET_PB, locate

INPUT_SIZE = 160
EMBEDDING_DIM = 512
# The frozen graph fixes the batch to 1 in the input and in two folded Reshape shapes;
# these are rewritten so any batch size runs (outputs agree with batch 1 to 1e-7).
_BATCH_PATCHES = {
    "InceptionResnetV1/Logits/Flatten/flatten/Reshape/shape/_1__cf__3": [-1, 1792],
    "InceptionResnetV1/Bottleneck/BatchNorm/Shape/_0__cf__2": [-1, 512],
}


def preprocess(faces_rgb_uint8: np.ndarray) -> np.ndarray:
    """Fixed standardization the model was trained with: (x - 127.5) / 128 on RGB."""
    return (faces_rgb_uint8.astype(np.float32) - 127.5) / 128.0


class FaceNetEmbedder:
    """Batched FaceNet embedding. Load once per process through models.get_embedder."""

    def __init__(self, path: str | None = None, device: str = "auto", threads: int = 0):
        tf = tensorflow(device, threads)
        pb_path = locate(FACENET_PB, path)
        graph_def = tf.compat.v1.GraphDef()
        try:
            graph_def.ParseFromString(pb_path.read_bytes())
        except Exception as exc:  # protobuf raises its own DecodeError
            raise ModelError(f"cannot parse the FaceNet graph {pb_path}: {exc}") from exc
        _patch_batch_dimension(tf, graph_def)

        def import_graph():
            tf.compat.v1.import_graph_def(graph_def, name="")

        self._tf = tf
        self._device = tf_device_name(tf, device)
        with tf.device(self._device):
            wrapped = tf.compat.v1.wrap_function(import_graph, [])
            self._fn = wrapped.prune(
                wrapped.graph.as_graph_element("input:0"),
                wrapped.graph.as_graph_element("embeddings:0"),
            )

    def embed(self, faces_rgb_uint8: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """(N, 160, 160, 3) uint8 RGB crops -> (N, 512) float32 unit vectors."""
        faces = np.asarray(faces_rgb_uint8)
        if faces.ndim != 4 or faces.shape[1:] != (INPUT_SIZE, INPUT_SIZE, 3):
            raise ValueError(f"expected (N, {INPUT_SIZE}, {INPUT_SIZE}, 3) crops, got {faces.shape}")
        out = np.empty((len(faces), EMBEDDING_DIM), np.float32)
        with self._tf.device(self._device):
            for start in range(0, len(faces), batch_size):
                batch = preprocess(faces[start:start + batch_size])
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
