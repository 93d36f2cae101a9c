"""Plain data passed between the pipeline stages: one box format, no behaviour."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np


@dataclass(frozen=True)
class WorkItem:
    """One file the client asks a worker to index."""

    path: str  # filesystem path (may carry surrogate escapes for non-UTF-8 names)
    size: int
    mtime: float
    problem: str | None = None  # why it cannot be indexed (a FIFO, a broken link...): recorded, never read


@dataclass(frozen=True)
class Detection:
    """A face box in original-image pixels: x1, y1, x2, y2, score and 5 landmarks (x, y).

    Landmark order, as MTCNN gives it (image left/right): left eye, right eye, nose,
    left mouth corner, right mouth corner.
    """

    x1: float
    y1: float
    x2: float
    y2: float
    score: float
    landmarks: tuple[tuple[float, float], ...]

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    def scaled(self, factor: float) -> "Detection":
        """The same detection with every coordinate multiplied by ``factor``."""
        return Detection(
            self.x1 * factor, self.y1 * factor, self.x2 * factor, self.y2 * factor,
            self.score, tuple((x * factor, y * factor) for x, y in self.landmarks),
        )


@dataclass(frozen=True)
class Attributes:
    """Age, gender and expression estimated for one face, with each model's confidence."""

    age: float  # expected value of the age distribution, years
    age_sd: float  # its standard deviation: a wide distribution is an unsure estimate
    female: float  # P(female) from the gender head; gender is the likelier side
    emotion: str  # the most probable of the 7 FER2013 expressions
    emotion_confidence: float
    emotions: tuple[float, ...]  # all 7 probabilities, in EMOTIONS order
    model: str  # "<age/gender model>+<emotion model>"

    @property
    def gender(self) -> str:
        return "female" if self.female >= 0.5 else "male"

    @property
    def gender_confidence(self) -> float:
        return max(self.female, 1.0 - self.female)


@dataclass(frozen=True)
class TrackInfo:
    """Where a face track of a video lies in time; its Face holds the track's mean embedding
    and the box of its best frame (at ``t``)."""

    t_start: float  # seconds: first and last sample the face was seen in
    t_end: float
    t: float  # the sample the box comes from
    samples: int  # how many samples saw it
    representatives: tuple[tuple[float, "Detection", np.ndarray], ...]  # (t, box, embedding), best first


@dataclass(frozen=True)
class Face:
    """A detected face with its embedding (unit-length float32 vector)."""

    detection: Detection
    embedding: np.ndarray
    model: str
    sharpness: float | None = None  # variance of the Laplacian of the grey crop; low means blurred
    attributes: Attributes | None = None
    track: TrackInfo | None = None  # set for a face track of a video
    descriptor: np.ndarray | None = None  # dlib's 128-d descriptor (config.DLIB_MODEL), for clustering


class Described(NamedTuple):
    """A stored face's dlib descriptor (filled in after indexing), or why it could not be computed."""

    face_id: int
    descriptor: np.ndarray | None
    error: str | None


@dataclass
class PhotoResult:
    """What a worker returns for one file: metadata, faces, or an error."""

    path: str
    size: int
    mtime: float
    sha256: str | None = None
    width: int | None = None
    height: int | None = None
    taken_at: str | None = None
    status: str = "indexed"  # indexed | failed
    error: str | None = None
    faces: list[Face] = field(default_factory=list)
    kind: str = "photo"  # photo | video
    duration: float | None = None  # videos: seconds
    fps: float | None = None


@dataclass(frozen=True)
class ModelSpec:
    """A small picklable description of a model; workers load the model from it once."""

    name: str
    path: str | None = None  # override of the weight file location (tests, custom installs)
    device: str = "auto"  # auto | cpu | gpu
    threads: int = 0  # TensorFlow intra-op threads; 0 lets TensorFlow decide
    precision: str = "fp32"  # the embedder's arithmetic: auto | fp32 | bf16 | int8 (see models/facenet.py)



