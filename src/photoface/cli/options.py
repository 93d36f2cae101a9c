"""Options shared by several commands, declared once; the index options generated from
Settings (their defaults and limits live there); progress bars; the one JSON printer."""
from __future__ import annotations

import dataclasses
import json
import sys

import click

from ..config import DEVICES, NAMING_DISTANCE, PRECISIONS, SAME_PERSON_DISTANCE, Settings

DEFAULTS = Settings()

db_option = click.option(
    "--db", default="photoface.db", show_default=True, envvar="PHOTOFACE_DB", type=click.Path(dir_okay=False),
    help="SQLite database file (env PHOTOFACE_DB).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
workers_option = click.option(
    "--workers", type=click.IntRange(min=1), default=None,
    help="Worker processes of the local Dask cluster [default: one per two cores].")
progress_option = click.option("--progress/--no-progress", default=None,
                               help="Show a progress bar [default: only when stderr is a terminal].")
device_option = click.option(
    "--device", type=click.Choice(DEVICES), default=DEFAULTS.device, show_default=True,
    help="Where TensorFlow runs: auto uses a GPU when one is visible; gpu fails if there is none.")
cache_option = click.option("--cache", type=click.Path(file_okay=False), default=None,
                            help="Where evaluation embeddings are kept [default: ~/.cache/photoface/eval].")


def evaluation_options(fn):
    """The options of every command that indexes a labeled folder to measure photoface."""
    for option in (json_option, progress_option, workers_option, cache_option):
        fn = option(fn)
    return fn

#: The Settings fields `photoface index` exposes: field -> (option, click type, help). The
#: default of each option is the field's default in Settings.
INDEX_SETTINGS = {
    "device": ("--device", click.Choice(DEVICES),
               "Where TensorFlow runs: auto uses a GPU when one is visible; gpu fails if there is none."),
    "partition_size": ("--batch-size", click.IntRange(min=1), "Photos per Dask task; their faces are embedded together."),
    "embed_batch": ("--embed-batch", click.IntRange(min=1), "Faces per FaceNet batch."),
    "embed_precision": ("--precision", click.Choice(PRECISIONS),
                        "FaceNet's arithmetic: int8 (LiteRT, CPU, about 3.8x float32's speed), int8-static "
                        "(ONNX Runtime, CPU: 1.9x int8 on AVX2-only CPUs, embeddings a little further from "
                        "float32's), bf16 (CPUs with AMX or AVX512-BF16), fp32, or auto (int8-static on CPUs with "
                        "AVX2 but no AVX-512 or VNNI, int8 on other CPUs, fp32 on a GPU; a library keeps its kind)."),
    "detect_max_side_px": ("--max-side", click.IntRange(min=64),
                           "Photos are scaled to at most this many pixels on the long side for detection."),
    "min_score": ("--min-score", click.FloatRange(0, 1), "Minimum MTCNN detection score for a face to be kept."),
    "min_face_px": ("--min-face", click.IntRange(min=20),
                    "Smallest face looked for, in pixels at detection resolution; larger is faster "
                    "(40: 2.5x at 1000x700) and finds no face below it."),
    "attributes": ("--attributes", None,
                   "Also estimate age, gender and expression of every face (new and already indexed)."),
    "describe": ("--describe/--no-describe", None,
                 "Also compute dlib's descriptor of every face (about 7 ms a face on one core), which "
                 "clustering uses with FaceNet's: people photographed years apart join (docs/people.md). "
                 "Without it a library clusters on FaceNet alone."),
    "video_every_s": ("--video-every", click.FloatRange(min=0.05),
                      "Videos: look for faces every this many seconds (and at each scene cut)."),
    "video_cut_threshold": ("--scene-cut", click.FloatRange(min=0),
                            "Videos: mean grey-level change that counts as a scene cut (0: off)."),
}


def settings_options(fields: dict[str, tuple]):
    """Click options for these Settings fields (a flag for a bool field), defaults from Settings."""
    def decorate(fn):
        for name, (flag, kind, text) in reversed(fields.items()):
            default = getattr(DEFAULTS, name)
            if isinstance(default, bool):
                fn = click.option(flag, name, is_flag=True, default=default, help=text)(fn)
            else:
                fn = click.option(flag, name, type=kind, default=default, show_default=True, help=text)(fn)
        return fn
    return decorate


def settings_from(kwargs: dict, fields: dict[str, tuple]) -> Settings:
    """Settings with the values of the options ``settings_options`` made (taken out of ``kwargs``)."""
    return dataclasses.replace(DEFAULTS, **{name: kwargs.pop(name) for name in fields})


def _plain(obj):
    """What the JSON printer does with what json cannot encode itself."""
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if dataclasses.is_dataclass(obj):
        return dataclasses.asdict(obj)
    return str(obj)


def to_json(obj) -> str:
    """The JSON every command prints: UTF-8, indented; a file name that is not UTF-8 keeps its
    undecodable bytes as \\udcXX escapes, which JSON readers turn back into the same string."""
    text = json.dumps(obj, indent=2, ensure_ascii=False, default=_plain)
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def echo_json(obj) -> None:
    click.echo(to_json(obj))


_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))}


def printable(text: str | None) -> str:
    """Text for a terminal: control characters (an escape sequence or a line break in a file
    name) and bytes that were not UTF-8 shown as \\x.. escapes, never acted on."""
    return "" if text is None else text.translate(_CONTROL).encode("utf-8", "backslashreplace").decode("utf-8")


class ProgressBar:
    """A tqdm bar fed by a run's on_start / on_progress callbacks (only on a terminal by default)."""

    def __init__(self, progress: bool | None, desc: str, unit: str = "photo"):
        self.show = sys.stderr.isatty() if progress is None else progress
        self.desc = desc
        self.unit = unit
        self.bar = None

    def on_start(self, total: int) -> None:
        if self.show:
            from tqdm import tqdm

            self.close()
            self.bar = tqdm(total=total, unit=self.unit, desc=self.desc, dynamic_ncols=True, file=sys.stderr)
            if total:  # until the first photo is done, say why nothing moves
                self.bar.set_postfix_str("loading the models", refresh=True)

    def on_progress(self, done: int, total: int, faces: int) -> None:
        if self.bar is not None:
            self.bar.n = done
            self.bar.set_postfix(faces=faces, refresh=False)
            self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


#: The two distances a user may set, and what each decides (config.py says how they were chosen;
#: `photoface calibrate --from-names` measures them on a library's named people).
SAME_PERSON = ("same_person_distance", SAME_PERSON_DISTANCE, "Two faces closer than this are the same person")
NAMING = ("naming_distance", NAMING_DISTANCE, "A face takes a known person's name only this close to their faces "
                                              f"(stricter than the {SAME_PERSON_DISTANCE} same-person threshold)")


def resolve_threshold(threshold: float | None, kind: tuple, db: str | None) -> float:
    """The --threshold given, else the library's calibrated value, else the default."""
    from .. import api

    return threshold if threshold is not None else api.threshold(db, kind[0])


def threshold_option(kind: tuple[str, float, str]):
    """``--threshold DISTANCE``, the same option wherever a distance decides (verify, search,
    label, annotate); ``--max-distance`` is kept as its old name. Not given: the library's
    calibrated value (resolve_threshold)."""
    _, default, what = kind
    return click.option("--threshold", "--max-distance", "threshold", type=click.FloatRange(0, 2), default=None,
                        metavar="DISTANCE",
                        help=f"{what}: Euclidean distance between FaceNet embeddings [default: the library's value "
                             f"from `photoface calibrate --from-names`, else {default}].")
