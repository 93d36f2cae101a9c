"""Commands that find people: search (by people, attributes or a face), verify, annotate a video."""
from __future__ import annotations

import dataclasses

import click

from . import cli, render
from .options import (DEFAULTS, NAMING, SAME_PERSON, db_option, device_option, echo_json, json_option,
                      resolve_threshold, threshold_option)


@cli.command()
@click.argument("people", nargs=-1)
@click.option("--and", "and_", multiple=True, help="Also this person (repeatable).")
@click.option("--or", "or_", multiple=True, help="At least one of these people (repeatable).")
@click.option("--not", "not_", multiple=True, help="Not this person (repeatable).")
@click.option("--only", is_flag=True, help="Nobody else in the photo.")
@click.option("--after", default=None, metavar="YYYY-MM-DD", help="Taken on or after (EXIF date).")
@click.option("--before", default=None, metavar="YYYY-MM-DD", help="Taken on or before (EXIF date).")
@click.option("--face", "face_photo", type=click.Path(dir_okay=False), default=None,
              help="Find faces like the (largest) face in this photo instead.")
@click.option("--all-faces", is_flag=True, help="With --face: search for every face of the photo.")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True,
              help="With --face: how many faces to list.")
@threshold_option(SAME_PERSON)
@click.option("--emotion", default=None, metavar="EXPRESSION",
              help="A face with this expression: angry, disgust, fear, happy, sad, surprise, neutral.")
@click.option("--age", default=None, metavar="RANGE", help="A face estimated this old: 20-35, 60- or -12.")
@click.option("--gender", default=None, metavar="female|male", help="A face estimated of this gender.")
@db_option
@json_option
def search(people, and_, or_, not_, only, after, before, face_photo, all_faces, limit, threshold, emotion, age,
           gender, db, as_json):
    """Photos of PEOPLE (names or ids), or faces like the one in --face PHOTO.

    --emotion, --age and --gender keep photos with such a face (one of PEOPLE's faces when
    people are named); they need estimates from `photoface attributes`.
    """
    from .. import api

    if face_photo:
        if people or and_ or or_ or not_:
            raise click.UsageError("search either by people or by --face, not both")
        hits = api.search_face(db, face_photo, limit=limit, all_faces=all_faces,
                               max_distance=resolve_threshold(threshold, SAME_PERSON, db))
        echo_json(hits) if as_json else render.face_hits(hits)
        return
    rows = api.search(db, list(people) + list(and_), any_of=or_, none_of=not_, only=only, after=after, before=before,
                      emotion=emotion, age=age, gender=gender)
    echo_json(rows) if as_json else render.photos(rows)


@cli.command()
@click.argument("photo_a", type=click.Path(dir_okay=False))
@click.argument("photo_b", type=click.Path(dir_okay=False))
@click.option("--all", "all_pairs", is_flag=True, help="Compare every face of A with every face of B.")
@threshold_option(SAME_PERSON)
@click.option("--db", default=None, envvar="PHOTOFACE_DB", type=click.Path(dir_okay=False),
              help="Use this library's calibrated same-person distance [default: $PHOTOFACE_DB; none: the default].")
@json_option
def verify(photo_a, photo_b, all_pairs, threshold, db, as_json):
    """Same person or not: the distance between the faces in two photos (largest face of each).

    Exit status, as with cmp and diff: 0 the same person (with --all: in some pair), 1
    different people, 2 an error.
    """
    from .. import api
    from ..errors import PhotofaceError

    try:
        out = api.verify(photo_a, photo_b, all_pairs=all_pairs, threshold=resolve_threshold(threshold, SAME_PERSON, db))
    except PhotofaceError as exc:
        click.echo(f"photoface: error: {exc}", err=True)
        raise click.exceptions.Exit(2) from None
    echo_json(out) if as_json else render.verify(out, all_pairs)
    if not any(p["same_person"] for p in out["pairs"]):
        raise click.exceptions.Exit(1)


@cli.command()
@click.argument("video", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="The annotated copy to write (.mp4, or .avi for Motion JPEG).")
@click.option("--db", default=None, envvar="PHOTOFACE_DB",
              help="Library whose named people are recognized [default: $PHOTOFACE_DB; none: every face unknown].")
@click.option("--every", type=click.IntRange(min=1), default=DEFAULTS.annotate_every, show_default=True,
              help="Detect and recognize every N frames; optical flow moves the boxes in between.")
@click.option("--max-side", type=click.IntRange(min=64), default=DEFAULTS.annotate_max_side_px, show_default=True,
              help="Frames are scaled to at most this many pixels for detection and tracking.")
@click.option("--scene-cut", "video_cut_threshold", type=click.FloatRange(min=0),
              default=DEFAULTS.video_cut_threshold, show_default=True,
              help="Mean grey-level change that counts as a scene cut, where faces are detected again (0: off).")
@threshold_option(NAMING)
@click.option("--labels", type=click.Path(dir_okay=False), default=None,
              help="Also write one JSON line per frame with its boxes and names.")
@device_option
@json_option
def annotate(video, output, db, every, max_side, video_cut_threshold, threshold, labels, device, as_json):
    """Copy VIDEO with a box and a name drawn on every face (same size, frame rate and length)."""
    from .. import api

    settings = dataclasses.replace(DEFAULTS, device=device, video_cut_threshold=video_cut_threshold)
    r = api.annotate(video, output, db=db, every=every, max_side=max_side,
                     max_distance=resolve_threshold(threshold, NAMING, db),
                     labels=labels, settings=settings)
    echo_json(r) if as_json else render.annotate(r)