def box_iou(a, b) -> float:
    """Intersection over union of two (x1, y1, x2, y2) boxes."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)

# --- vocabularies stored in the database (the schema CHECKs them) --------------------------
#: Who placed a face in its person (faces.assigned_by). A face a user placed is pinned: no
#: clustering run moves it.
BY_USER = "user"
BY_CLUSTER = "cluster"  # a clustering run formed the person around it
BY_ASSIGN = "assign"  # an incremental run added it to an existing person
ASSIGNED_BY = (BY_USER, BY_CLUSTER, BY_ASSIGN)
#: The expressions the emotion model tells apart, in its output order (FER2013's).
EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
#: Where a person's name came from (people.name_source); a user's name is never replaced.
FROM_TAGS = "tags"  # read from the photo's face tags, written by the user in another app
NAME_SOURCES = (BY_USER, "gallery", "classifier", FROM_TAGS)
#: Names a person gave (here or in another app): never replaced by gallery or classifier
#: naming, and what `train` learns from.
PEOPLES_NAMES = (BY_USER, FROM_TAGS)


class FaceState(NamedTuple):
    """A face's place among people: what clustering and the user change, and undo restores."""

    id: int
    person_id: int | None
    assigned_by: str | None
    assign_distance: float | None
    clustered: int


# --- records and results the library returns --------------------------------------------------
# Their JSON form (what `--json` prints) is dataclasses.asdict: the fields, in this order.
@dataclass
class Person:
    """A person or unnamed cluster, as stored."""

    id: int
    name: str | None
    name_source: str | None  # one of NAME_SOURCES
    name_confidence: float | None
    hidden: int
    created_at: str
    updated_at: str

    @property
    def label(self) -> str:
        """How messages refer to them: "12 'Alice'" or "cluster 12"."""
        return f"{self.id} {self.name!r}" if self.name else f"cluster {self.id}"


@dataclass
class PersonFaces(Person):
    """A person with every present face (`photoface people PERSON`)."""

    face_list: list[dict] = field(default_factory=list)  # face_id, path, box, assigned_by, distance
    attributes: dict | None = None  # demographics.person_summary, where faces have estimates


@dataclass
class PersonPage(Person):
    """A person with one page of faces (the web UI's person page)."""

    total_faces: int = 0
    offset: int = 0
    limit: int = 0
    attributes: dict | None = None
    face_list: list[dict] = field(default_factory=list)  # face_id, photo_id, path, assigned_by, distance


@dataclass
class SimilarPerson(Person):
    """Another person close to a given one: a merge candidate."""

    distance: float = 0.0


@dataclass
class SplitQuestion:
    """Faces of a person that may be someone else (review.maybe_someone_else): the smaller
    side of the weakest cut of the person's faces, which the user splits off or confirms."""

    person_id: int
    name: str | None
    faces: int  # the person's faces examined
    conductance: float  # links cut over the smaller side's links (decided.weakest_cut)
    face_ids: list[int]


@dataclass(frozen=True)
class FaceExample:
    face_id: int
    path: str


@dataclass
class PersonSummary:
    """A line of the people listing."""

    id: int
    name: str | None
    name_source: str | None
    name_confidence: float | None
    hidden: bool
    faces: int  # faces in indexed photos
    photos: int
    examples: list[FaceExample]


@dataclass(frozen=True)
class StoredFace:
    """A stored face with its photo and its place among people."""

    id: int
    photo_id: int
    path: str
    person_id: int | None
    assigned_by: str | None
    x1: float
    y1: float
    x2: float
    y2: float
    score: float
    t_start: float | None  # set for a face track of a video


@dataclass(frozen=True)
class ChangeEvent:
    """An entry of the change log."""

    id: int
    at: str
    user: str | None
    action: str
    summary: str
    details: dict
    undone_at: str | None
    undoable: bool
