"""dlib's face recognition ResNet (dlib_face_recognition_resnet_model_v1, Davis King, CC0),
read from its dlib file and run in ONNX Runtime: 150x150 aligned RGB chips -> 128-d
descriptors, without dlib.

photoface clusters on FaceNet and this second descriptor together (vectors.fused): the two
networks were trained on different people (FaceNet on CASIA-WebFace, dlib's on about 3
million faces of its own collection) and err on different photos, so the same person
photographed decades apart lies closer in the pair than in either (docs/people.md, "A
second embedding").

The file is dlib's own serialization of its `anet_type` (examples/dnn_face_recognition_ex.cpp):
a 7x7 convolution, max pooling, 14 residual blocks of two 3x3 convolutions each with an
affine layer after each convolution, a global average and a 256 -> 128 matrix. The reader
below takes the layers' parameters from the stream in order (dlib writes a network from its
input up) and builds the same graph in ONNX with every affine layer folded into the
convolution before it. dlib's conventions that matter: convolutions and pools with a
stride of 2 have no padding; a residual sum of tensors of different sizes is as large as
the larger, the smaller padded with zeros below and to the right (add_prev_). Descriptors
agree with dlib's own to 1e-6 on the same chips (tests/test_dlib_resnet.py).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ModelError
from .runtime import quiet_native_stderr, usable_cores
from .weights import DLIB_RESNET, locate, shipped_vector

CHIP_SIZE = 150
#: Faces per network call: as fast as 64 on two cores of an AMD EPYC (334 against 337
#: faces/s) for 4 MB of activations instead of 142 MB (a 150x150 chip's first layers are
#: large).
BATCH = 8
DESCRIPTOR_DIM = 128
#: input_rgb_image_sized's per-channel means; pixels are (value - mean) / 256
MEANS = np.array([122.782, 117.001, 104.298], np.float32)
#: the residual stages: (channels, first block halves the size, further blocks)
STAGES = ((32, False, 3), (64, True, 3), (128, True, 2), (256, True, 2), (256, True, 0))
#: The mean of dlib's unit descriptors over the 200 people of lfw_subset with 3+ photos (each
#: person's mean, each weighing the same; benchmarks/second_embedding.py --save-centre):
#: dlib's descriptors share a large common part (their mean has length 0.92), which makes
#: its distances short and uneven until removed (docs/people.md).
CENTRE_PATH = Path(__file__).with_name("dlib_centre.npy")
_LAYER_NAMES = (b"con_4", b"con_5", b"con_6", b"affine_2", b"affine_", b"fc_3", b"fc_2")


class _Stream:
    """dlib's serialization: integers as a control byte (size | 0x80 if negative) and that
    many little-endian bytes; strings as an integer length and the bytes; tensors as
    version 2, four integer dimensions and little-endian float32 values."""

    def __init__(self, data: bytes, pos: int = 0):
        self.data, self.pos = data, pos

    def integer(self) -> int:
        control = self.data[self.pos]
        size = control & 0x0F
        value = int.from_bytes(self.data[self.pos + 1:self.pos + 1 + size], "little")
        self.pos += 1 + size
        return -value if control & 0x80 else value

    def string(self) -> str:
        n = self.integer()
        value = self.data[self.pos:self.pos + n].decode("latin-1")
        self.pos += n
        return value

    def tensor(self) -> np.ndarray:
        if self.integer() != 2:
            raise ValueError("unknown tensor version")
        shape = [self.integer() for _ in range(4)]
        n = int(np.prod(shape))
        values = np.frombuffer(self.data, "<f4", n, self.pos)
        self.pos += 4 * n
        return values


def read_layers(data: bytes) -> list[tuple]:
    """The parameters of every convolution (("con", params, filters, rows, cols, stride,
    padding)), affine layer (("affine", gamma and beta)) and fully connected layer (("fc",
    params, outputs, inputs)) in the file, from the input up."""
    import re

    pattern = re.compile(b"\\x01[\\x04-\\x0a](" + b"|".join(re.escape(n) for n in _LAYER_NAMES) + b")")
    layers, pos = [], 0
    while (m := pattern.search(data, pos)) is not None:
        s = _Stream(data, m.start())
        name = s.string()
        if name != m.group(1).decode():
            pos = m.start() + 1
            continue
        if name.startswith("con_"):
            params = s.tensor()
            filters, rows, cols, stride, _, padding, _ = (s.integer() for _ in range(7))
            layers.append(("con", params, filters, rows, cols, stride, padding))
        elif name.startswith("affine"):
            layers.append(("affine", s.tensor()))
        else:
            outputs, inputs = s.integer(), s.integer()
            layers.append(("fc", s.tensor(), outputs, inputs))
        pos = s.pos
    return layers


def onnx_model(data: bytes):
    """The network of a dlib_face_recognition_resnet_model_v1 file as an ONNX model with
    input ``chip`` (N x 3 x 150 x 150, already scaled) and output ``descriptor`` (N x 128)."""
    from onnx import TensorProto, helper, numpy_helper

    layers = read_layers(data)
    expected = 2 * (1 + 2 * sum((1 if down else 0) + more for _, down, more in STAGES)) + 1
    if len(layers) != expected or layers[-1][0] != "fc":
        raise ValueError(f"{len(layers)} layers found, expected {expected}")
    weights, nodes, names = [], [], iter(range(1, 1 << 30))
    queue = iter(layers)

    def const(array, dtype=np.float32) -> str:
        name = f"w{next(names)}"
        weights.append(numpy_helper.from_array(np.ascontiguousarray(array, dtype), name))
        return name

    def node(op: str, inputs: list[str], **attrs) -> str:
        out = f"t{next(names)}"
        nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def conv(x: str, size: int) -> tuple[str, int]:
        (_, params, filters, rows, cols, stride, padding), (_, affine) = next(queue), next(queue)
        n = params.size - filters
        w = params[:n].reshape(filters, n // (filters * rows * cols), rows, cols)
        gamma, beta = affine[:filters], affine[filters:]
        y = node("Conv", [x, const(w * gamma[:, None, None, None]), const(params[n:] * gamma + beta)],
                 kernel_shape=[rows, cols], strides=[stride, stride], pads=[padding] * 4)
        return y, 1 + (size + 2 * padding - rows) // stride

    def pad(x: str, channels: int, rows: int) -> str:  # zeros after the last channel, row and column
        return node("Pad", [x, const([0, 0, 0, 0, 0, channels, rows, rows], np.int64)]) if channels or rows else x

    x, size = conv("chip", CHIP_SIZE)
    x = node("MaxPool", [node("Relu", [x])], kernel_shape=[3, 3], strides=[2, 2])
    size, channels = 1 + (size - 3) // 2, 32
    for width, down, more in STAGES:
        for block in range(int(down) + more):
            h, hsize = conv(x, size)
            h, hsize = conv(node("Relu", [h]), hsize)
            if down and block == 0:
                skip, ssize = node("AveragePool", [x], kernel_shape=[2, 2], strides=[2, 2]), 1 + (size - 2) // 2
                out = max(hsize, ssize)
                x = node("Add", [pad(skip, width - channels, out - ssize), pad(h, 0, out - hsize)])
                size, channels = out, width
            else:
                x = node("Add", [x, h])
            x = node("Relu", [x])
    _, params, outputs, inputs = next(queue)
    flat = node("Flatten", [node("GlobalAveragePool", [x])])
    nodes.append(helper.make_node("MatMul", [flat, const(params[:inputs * outputs].reshape(inputs, outputs))],
                                  ["descriptor"]))
    graph = helper.make_graph(
        nodes, "dlib_face_recognition_resnet_model_v1",
        [helper.make_tensor_value_info("chip", TensorProto.FLOAT, ["n", 3, CHIP_SIZE, CHIP_SIZE])],
        [helper.make_tensor_value_info("descriptor", TensorProto.FLOAT, ["n", DESCRIPTOR_DIM])], weights)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


_centre: np.ndarray | None = None


def load_centre() -> np.ndarray:
    global _centre
    if _centre is None:
        _centre = shipped_vector(CENTRE_PATH, DESCRIPTOR_DIM, "dlib's centre")
    return _centre


def preprocess(chips_rgb_uint8: np.ndarray) -> np.ndarray:
    """N x 150 x 150 x 3 uint8 RGB -> N x 3 x 150 x 150 float32, as dlib's input layer does."""
    return ((chips_rgb_uint8.astype(np.float32) - MEANS) / 256.0).transpose(0, 3, 1, 2).copy()


