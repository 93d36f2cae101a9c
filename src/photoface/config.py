"""Every tunable default of photoface, in one place."""
from __future__ import annotations

from dataclasses import dataclass

#: The embedding stored in faces.model: FaceNet 20180408-102900 on a 20% margin crop with
#: the shared centre removed (models/facenet.md). Faces stored under an older name are
#: re-embedded by the next `photoface index` (their boxes are kept, names too).
FACENET_MODEL = "facenet-20180408-102900-centred"
PRECISIONS = ("auto", "fp32", "bf16")  # FaceNet's arithmetic (Settings.embed_precision)
LEGACY_FACENET_MODELS = ("facenet-20180408-102900",)  # 30% margin, raw network output
MTCNN_MODEL = "mtcnn-1.0.0"
AGE_GENDER_MODEL = "wrn16x8-imdbwiki-agender"
EMOTION_MODEL = "mini-xception-fer2013"


@dataclass(frozen=True)
class Settings:
    """Indexing settings. Workers receive a copy; nothing here holds a model."""

    # decode
    decode_max_side_px: int = 1600  # faces are cropped from the photo decoded at least this large (a JPEG at its DCT scale, < 2x this)
    detect_max_side_px: int = 1024  # MTCNN runs on an image at most this large
    max_pixels: int = 180_000_000  # larger images are refused as decompression bombs
    # detect
    min_face_px: int = 20  # at detection resolution; the pyramid starts here (fewer, smaller levels above it)
    min_score: float = 0.80  # MTCNN's own default is 0.7; see models/mtcnn.md for what 0.8-0.9 holds
    # align
    crop_size_px: int = 160
    crop_margin: float = 0.20  # total margin added around the box, as a fraction of its size (docs/quality.md)
    # embed
    embed_batch: int = 64
    embed_precision: str = "auto"  # auto | fp32 | bf16: bfloat16 where the CPU has it (3x faster, same accuracy)
    device: str = "auto"  # auto | cpu | gpu
    # age, gender and expression for each face (two more networks per face; off by default)
    attributes: bool = False
    # video: a frame every video_every_s seconds and at each scene cut; faces linked into tracks
    video_every_s: float = 1.0
    video_cut_threshold: float = 30.0  # mean grey-level change between frames 0.2 s apart (0: off)
    video_max_side_px: int = 1024  # like detect_max_side_px, for video frames
    # parallel
    partition_size: int = 16  # photos per Dask task
    write_batch: int = 64  # photos per SQLite transaction on the client


#: A face is given a known person's name (gallery, classifier, video annotation) only
#: within this distance of that person's faces: stricter than the 1:1 threshold, whose
#: false-match rate (about 1e-2) is too high for naming; 0.95 is about 1e-4 over pairs
#: of LFW's main faces (models/facenet.md).
NAMING_DISTANCE = 0.95

#: Distance between two FaceNet embeddings (Euclidean, unit vectors) below which two
#: faces are taken to be the same person. See models/facenet.md for how it was chosen.
SAME_PERSON_DISTANCE = 1.15


@dataclass(frozen=True)
class ClusterSettings:
    """How faces become people. The values are chosen from measurements: see docs/people.md."""

    # HDBSCAN on the k-NN graph
    min_cluster_size: int = 2
    min_samples: int = 2
    n_neighbors: int = 15
    cluster_selection_epsilon: float = 0.0
    max_link_distance: float = 0.9  # clusters are split where only longer links join their faces
    pair_distance: float = 0.85  # two unclustered faces nearest to each other within this form a cluster (0: off)
    # faces that may form clusters; the others are only attached afterwards
    min_face_px: float = 50.0  # shorter side of the face box, in photo pixels
    min_score: float = 0.95
    min_sharpness: float = 20.0  # variance of the Laplacian of the 160 px grey crop
    # attaching left-over faces to a cluster during a clustering run
    attach_distance: float = 0.75
    # incremental assignment of new faces to existing people
    assign_distance: float = 0.85
    assign_margin: float = 0.05
    assign_neighbors: int = 10
