"""MTCNN face detector: RGB image -> face boxes, scores and 5 landmarks.

The three networks and their weights are the mtcnn package's (PyPI mtcnn 1.0.0, converted
from Zhang et al.'s Caffe models); the cascade around them is photoface's own, written for
speed (docs/performance.md, "Detection"):

- the scale pyramid is made with OpenCV on the uint8 image, the first two levels from the
  photo and each later one from the first or second (the package resized the whole
  float64 image at every scale: 14 ms of copies and 14 ms of resizes per 1000x700 photo);
- the networks run in LiteRT on the CPU (converted once from the same weights, cached with
  the int8 FaceNet, models/lite.py): 1.4x faster than TensorFlow on real photos, the same
  detections (IoU > 0.999), and no TensorFlow to import; on a GPU (or without LiteRT) in
  TensorFlow graphs;
- P-Net's input normalisation is folded into the first convolution and its two 1x1 heads
  are one convolution. In TensorFlow it runs over the whole pyramid in one graph call (a
  loop over the levels, passed flattened: a call costs about 0.4 ms of dispatch, as much as
  a small level's work); in LiteRT, whose calls cost microseconds, level by level;
- R-Net and O-Net crop their candidates as TensorFlow's crop_and_resize does (inside the
  graph in TensorFlow, in numpy for LiteRT);
- non-maximum suppression is the greedy one of the original MTCNN (the package's variant
  also dropped boxes overlapping an already dropped one), in OpenCV's C++ where it
  measures overlap over the union.

The pyramid starts at ``min_face_px`` (the package always started at 20 px).
"""
from __future__ import annotations

import numpy as np

from ..types import Detection
from .pnet_tiles import CELL as _CELL
from .pnet_tiles import STRIDE as _STRIDE
from .pnet_tiles import PNetTiles
from .runtime import gpu_visible, tensorflow
from .weights import MTCNN_WEIGHTS, locate

#: Which cascade produced a detection (the mtcnn package's own was 1); part of the eval
#: cache key, so an evaluation made with another cascade is never reused.
CASCADE_VERSION = 3
SCALE_FACTOR = 0.709  # between pyramid levels, as in the original MTCNN
THRESHOLDS = (0.6, 0.7, 0.7)  # P-Net, R-Net, O-Net face probability (original MTCNN)
NMS_PNET_LEVEL, NMS_PNET, NMS_RNET, NMS_ONET = 0.5, 0.7, 0.7, 0.7
PNET_SHAPES = 24  # P-Net interpreters kept per level shape (LiteRT): two photo sizes' pyramids
PNET_POOLED_VALUES = 200 * 200 * 3  # a level shape seen again gets its own interpreter up to this size