class DlibResNet:
    """The descriptor network in an ONNX Runtime session (float32, the CPU)."""

    def __init__(self, path: str | None = None, threads: int = 0):
        import onnxruntime as ort

        weights = locate(DLIB_RESNET, path)
        try:
            model = onnx_model(weights.read_bytes())
        except (ValueError, IndexError, StopIteration) as exc:
            raise ModelError(f"cannot read dlib's network from {weights}: {exc}") from exc
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads if threads > 0 else usable_cores()
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        with quiet_native_stderr():
            self._session = ort.InferenceSession(model.SerializeToString(), options,
                                                 providers=["CPUExecutionProvider"])

    def describe(self, chips_rgb_uint8: np.ndarray, batch_size: int = BATCH) -> np.ndarray:
        """N aligned chips (align.dlib_chip) -> N x 128 float32 descriptors (dlib's, not normalised)."""
        out = np.empty((len(chips_rgb_uint8), DESCRIPTOR_DIM), np.float32)
        for start in range(0, len(chips_rgb_uint8), batch_size):
            batch = preprocess(chips_rgb_uint8[start:start + batch_size])
            out[start:start + len(batch)] = self._session.run(None, {"chip": batch})[0]
        return out


_loaded: dict[int, DlibResNet] = {}


def get(threads: int = 0) -> DlibResNet:
    """The network, loaded once per process (and thread count)."""
    if threads not in _loaded:
        _loaded[threads] = DlibResNet(threads=threads)
    return _loaded[threads]
