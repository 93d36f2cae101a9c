"""dlib's descriptor in photoface, checked against dlib itself.

    python benchmarks/dlib_chips.py template SETS --lfw ../shared/data/lfw/lfw-deepfunneled
    python benchmarks/dlib_chips.py reference          # rewrites tests/data/dlib_reference.npz

``template``: where MTCNN's five landmarks fall on dlib's aligned chip. For a sample of faces
(120 LFW photos, 60 of celeb5, 80 of actors5, stock: the fit; 60 other LFW photos, every
fourth of celeb24, family and bbt: the check), dlib's HOG detector, 5-point shape predictor
and chip (get_face_chip_details, padding 0.25) are run in dlib's own environment
(dlib_baseline.ensure_venv); photoface's MTCNN finds the same face, its landmarks are mapped
by the transform dlib's shape gives, and the median over the fit is the template
(align.DLIB_CHIP_LANDMARKS). MTCNN's landmarks as fractions of its box are the fallback for a
face drawn by hand (align.BOX_LANDMARKS). Then, on the check faces, the distance between
dlib's own descriptor and photoface's (align.dlib_chip with the template, the network of
models/dlib_resnet.py) is printed, with landmarks and from the box alone, next to the
median distance between different faces.

``reference``: dlib's own chips and descriptors of four committed photos, for
tests/test_dlib_resnet.py.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

#: dlib's 5-point chip template (dlib/image_transforms/interpolation.h), before padding:
#: right eye corners, left eye corners (the person's), nose base
DLIB_5 = np.array([[0.8595674595992, 0.2134981538014], [0.6460604764104, 0.2289674387677],
                   [0.1205750620789, 0.2137274526848], [0.3340850613712, 0.2290642403242],
                   [0.4901123135679, 0.6277975316475]])
REFERENCE_PHOTOS = ["photos/obama.jpg", "photos/biden.jpg", "photos/astronaut.jpg",
                    "family/Family1-Daughter/Family1-Daughter1.jpg"]
TESTS_DATA = Path(__file__).resolve().parent.parent / "tests" / "data"


def dlib_side(listing: str, out: str) -> None:
    """Runs in dlib's environment: for each photo of ``listing`` with a face, the largest
    face's box, 5-point shape, chip (150 px, padding 0.25) and descriptors of the chip and
    of the photo."""
    import dlib
    import face_recognition_models as frm
    from PIL import Image, ImageOps

    shapes = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
    resnet = dlib.face_recognition_model_v1(frm.face_recognition_model_location())
    detector = dlib.get_frontal_face_detector()
    found = {k: [] for k in ("paths", "boxes", "shapes", "chips", "chip_descriptors", "photo_descriptors")}
    for path in json.loads(Path(listing).read_text()):
        with Image.open(path) as im:
            rgb = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
        faces = detector(rgb, 1)
        if not faces:
            continue
        face = max(faces, key=lambda r: r.area())
        shape = shapes(rgb, face)
        chip = dlib.get_face_chip(rgb, shape, 150, 0.25)
        found["paths"].append(path)
        found["boxes"].append([face.left(), face.top(), face.right(), face.bottom()])
        found["shapes"].append([(shape.part(i).x, shape.part(i).y) for i in range(5)])
        found["chips"].append(chip)
        found["chip_descriptors"].append(np.asarray(resnet.compute_face_descriptor(chip), np.float32))
        found["photo_descriptors"].append(np.asarray(resnet.compute_face_descriptor(rgb, shape), np.float32))
    np.savez_compressed(out, **{k: np.array(v) for k, v in found.items()}, dlib_version=dlib.__version__)


def run_dlib(paths: list[str], out: str) -> dict:
    from dlib_baseline import ensure_venv

    with tempfile.TemporaryDirectory() as tmp:
        listing = os.path.join(tmp, "photos.json")
        Path(listing).write_text(json.dumps(paths))
        subprocess.run([ensure_venv(), os.path.abspath(__file__), "dlib-side", listing, out], check=True)
    return dict(np.load(out))


def mtcnn_faces(found: dict) -> list:
    """photoface's detection of the face dlib found in each photo (None where MTCNN finds none)."""
    from photoface.decode import decode_image
    from photoface.models.detector import MTCNNDetector

    detector, out = MTCNNDetector(threads=1), []
    for path, box in zip(found["paths"], found["boxes"]):
        rgb = decode_image(Path(str(path)).read_bytes()).rgb
        centre = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
        faces = detector.detect(rgb)
        out.append((rgb, min(faces, key=lambda d: np.hypot((d.x1 + d.x2) / 2 - centre[0],
                                                           (d.y1 + d.y2) / 2 - centre[1])) if faces else None))
    return out