class MTCNNDetector:
    """One image at a time. On the CPU the three networks run in LiteRT (converted once from
    the same weights, models/lite.py: no TensorFlow needed after that); on a GPU, or where
    LiteRT is not installed, each stage runs as a compiled TensorFlow graph."""

    def __init__(self, device: str = "auto", threads: int = 0, runtime: str = "auto"):
        """``runtime``: "auto" (LiteRT on the CPU where installed), "litert" or "tensorflow"."""
        from . import lite

        if runtime == "tensorflow" or runtime == "auto" and (gpu_visible(device, threads) or not lite.available()):
            self._nets = _TensorFlowNets(tensorflow(device, threads))
        else:
            self._nets = _LiteNets(threads)
        self.runtime = self._nets.runtime

    def detect(self, image_rgb: np.ndarray, min_face_px: int = 20, min_score: float = 0.0,
               levels: tuple | None = None) -> list[Detection]:
        """Faces in an (H, W, 3) uint8 RGB image, in that image's pixel coordinates, at
        least ``min_face_px`` on their shorter side, sorted top to bottom. ``levels``:
        what pyramid(image, min_face_px) gives, made beforehand (on another thread)."""
        if image_rgb.ndim != 3 or image_rgb.shape[2] != 3:
            raise ValueError(f"expected an (H, W, 3) RGB image, got {image_rgb.shape}")
        image = np.ascontiguousarray(image_rgb, dtype=np.uint8)
        min_face_px = max(int(min_face_px), _CELL)
        if min(image.shape[:2]) < min_face_px:
            return []
        boxes = self._proposals(image, *(levels or pyramid(image, min_face_px)))
        if len(boxes):
            boxes = self._refine(image, boxes)
        detections = []
        for row in boxes:
            x1, y1, x2, y2, score = (float(v) for v in row[:5])
            if score < min_score or min(x2 - x1, y2 - y1) < min_face_px:
                continue
            marks = tuple((float(row[5 + i]), float(row[10 + i])) for i in range(5))
            detections.append(Detection(x1, y1, x2, y2, score, marks))
        detections.sort(key=lambda d: (d.y1, d.x1))
        return detections

    def _proposals(self, image: np.ndarray, levels: list[np.ndarray], scales: list[float]) -> np.ndarray:
        """P-Net over the pyramid -> square candidate boxes (N, 5: x1 y1 x2 y2 score)."""
        if not levels:
            return np.empty((0, 5), np.float32)
        boxes, scores = self._nets.pnet(levels, scales)
        if not len(scores):
            return np.empty((0, 5), np.float32)
        boxes = np.column_stack([boxes, scores])
        return _square(boxes[nms(boxes[:, :4], boxes[:, 4], NMS_PNET)])

    def _refine(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """R-Net then O-Net on the candidates -> (N, 15: x1 y1 x2 y2 score, 5 x, 5 y)."""
        h, w = image.shape[:2]
        pixels = self._nets.image(image)
        offsets, scores = self._nets.rnet(pixels, _relative(boxes, w, h))
        keep = scores > THRESHOLDS[1]
        boxes = _regress(boxes[keep], offsets[keep])
        boxes[:, 4] = scores[keep]
        boxes = _square(boxes[nms(boxes[:, :4], boxes[:, 4], NMS_RNET)])
        if not len(boxes):
            return np.empty((0, 15), np.float32)
        offsets, marks, scores = self._nets.onet(pixels, _relative(boxes, w, h))
        keep = scores > THRESHOLDS[2]
        boxes, offsets, marks, scores = boxes[keep], offsets[keep], marks[keep], scores[keep]
        bw = boxes[:, 2:3] - boxes[:, 0:1] + 1
        bh = boxes[:, 3:4] - boxes[:, 1:2] + 1
        marks = np.hstack([bw * marks[:, :5] + boxes[:, 0:1] - 1, bh * marks[:, 5:] + boxes[:, 1:2] - 1])
        boxes = _regress(boxes, offsets)
        boxes[:, 4] = scores
        keep = nms(boxes[:, :4], scores, NMS_ONET, method="min")
        out = np.hstack([boxes[keep], marks[keep]])
        out[:, [0, 2]] = np.clip(out[:, [0, 2]], 0, w - 1)
        out[:, [1, 3]] = np.clip(out[:, [1, 3]], 0, h - 1)
        return out


def pyramid(image: np.ndarray, min_face_px: int) -> tuple[list[np.ndarray], list[float]]:
    """The scale pyramid P-Net runs over: levels (uint8 HxWx3) and their scales, from the
    one where a ``min_face_px`` face (at least 12) is P-Net's 12 px window down to a 12 px
    level."""
    import cv2

    h, w = image.shape[:2]
    scale = _CELL / max(int(min_face_px), _CELL)
    levels, scales = [], []
    while min(h, w) * scale >= _CELL:
        size = (int(w * scale), int(h * scale))
        # The first two levels are resized from the image, each later one from the first
        # or second level (whichever is a power of two of 0.709 away): one resampling
        # step more than resizing everything from the image, at a quarter of the cost.
        # Chaining level from level blurred the small levels (those that find large
        # faces) enough to cost LFW accuracy and to make a helmet ring a face.
        source = image if len(levels) < 2 else levels[len(levels) % 2]
        levels.append(cv2.resize(source, size, interpolation=cv2.INTER_AREA))
        scales.append(scale)
        scale *= SCALE_FACTOR
    return levels, scales


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, method: str = "union") -> np.ndarray:
    """Greedy non-maximum suppression: indices of the boxes kept, best score first. Overlap
    is intersection over union, or over the smaller box (``method="min"``)."""
    if method == "union" and len(boxes) and np.min(scores) > 0:
        import cv2

        # OpenCV's is the same greedy algorithm (equal scores in the same order), in C++:
        # 10x faster on the ~200 P-Net candidates of a 1000x700 photo. It reads the scores
        # as float32 and drops those not above 0 (never a face probability past P-Net).
        xywh = np.column_stack([boxes[:, :2], boxes[:, 2:4] - boxes[:, :2]]).astype(np.float64)
        keep = cv2.dnn.NMSBoxes(xywh.tolist(), np.asarray(scores, np.float32).tolist(), 0.0, threshold)
        return np.asarray(keep, dtype=np.int64).reshape(-1)
    return _greedy_nms(boxes, scores, threshold, method)


