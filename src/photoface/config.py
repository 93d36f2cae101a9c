"""Every tunable default of photoface, in one place."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .errors import InputError

#: The embedding stored in faces.model: FaceNet 20180408-102900 on a 20% margin crop with
#: the shared centre removed (models/facenet.md). Faces stored under an older name are
#: re-embedded by the next `photoface index` (their boxes are kept, names too).
FACENET_MODEL = "facenet-20180408-102900-centred"
PRECISIONS = ("auto", "fp32", "bf16", "int8", "int8-static")  # FaceNet's arithmetic (Settings.embed_precision)
DEVICES = ("auto", "cpu", "gpu")  # where TensorFlow runs (Settings.device)
LEGACY_FACENET_MODELS = ("facenet-20180408-102900",)  # 30% margin, raw network output
MTCNN_MODEL = "mtcnn-1.0.0"
#: The second descriptor stored for each face (face_descriptors): dlib's ResNet on a chip
#: aligned by MTCNN's landmarks (models/dlib_resnet.py). Clustering uses it with FaceNet's.
DLIB_MODEL = "dlib-resnet-v1-mtcnn-chip"
#: The weight of dlib's (centred, unit) descriptor next to FaceNet's unit embedding in the
#: vectors faces are clustered on (vectors.fused), chosen on the clustering suite with the
#: held-out set kept out (docs/people.md, "A second embedding"): 0.3-0.45 give the worst set
#: (actors5) the same 0.843; 0.5 and above lose it 0.03-0.04 as its two look-alike
#: actresses draw together; 0.4 also gives all of LFW +0.013 and celeb24 +0.020.
SECOND_DESCRIPTOR_WEIGHT = 0.4
AGE_GENDER_MODEL = "wrn16x8-imdbwiki-agender"
EMOTION_MODEL = "mini-xception-fer2013"


@dataclass(frozen=True)
class Settings:
    """Indexing settings. Workers receive a copy; nothing here holds a model."""

    # decode
    decode_max_side_px: int = 1600  # faces are cropped from the photo decoded at least this large (a JPEG at its DCT scale, < 2x this)
    detect_max_side_px: int = 1024  # MTCNN runs on an image at most this large
    max_pixels: int = 180_000_000  # larger images are refused as decompression bombs
    max_decode_mb: int = 1024  # an image whose decoding would take more memory is refused (decode.decode_bytes_needed)
    max_decode_seconds: float = 30.0  # decoding one file gives up after this long (decode.TimedBytes; docs/security.md)
    # detect
    min_face_px: int = 20  # at detection resolution; the pyramid starts here (fewer, smaller levels above it)
    min_score: float = 0.80  # MTCNN's own default is 0.7; see models/mtcnn.md for what 0.8-0.9 holds
    # align
    crop_size_px: int = 160
    crop_margin: float = 0.20  # total margin added around the box, as a fraction of its size (docs/quality.md)
    # embed
    embed_batch: int = 64
    embed_precision: str = "auto"  # auto | fp32 | bf16 | int8 | int8-static: int8-static on AVX2-only CPUs, int8 (LiteRT) on other CPUs, fp32 on a GPU (models/facenet.py)
    device: str = "auto"  # auto | cpu | gpu
    # age, gender and expression for each face (two more networks per face; off by default)
    attributes: bool = False
    # dlib's descriptor of each face next to FaceNet's, for clustering (about 7 ms a face on one core)
    describe: bool = True
    # video: a frame every video_every_s seconds and at each scene cut; faces linked into tracks
    video_every_s: float = 1.0
    video_cut_threshold: float = 30.0  # mean grey-level change between frames 0.2 s apart (0: off)
    video_max_side_px: int = 1024  # like detect_max_side_px, for video frames
    # `photoface annotate`: detect and recognize every annotate_every frames (optical flow in between)
    annotate_every: int = 5
    annotate_max_side_px: int = 640  # frames are detected and tracked at most this large
    # parallel
    partition_size: int = 16  # photos per Dask task
    # face tags other apps wrote (MWG, Microsoft regions, PersonInImage): read after indexing
    read_tags: bool = True

    def __post_init__(self):
        check_choice("device", self.device, DEVICES)
        check_choice("precision", self.embed_precision, PRECISIONS)
        _check_numbers(self, minimum={"decode_max_side_px": 64, "detect_max_side_px": 64, "max_pixels": 1,
                                      "max_decode_mb": 16, "max_decode_seconds": 0.1,
                                      "min_face_px": 12, "crop_size_px": 16, "embed_batch": 1, "partition_size": 1,
                                      "video_every_s": 0.01, "video_max_side_px": 64,
                                      "annotate_every": 1, "annotate_max_side_px": 64, "crop_margin": 0.0,
                                      "video_cut_threshold": 0.0},
                       fractions=("min_score",))


#: A face is given a known person's name (gallery, classifier, video annotation) only
#: within this distance of that person's faces: stricter than the 1:1 threshold, whose
#: false-match rate (about 1e-2) is too high for naming; 0.95 is about 1e-4 over pairs
#: of LFW's main faces (models/facenet.md).
NAMING_DISTANCE = 0.95

#: A name this similar to another person's (difflib's ratio, in any case) is taken for a
#: misspelling of it and asked about ("did you mean"): one or two letters wrong in a full
#: name scores 0.85-0.96; different people's names ("Ben Affleck", "Mindy Kaling") under 0.4;
#: siblings' names ("Anna Smith", "Anne Smith": 0.9) are asked about once (`--new`).
NEAR_NAME_RATIO = 0.8

#: Two boxes of one photo overlapping this much (intersection over union) are the same face:
#: a box drawn over a stored face (add-face refuses it), a re-indexed photo's face where an
#: old one lay (it keeps that one's person), a region photoface wrote earlier (replaced). The
#: same photo decoded again puts MTCNN's box within a pixel or two (IoU > 0.9).
SAME_FACE_IOU = 0.5
#: A face region another app drew and a detected face overlapping this much are one face.
#: Apps draw regions looser or tighter than MTCNN's box: a region with the same centre 1.5x
#: as wide and high overlaps it by 0.44, 1.8x by 0.31; two faces side by side overlap by 0.
SAME_REGION_IOU = 0.3

#: Distance between two FaceNet embeddings (Euclidean, unit vectors) below which two
#: faces are taken to be the same person. See models/facenet.md for how it was chosen.
SAME_PERSON_DISTANCE = 1.15


#: A person's faces are put to the user as "maybe someone else" (review.maybe_someone_else)
#: where the weakest cut of their k-NN graph (decided.weakest_cut) has a conductance below
#: this, with at least SPLIT_QUESTION_MIN_FACES faces on its smaller side and none of them
#: placed by the user. Chosen on the clustering suite with the held-out set kept out: 0.1
#: asks about actors5's merged actresses (0.07) and its Amitabh Bachchan of two eras (0.03)
#: and about nothing on the other sets; 0.2 also asks about one person of all of LFW's
#: (Colin Powell, 0.19) (docs/people.md, "Maybe someone else").
SPLIT_QUESTION_CONDUCTANCE = 0.1
SPLIT_QUESTION_MIN_FACES = 3
#: People with more faces are not examined (their cut takes about 0.2 s at this size); the
#: review page examines the largest people first, at most this many, for at most this long.
SPLIT_QUESTION_MAX_FACES = 2000
SPLIT_QUESTION_PEOPLE = 50
SPLIT_QUESTION_SECONDS = 2.0


@dataclass(frozen=True)
class ClusterSettings:
    """How faces become people. The values are chosen from measurements: see docs/people.md."""

    # HDBSCAN on the k-NN graph
    min_cluster_size: int = 2
    min_samples: int = 2
    n_neighbors: int = 15
    cluster_selection_epsilon: float = 0.0
    cluster_selection_method: str = "eom"  # HDBSCAN's: eom (excess of mass) or leaf
    single_cluster_radius: float = 1.05  # when HDBSCAN allows only one cluster, its faces within this of the medoid
    # clusters are split where only longer links join their faces; the longest link kept
    # shrinks as the library grows (FaceClusterer.longest_link) unless link_distance is set
    link_distance: float = 0.0  # > 0: this longest link at any size (learned by `calibrate --from-names`)
    max_link_distance: float = 1.0  # up to max_link_from_faces faces
    max_link_from_faces: int = 500
    max_link_per_decade: float = 0.1  # shorter by this per tenfold more faces
    min_link_distance: float = 0.85
    pair_distance: float = 0.9  # two unclustered faces nearest to each other within this form a cluster (0: off)
    # a cluster holding two people the user named or placed faces in, or a person's faces and
    # faces the user rejected from them, is split along its shortest links (split_by_decisions)
    split_by_decisions: bool = True
    # faces that may form clusters; the others are only attached afterwards
    min_face_px: float = 0.0  # shorter side of the face box, in photo pixels
    min_score: float = 0.95
    min_sharpness: float = 20.0  # variance of the Laplacian of the 160 px grey crop
    # attaching left-over faces to a cluster during a clustering run: within the longest
    # link less attach_below_link (FaceClusterer.attach_within), unless attach_distance is set
    attach_distance: float = 0.0  # > 0: this distance at any size (learned by `calibrate --from-names`)
    attach_below_link: float = 0.1  # 0.05 with FaceNet alone; fused, 0.1 keeps celeb5 whole (docs/people.md)
    # ... and, beyond it, to a cluster whose own faces are spread (FaceClusterer.cluster_radii)
    spread_quantile: float = 0.9
    spread_margin: float = 0.2
    spread_max_distance: float = 1.1  # at most this far (at most the attach distance: off)
    spread_votes: int = 3  # the face's this many nearest faces must all be of that cluster
    # incremental assignment of new faces to existing people
    assign_distance: float = 0.85
    assign_margin: float = 0.05
    assign_neighbors: int = 10
    # a run re-clusters every face while the library has at most this many (0: incremental
    # whenever people exist); a full run of 10,000 faces takes about 2 s (docs/people.md)
    full_run_faces: int = 10000

    def __post_init__(self):
        check_choice("cluster selection method", self.cluster_selection_method, ("eom", "leaf"))
        _check_numbers(self, minimum={"min_cluster_size": 2, "min_samples": 1, "single_cluster_radius": 0.0, "n_neighbors": 2, "assign_neighbors": 1, "spread_votes": 1, "full_run_faces": 0,
                                      "max_link_from_faces": 1, "max_link_per_decade": 0.0, "link_distance": 0.0, "min_link_distance": 0.0,
                                      "cluster_selection_epsilon": 0.0, "max_link_distance": 0.0,
                                      "pair_distance": 0.0, "min_face_px": 0.0, "min_sharpness": 0.0,
                                      "attach_distance": 0.0, "attach_below_link": 0.0, "spread_margin": 0.0, "spread_max_distance": 0.0, "assign_distance": 0.0, "assign_margin": 0.0},
                       fractions=("min_score", "spread_quantile"))


def check_choice(what: str, value: str, choices: tuple[str, ...]) -> str:
    """``value`` if it is one of ``choices``, else an InputError naming them."""
    if value not in choices:
        raise InputError(f"unknown {what} {value!r}: use {', '.join(choices[:-1])} or {choices[-1]}")
    return value


def _check_numbers(settings, minimum: dict[str, float], fractions: tuple[str, ...] = ()) -> None:
    for name, low in minimum.items():
        if getattr(settings, name) < low:
            raise InputError(f"{name} must be at least {low:g}, got {getattr(settings, name)!r}")
    for name in fractions:
        if not 0 <= getattr(settings, name) <= 1:
            raise InputError(f"{name} must be between 0 and 1, got {getattr(settings, name)!r}")


def with_overrides(settings, overrides: list[str]):
    """A copy of a settings dataclass with NAME=VALUE changes (typed like each field); a bad
    name or value is an InputError."""
    fields = {f.name: f.type for f in dataclasses.fields(settings)}
    changes = {}
    for item in overrides:
        name, _, value = item.partition("=")
        if name not in fields or not value:
            raise InputError(f"--set {item!r}: expected NAME=VALUE with NAME one of {', '.join(fields)}")
        kind = fields[name] if isinstance(fields[name], str) else fields[name].__name__
        try:
            changes[name] = {"int": int, "float": float, "bool": _boolean, "str": str}[kind](value)
        except (KeyError, ValueError):
            raise InputError(f"--set {item!r}: {value!r} is not a valid {kind}") from None
    return dataclasses.replace(settings, **changes)


def _boolean(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(text)