def template(args) -> None:
    from photoface.align import BOX_LANDMARKS, DLIB_CHIP_LANDMARKS, dlib_chip, similarity_transform
    from photoface.models.dlib_resnet import DlibResNet
    from photoface.types import Detection

    rng = random.Random(1)
    lfw = sorted(glob.glob(os.path.join(args.lfw, "*", "*.jpg")))
    rng.shuffle(lfw)
    sets = Path(args.sets)

    def photos(name: str) -> list[str]:
        return sorted(str(p) for p in (sets / name).glob("*/*") if p.is_file())

    fit = lfw[:120] + photos("celeb5")[:60] + photos("actors5")[:80] + photos("stock")
    check = lfw[120:180] + photos("celeb24")[::4] + photos("family") + photos("bbt")
    with tempfile.TemporaryDirectory() as tmp:
        fitted, checked = run_dlib(fit, os.path.join(tmp, "fit.npz")), run_dlib(check, os.path.join(tmp, "check.npz"))
    on_chip, on_box = [], []
    for (rgb, face), shape in zip(mtcnn_faces(fitted), fitted["shapes"]):
        if face is None:
            continue
        m = similarity_transform(np.asarray(shape, np.float64), DLIB_5)  # photo -> dlib's unpadded chip
        points = np.asarray(face.landmarks) @ m[:, :2].T + m[:, 2]
        if np.abs(points - points.mean(axis=0)).max() < 1.5:  # not another face than dlib's
            on_chip.append(points)
            on_box.append((np.asarray(face.landmarks) - [face.x1, face.y1]) / [face.width, face.height])
    print(f"fit: {len(on_chip)} faces")
    print("MTCNN's landmarks on dlib's chip (median):", np.round(np.median(on_chip, axis=0), 4).tolist(),
          "shipped:", DLIB_CHIP_LANDMARKS.tolist())
    print("MTCNN's landmarks in its box (median):", np.round(np.median(on_box, axis=0), 3).tolist(),
          "shipped:", BOX_LANDMARKS.tolist())
    net, ours, boxed, theirs = DlibResNet(threads=1), [], [], []
    for (rgb, face), descriptor in zip(mtcnn_faces(checked), checked["photo_descriptors"]):
        if face is not None:
            ours.append(dlib_chip(rgb, face))
            boxed.append(dlib_chip(rgb, Detection(face.x1, face.y1, face.x2, face.y2, 1.0, ())))
            theirs.append(descriptor)
    theirs = np.array(theirs)
    between = np.linalg.norm(theirs[:, None] - theirs[None], axis=2)[np.triu_indices(len(theirs), 1)]
    print(f"check: {len(theirs)} faces; dlib's own descriptors of different photos lie a median "
          f"{np.median(between):.3f} apart")
    for label, chips in (("landmarks", ours), ("box alone", boxed)):
        d = np.linalg.norm(net.describe(np.stack(chips)) - theirs, axis=1)
        print(f"photoface's chip from {label}: {np.median(d):.3f} from dlib's own descriptor (median), "
              f"90th percentile {np.percentile(d, 90):.3f}, max {d.max():.3f}")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "dlib-side":
        dlib_side(sys.argv[2], sys.argv[3])
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    t = sub.add_parser("template")
    t.add_argument("sets")
    t.add_argument("--lfw", required=True)
    sub.add_parser("reference")
    args = ap.parse_args()
    if args.command == "template":
        template(args)
    else:
        out = TESTS_DATA / "dlib_reference.npz"
        found = run_dlib([str(TESTS_DATA / p) for p in REFERENCE_PHOTOS], str(out))
        found["paths"] = np.array(REFERENCE_PHOTOS)
        np.savez_compressed(out, **{k: found[k] for k in ("paths", "boxes", "chips", "chip_descriptors",
                                                          "photo_descriptors")})
        print(f"{out}: {len(found['paths'])} faces, dlib {found['dlib_version']}")


if __name__ == "__main__":
    main()