def _greedy_nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, method: str) -> np.ndarray:
    order = np.argsort(-scores, kind="stable")
    x1, y1, x2, y2 = (boxes[:, i] for i in range(4))
    area = (x2 - x1) * (y2 - y1)
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        inter = (np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0, None)
                 * np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0, None))
        denom = area[i] + area[rest] - inter if method == "union" else np.minimum(area[i], area[rest])
        order = rest[inter <= threshold * np.maximum(denom, 1e-12)]
    return np.asarray(keep, dtype=np.int64)


def _square(boxes: np.ndarray) -> np.ndarray:
    """Each box grown to a square around its centre (side = its longer side)."""
    boxes = boxes.copy()
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    boxes[:, 0] += (w - side) / 2
    boxes[:, 1] += (h - side) / 2
    boxes[:, 2] = boxes[:, 0] + side
    boxes[:, 3] = boxes[:, 1] + side
    return boxes


def _regress(boxes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Apply a network's box corrections (fractions of the box's size)."""
    boxes = boxes.copy()
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    boxes[:, :4] += offsets * np.stack([w, h, w, h], axis=1)
    return boxes


def _relative(boxes: np.ndarray, w: int, h: int) -> np.ndarray:
    """Boxes as crop_and_resize wants them: y1, x1, y2, x2 as fractions of the image."""
    return (boxes[:, [1, 0, 3, 2]] / np.array([h, w, h, w])).astype(np.float32)


class _TensorFlowNets:
    """The three networks as TensorFlow graphs (GPU, or no LiteRT): P-Net over the whole
    pyramid in one call (module docstring: a graph call costs as much as a small level),
    R-Net and O-Net cropping their candidates inside their graphs."""

    runtime = "tensorflow"

    def __init__(self, tf):
        for weight in MTCNN_WEIGHTS:
            locate(weight)
        from mtcnn.stages import StageONet, StagePNet, StageRNet

        self._tf = tf
        self._pnet = _pnet_graph(tf, StagePNet()._model)
        self._rnet = _patch_graph(tf, StageRNet()._model, 24)
        self._onet = _patch_graph(tf, StageONet()._model, 48)

    def image(self, image: np.ndarray):
        return self._tf.constant(image)

    def pnet(self, levels: list[np.ndarray], scales: list[float]) -> tuple[np.ndarray, np.ndarray]:
        return tuple(t.numpy() for t in self._pnet(*pyramid_inputs(self._tf, levels, scales)))

    def rnet(self, pixels, relative: np.ndarray):
        return tuple(t.numpy() for t in self._rnet(pixels, self._tf.constant(relative)))

    def onet(self, pixels, relative: np.ndarray):
        return tuple(t.numpy() for t in self._onet(pixels, self._tf.constant(relative)))


class _LiteNets:
    """The three networks in LiteRT (XNNPACK, float32), converted once per machine from the
    mtcnn package's weights with the same arithmetic as the TensorFlow graphs (the input
    normalisation folded into P-Net's first convolution, its heads as one convolution).
    P-Net runs level by level (a LiteRT call costs microseconds, not a TensorFlow graph
    call's 0.4 ms); the candidates are cut as TensorFlow's crop_and_resize cuts them."""

    runtime = "litert"

    def __init__(self, threads: int = 0):
        from . import lite

        pnet_w, rnet_w, onet_w = MTCNN_WEIGHTS
        # P-Net runs a level shape seen before on its own interpreter (lite.ShapePool: two
        # photo sizes' pyramids), any other in tiles (PNetTiles); R-Net and O-Net resize
        # theirs to each photo's candidates
        # (padding the candidates to a few batch sizes measured slower: docs/performance.md)
        pool = lite.load_cached("mtcnn-pnet", pnet_w.sha256, lambda: _convert("pnet", threads), threads,
                                shapes=PNET_SHAPES, max_elements=PNET_POOLED_VALUES)
        self._pnet = PNetTiles(pool)
        self._rnet = lite.load_cached("mtcnn-rnet", rnet_w.sha256, lambda: _convert("rnet", threads), threads)
        self._onet = lite.load_cached("mtcnn-onet", onet_w.sha256, lambda: _convert("onet", threads), threads)

    def image(self, image: np.ndarray) -> np.ndarray:
        return image

    def pnet(self, levels: list[np.ndarray], scales: list[float]) -> tuple[np.ndarray, np.ndarray]:
        all_boxes, all_scores = [], []
        for level, scale in zip(levels, scales):
            boxes, scores = _level_boxes(self._pnet(level), scale)
            keep = nms(boxes, scores, NMS_PNET_LEVEL)
            all_boxes.append(boxes[keep])
            all_scores.append(scores[keep])
        return np.concatenate(all_boxes), np.concatenate(all_scores)

    def rnet(self, image: np.ndarray, relative: np.ndarray):
        offsets, probs = self._rnet(crop_and_resize(image, relative, 24))
        return offsets, probs[:, 1]

    def onet(self, image: np.ndarray, relative: np.ndarray):
        offsets, marks, probs = self._onet(crop_and_resize(image, relative, 48))
        return offsets, marks, probs[:, 1]


def _level_boxes(y: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """One pyramid level's P-Net output (h, w, 6: 4 box corrections, 2 class logits) ->
    candidate boxes (x1 y1 x2 y2, in the image's pixels) and face probabilities."""
    prob = 1.0 / (1.0 + np.exp(y[..., 4] - y[..., 5]))  # the 2-way softmax's face probability
    rows, cols = np.nonzero(prob > THRESHOLDS[0])
    scores = prob[rows, cols].astype(np.float32)
    reg = y[rows, cols, :4]
    corners = np.column_stack([cols, rows, cols, rows]).astype(np.float32) * _STRIDE
    corners[:, 2:] += _CELL
    return ((corners + reg * _CELL) / np.float32(scale)).astype(np.float32), scores


def crop_and_resize(image: np.ndarray, relative: np.ndarray, size: int, outside: float = 127.5) -> np.ndarray:
    """TensorFlow's crop_and_resize (bilinear) in numpy: each box (y1 x1 y2 x2 as fractions
    of the image, mapped to pixel centres 0..H-1) cut at size x size as float32; samples
    outside the image are ``outside`` (mid-grey, which normalises to 0)."""
    h, w = image.shape[:2]
    n = len(relative)
    steps = np.arange(size, dtype=np.float32) / (size - 1)
    y1, x1, y2, x2 = (relative[:, i:i + 1].astype(np.float32) for i in range(4))
    ys = y1 * (h - 1) + steps * (y2 - y1) * (h - 1)  # (n, size)
    xs = x1 * (w - 1) + steps * (x2 - x1) * (w - 1)
    inside = ((ys >= 0) & (ys <= h - 1))[:, :, None] & ((xs >= 0) & (xs <= w - 1))[:, None, :]
    y0 = np.clip(np.floor(ys), 0, h - 1).astype(np.intp)
    x0 = np.clip(np.floor(xs), 0, w - 1).astype(np.intp)
    y1i = np.clip(np.ceil(ys), 0, h - 1).astype(np.intp)
    x1i = np.clip(np.ceil(xs), 0, w - 1).astype(np.intp)
    fy = (ys - np.floor(ys))[:, :, None, None]
    fx = (xs - np.floor(xs))[:, None, :, None]
    # gather the four neighbours from the uint8 image seen as rows of pixels (no float copy
    # of the whole image; np.take on flat indices is 1.5x numpy's two-axis indexing here)
    flat = np.ascontiguousarray(image).reshape(h * w, 3)
    rows0, rows1 = (y0 * w)[:, :, None], (y1i * w)[:, :, None]
    cols0, cols1 = x0[:, None, :], x1i[:, None, :]
    tl, tr = (np.take(flat, rows0 + c, axis=0).astype(np.float32) for c in (cols0, cols1))
    bl, br = (np.take(flat, rows1 + c, axis=0).astype(np.float32) for c in (cols0, cols1))
    top = tl + (tr - tl) * fx
    bottom = bl + (br - bl) * fx
    out = top + (bottom - top) * fy
    out[~inside] = outside
    return out.reshape(n, size, size, 3)


def _pnet_features(tf, model):
    """P-Net's layers as a function of float32 (1, H, W, 3) pixels (0-255) -> (1, h, w, 6):
    4 box corrections and 2 class logits per 12 px window (stride 2)."""
    layers = {layer.name: layer.get_weights() for layer in model.layers}
    k1, b1 = layers["conv1"]
    # (x - 127.5) / 128 folded into the first convolution (its padding is "valid")
    b1 = b1 - 127.5 / 128 * k1.sum(axis=(0, 1, 2))
    k1 = k1 / 128
    head_k = np.concatenate([layers["conv4-1"][0], layers["conv4-2"][0]], axis=-1)
    head_b = np.concatenate([layers["conv4-1"][1], layers["conv4-2"][1]])
    const = lambda a: tf.constant(np.asarray(a, np.float32))  # noqa: E731
    k1, b1, head_k, head_b = const(k1), const(b1), const(head_k), const(head_b)
    k2, b2 = (const(a) for a in layers["conv2"])
    k3, b3 = (const(a) for a in layers["conv3"])
    a1, a2, a3 = (layers[n][0].reshape(-1) for n in ("prelu1", "prelu2", "prelu3"))

    def prelu(x, alpha):
        # max(x, a x) is PReLU exactly when every a <= 1 (prelu2 and prelu3): two passes
        # over the feature map instead of five; prelu1 has a channel at 1.012
        if (alpha <= 1).all():
            return tf.maximum(x, const(alpha) * x)
        return tf.nn.relu(x) + const(-alpha) * tf.nn.relu(-x)

    def features(x):
        x = prelu(tf.nn.bias_add(tf.nn.conv2d(x, k1, 1, "VALID"), b1), a1)
        x = tf.nn.max_pool2d(x, 2, 2, "SAME")
        x = prelu(tf.nn.bias_add(tf.nn.conv2d(x, k2, 1, "VALID"), b2), a2)
        x = prelu(tf.nn.bias_add(tf.nn.conv2d(x, k3, 1, "VALID"), b3), a3)
        return tf.nn.bias_add(tf.nn.conv2d(x, head_k, 1, "VALID"), head_b)

    return features


def _convert(stage: str, threads: int = 0) -> bytes:
    """One MTCNN stage as a LiteRT model (float32): P-Net takes uint8 (1, H, W, 3) pixels,
    R-Net and O-Net float32 (N, size, size, 3) pixels (0-255); their outputs as the
    TensorFlow graphs give them."""
    from . import lite

    tf = tensorflow("cpu", threads)
    for weight in MTCNN_WEIGHTS:
        locate(weight)
    from mtcnn.stages import StageONet, StagePNet, StageRNet

    if stage == "pnet":
        features = _pnet_features(tf, StagePNet()._model)

        @tf.function(input_signature=[tf.TensorSpec([1, None, None, 3], tf.uint8)])
        def run(pixels):
            return features(tf.cast(pixels, tf.float32))
    else:
        model, size = (StageRNet()._model, 24) if stage == "rnet" else (StageONet()._model, 48)

        @tf.function(input_signature=[tf.TensorSpec([None, size, size, 3], tf.float32)])
        def run(patches):
            return model((patches - 127.5) / 128, training=False)

    return lite.convert_function(tf, run)


def pyramid_inputs(tf, levels: list[np.ndarray], scales: list[float]) -> tuple:
    """The P-Net graph's inputs for these pyramid levels: their pixels flattened one after
    the other, their (H, W) and their scales."""
    flat = np.concatenate([level.reshape(-1) for level in levels])
    shapes = np.array([level.shape[:2] for level in levels], np.int32)
    return tf.constant(flat), tf.constant(shapes), tf.constant(scales, tf.float32)


def _pnet_graph(tf, model):
    """P-Net over a whole pyramid in one call: the levels (uint8, each HxWx3) flattened one
    after the other, their (H, W), and their scales -> candidate boxes in the original
    image's pixels and their scores, level by level, after each level's own non-maximum
    suppression."""
    features = _pnet_features(tf, model)

    def level_boxes(level, scale):
        y = features(tf.cast(level, tf.float32)[None])[0]
        prob = tf.sigmoid(y[..., 5] - y[..., 4])  # the 2-way softmax's face probability
        where = tf.where(prob > THRESHOLDS[0])
        scores = tf.gather_nd(prob, where)
        reg = tf.gather_nd(y[..., :4], where)
        yx = tf.cast(where, tf.float32) * _STRIDE
        corners = tf.concat([yx[:, ::-1], yx[:, ::-1] + _CELL], axis=1)  # x1 y1 x2 y2
        boxes = (corners + reg * _CELL) / scale
        keep = tf.image.non_max_suppression(tf.gather(boxes, [1, 0, 3, 2], axis=1), scores,
                                            tf.shape(scores)[0], NMS_PNET_LEVEL)
        return tf.gather(boxes, keep), tf.gather(scores, keep)

    @tf.function(autograph=False, input_signature=[
        tf.TensorSpec([None], tf.uint8), tf.TensorSpec([None, 2], tf.int32), tf.TensorSpec([None], tf.float32)])
    def pyramid(flat, shapes, scales):
        sizes = shapes[:, 0] * shapes[:, 1] * 3
        starts = tf.cumsum(sizes, exclusive=True)
        n = tf.shape(scales)[0]
        empty = lambda shape: tf.TensorArray(tf.float32, size=n, infer_shape=False,  # noqa: E731
                                             element_shape=tf.TensorShape(shape))

        def body(i, all_boxes, all_scores):
            level = tf.reshape(flat[starts[i]:starts[i] + sizes[i]], tf.concat([shapes[i], [3]], 0))
            boxes, scores = level_boxes(level, scales[i])
            return i + 1, all_boxes.write(i, boxes), all_scores.write(i, scores)

        _, all_boxes, all_scores = tf.while_loop(lambda i, *_: i < n, body, (0, empty([None, 4]), empty([None])),
                                                 parallel_iterations=1)
        return all_boxes.concat(), all_scores.concat()

    return pyramid.get_concrete_function()


def _patch_graph(tf, model, size: int):
    """R-Net or O-Net on candidate boxes cut from the image (uint8 HxWx3) at size x size:
    the network's outputs, face probability last as a vector."""

    @tf.function(autograph=False, input_signature=[
        tf.TensorSpec([None, None, 3], tf.uint8), tf.TensorSpec([None, 4], tf.float32)])
    def run(image, boxes):
        # outside the image is mid-grey, which normalises to 0 as in the mtcnn package
        patches = tf.image.crop_and_resize(image[None], boxes, tf.zeros(tf.shape(boxes)[:1], tf.int32),
                                           (size, size), extrapolation_value=127.5)
        *outs, probs = model((patches - 127.5) / 128, training=False)
        return (*outs, probs[:, 1])

    return run.get_concrete_function()  # called directly: no argument binding per call
