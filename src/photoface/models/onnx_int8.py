"""FaceNet in static int8 through ONNX Runtime (PyPI onnxruntime, MLAS kernels) on the CPU.

The frozen graph is converted once per machine (tf2onnx, then ONNX Runtime's own static
quantiser) and kept in the model cache beside the LiteRT models (models/lite.py):

- weights int8 per output channel with 7 bits (``reduce_range``): on CPUs without VNNI the
  kernels multiply uint8 by int8 in pairs summed into 16 bits, which saturates with 8-bit
  weights (median embedding error 0.39) and cannot with 7; every sum is then an exact
  integer, so a face's embedding does not depend on its batch (tested) and should not on
  the CPU's instructions (checked by tests/test_cpu_kind.py where CPUID faulting exists);
- activations uint8, one range per tensor, fixed: the ranges ship with photoface
  (``facenet_int8_ranges.json``, ONNX Runtime's calibration cache), measured by
  ``benchmarks/calibrate_int8.py`` on faces of eight labeled sets of different kinds
  (the held-out set bbt not among them), so nothing is calibrated on the user's machine;
- the tail (bottleneck, batch norm, L2 normalisation) stays in float32.

Measured (docs/performance.md, "Static int8 in ONNX Runtime", 2-core AVX2-only AMD EPYC):
1.9x LiteRT's int8 faces/s, `photoface index` 1.2-1.6x faster; embeddings 0.045 from
float32's (LiteRT's int8: 0.016); LFW View 2 0.9890 against 0.9897; BCubed F1 within 0.005 of
float32 on all ten clustering sets (mixed -0.0044, at the edge). On a Xeon with VNNI and AMX
LiteRT's int8 is as fast or faster (0.61-1.06x), so ``--precision auto`` picks static int8
only on CPUs with AVX2 and neither AVX-512 nor int8 dot products
(runtime.static_int8_faster). The one-time conversion peaks at 2.6 GB (float_model).
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import tempfile
import threading
from pathlib import Path

import numpy as np

from ..errors import ModelError
from .runtime import quiet_native_stderr, usable_cores

RANGES_PATH = Path(__file__).with_name("facenet_int8_ranges.json")
#: Bump when the recipe below changes, so cached files made the old way are not used.
RECIPE_VERSION = 2
OPSET = 17
#: Node types quantised; the nodes of TAIL stay float32 (quantising the L2 normalisation's
#: squares alone moved embeddings by 0.4).
QUANTISED_OPS = ("Conv", "MatMul", "Add", "Concat", "Relu", "MaxPool", "Mul", "Reshape", "Transpose")
TAIL = ("InceptionResnetV1/Logits/AvgPool_1a_8x8/AvgPool", "MatMulBnFusion_Gemm", "embeddings/Square", "embeddings")


def available() -> bool:
    """Whether ONNX Runtime and the converter are installed (found without importing them)."""
    try:
        return all(importlib.util.find_spec(m) is not None for m in ("onnxruntime", "tf2onnx")) \
            and RANGES_PATH.is_file()
    except (ImportError, ValueError):
        return False


def versions() -> str:
    """What the converted file depends on besides the weights, for its cache name."""
    parts = []
    for package in ("onnxruntime", "tf2onnx", "tensorflow"):
        try:
            parts.append(importlib.metadata.version(package))
        except importlib.metadata.PackageNotFoundError:
            parts.append("unknown")
    return "-".join(parts)


#: tf2onnx's graph optimisers that change FaceNet's graph, in tf2onnx's order. Each pass
#: tf2onnx runs leaves a copy of the weights' protobuf behind (about 90 MB) and with the
#: error catching of its one-call API it also copies the whole graph first: all twelve
#: passes, twice, took the conversion to a 5.2 GB peak. These five, without the copies,
#: give a graph equal node for node and value for value (docs/performance.md) at 2.6 GB.
OPTIMISERS = ("optimize_transpose", "fold_constants", "merge_duplication", "remove_identity", "remove_back_to_back")


def float_model(graph_def, folder: str) -> str:
    """The FaceNet graph as an ONNX file in ``folder``, pre-processed for quantisation (ONNX
    Runtime's graph fusions and shape inference): the model both calibration and conversion
    start from, so the ranges' tensor names match. The steps of tf2onnx's
    ``convert.from_graph_def`` (grappler, the op mapping, the optimisers), with only the
    optimisers of OPTIMISERS and no copy of the graph before each."""
    import onnx
    import tensorflow as tf
    from onnxruntime.quantization.shape_inference import quant_pre_process
    from tf2onnx import optimizer, tf_loader, tfonnx

    raw = os.path.join(folder, "facenet-float.onnx")
    ready = os.path.join(folder, "facenet-ready.onnx")
    names = {"input_names": ["input:0"], "output_names": ["embeddings:0"]}
    every = optimizer._get_optimizers()  # the registry optimize_graph itself reads
    passes = {k: v for k, v in every.items() if k in OPTIMISERS}
    if len(passes) < len(OPTIMISERS):  # another tf2onnx: all of them, whatever they cost
        passes = every
    with quiet_native_stderr():
        with tf.Graph().as_default():
            frozen = tf_loader.tf_optimize(names["input_names"], names["output_names"], graph_def)
        with tf.Graph().as_default() as graph:
            tf.import_graph_def(frozen, name="")
            converted = tfonnx.process_tf_graph(graph, continue_on_error=True, opset=OPSET, **names)
        del frozen
        converted = optimizer.optimize_graph(converted, catch_errors=False, optimizers=passes)
        onnx.save(_canonical_names(converted.make_model("FaceNet")), raw)
        del converted
        quant_pre_process(raw, ready, skip_symbolic_shape=True)
    return ready


def _canonical_names(model):
    """The model with the names tf2onnx made up ("...__<n>", n from a counter kept for the
    whole process, so a second conversion in one process numbers them differently) numbered
    afresh in the order they appear: the same graph always gets the same names, which the
    shipped ranges are keyed by."""
    import re

    graph = model.graph
    names = {}

    def canonical(name: str) -> str:
        if not name or not re.search(r"__\d+(:\d+)?$", name):
            return name
        if name not in names:
            names[name] = re.sub(r"__\d+(?=(:\d+)?$)", f"__c{len(names)}", name)
        return names[name]

    for node in graph.node:
        node.name = canonical(node.name)
        node.input[:] = [canonical(n) for n in node.input]
        node.output[:] = [canonical(n) for n in node.output]
    for item in (*graph.initializer, *graph.input, *graph.output, *graph.value_info):
        item.name = canonical(item.name)
    return model


def quantise(ready: str, out: str, ranges: Path, reader=None, method: str | None = None) -> None:
    """The static int8 model of ``ready`` (float_model) written to ``out``, with the
    activation ranges of ``ranges`` (ONNX Runtime's calibration cache); ``reader`` (a
    CalibrationDataReader) measures them first, by ``method`` (MinMax, Percentile,
    Entropy), where ``ranges`` does not exist yet."""
    import json

    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    if method is None:  # the method the ranges were measured by
        method = json.loads(ranges.read_text())["calibration_method"]["value"].rsplit(".", 1)[-1]
    quantize_static(ready, out, reader, quant_format=QuantFormat.QDQ, op_types_to_quantize=list(QUANTISED_OPS),
                    nodes_to_exclude=list(TAIL), per_channel=True, reduce_range=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    calibrate_method=getattr(CalibrationMethod, method), calibration_cache_path=ranges)


def _check_ranges(ready: str) -> None:
    """Every tensor the quantiser needs a range for has one: a converter that names tensors
    differently from the one the ranges were measured with is a clear error, not a
    silently float32 network."""
    import json

    import onnx

    names = set(json.loads(RANGES_PATH.read_text()).get("data", {}))
    model = onnx.load(ready, load_external_data=False)
    wanted = {out for node in model.graph.node if node.op_type in QUANTISED_OPS and node.name not in TAIL
              for out in node.output}
    missing = wanted - names
    if missing:
        raise ModelError(f"the int8-static ranges do not fit this converter ({len(missing)} tensors unknown, "
                         f"e.g. {sorted(missing)[0]}): use --precision int8")


def convert(graph_def) -> bytes:
    """The FaceNet graph (batch dimension already free) as a static int8 ONNX model."""
    try:
        with tempfile.TemporaryDirectory(prefix="photoface-onnx-") as folder:
            ready = float_model(graph_def, folder)
            _check_ranges(ready)
            out = os.path.join(folder, "facenet-int8-static.onnx")
            with quiet_native_stderr():
                quantise(ready, out, RANGES_PATH)
            return Path(out).read_bytes()
    except ModelError:
        raise
    except Exception as exc:  # the converter and the quantiser raise their own errors
        raise ModelError(f"cannot convert FaceNet to static int8: {exc}; use --precision int8") from exc


def load(graph_sha256: str, graph_def_fn, threads: int = 0) -> OnnxRunner:
    """The static int8 FaceNet, converted on first use; ``graph_def_fn()`` gives the graph
    when it must be converted."""
    from . import lite

    name = f"facenet-int8-static-r{RECIPE_VERSION}-{versions()}"
    # onnxruntime's load errors (InvalidProtobuf, Fail, ...) derive from Exception only
    return lite.load_converted(name, graph_sha256, lambda: convert(graph_def_fn()),
                               lambda path, content: OnnxRunner(path, content, threads), suffix=".onnx",
                               errors=(Exception,))


class OnnxRunner:
    """One ONNX Runtime session: float32 batches in, the embeddings out. Its threads do not
    spin while waiting for work: in `photoface index` they share the cores with the
    detector, and with spinning threads 1,000 LFW photos took 25.5-26.3 s, without
    19.8-23.8 s (docs/performance.md)."""

    def __init__(self, path: Path | None, content: bytes | None, threads: int = 0):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads if threads > 0 else usable_cores()
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        with quiet_native_stderr():
            self._session = ort.InferenceSession(str(path) if path is not None else content, options,
                                                 providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        self._lock = threading.Lock()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        with self._lock:
            return self._session.run(None, {self._input: np.ascontiguousarray(batch, np.float32)})[0]
