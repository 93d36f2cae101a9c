"""The `photoface` command: parse arguments, call photoface.api, print results; errors on one line."""
from __future__ import annotations

import json
import sys

import click

from . import __version__

from .config import NAMING_DISTANCE, PRECISIONS, Settings

_DEFAULTS = Settings()

DB_OPTION = click.option(
    "--db", default="photoface.db", show_default=True, envvar="PHOTOFACE_DB", type=click.Path(dir_okay=False),
    help="SQLite database file (env PHOTOFACE_DB).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="photoface")
def cli():
    """Organize a photo library by the people in it.

    Index a folder of photos: every face is detected (MTCNN), embedded (FaceNet) and stored
    in one SQLite file, with a Dask graph spreading the work over local processes or a cluster.
    """


WORKERS_OPTION = click.option(
    "--workers", type=click.IntRange(min=1), default=None,
    help="Worker processes of the local Dask cluster [default: one per two cores].")
PROGRESS_OPTION = click.option("--progress/--no-progress", default=None,
                               help="Show a progress bar [default: only when stderr is a terminal].")


@cli.command()
@click.argument("folder", type=click.Path(file_okay=False))
@DB_OPTION
@WORKERS_OPTION
@click.option("--scheduler", default="auto", show_default=True, metavar="auto|local|sync|tcp://HOST:PORT",
              help="local: start a local Dask cluster; sync: run in this process; "
                   "tcp://HOST:PORT: use an existing dask.distributed scheduler; "
                   "auto: in this process when fewer than 100 photos need indexing, else local.")
@click.option("--device", type=click.Choice(["auto", "cpu", "gpu"]), default="auto", show_default=True,
              help="Where TensorFlow runs: auto uses a GPU when one is visible; gpu fails if there is none.")
@click.option("--batch-size", "partition_size", type=click.IntRange(min=1), default=_DEFAULTS.partition_size, show_default=True,
              help="Photos per Dask task; their faces are embedded together.")
@click.option("--embed-batch", type=click.IntRange(min=1), default=_DEFAULTS.embed_batch, show_default=True,
              help="Faces per FaceNet batch.")
@click.option("--precision", "embed_precision", type=click.Choice(PRECISIONS),
              default=_DEFAULTS.embed_precision, show_default=True,
              help="FaceNet's arithmetic: bf16 (about 3x faster on CPUs with AMX or AVX512-BF16, same accuracy), "
                   "fp32, or auto (bf16 where the CPU has it).")
@click.option("--max-side", "detect_max_side_px", type=click.IntRange(min=64), default=_DEFAULTS.detect_max_side_px, show_default=True,
              help="Photos are scaled to at most this many pixels on the long side for detection.")
@click.option("--min-score", type=click.FloatRange(0, 1), default=_DEFAULTS.min_score, show_default=True,
              help="Minimum MTCNN detection score for a face to be kept.")
@click.option("--min-face", "min_face_px", type=click.IntRange(min=20), default=_DEFAULTS.min_face_px, show_default=True,
              help="Smallest face looked for, in pixels at detection resolution; larger is faster "
                   "(40: 2.5x at 1000x700) and finds no face below it.")
@click.option("--retry-failed", is_flag=True, help="Try again files that failed in an earlier run.")
@click.option("--attributes", is_flag=True,
              help="Also estimate age, gender and expression of every face (new and already indexed).")
@click.option("--video-every", "video_every_s", type=click.FloatRange(min=0.05), default=_DEFAULTS.video_every_s,
              show_default=True, help="Videos: look for faces every this many seconds (and at each scene cut).")
@click.option("--scene-cut", "video_cut_threshold", type=click.FloatRange(min=0), default=_DEFAULTS.video_cut_threshold,
              show_default=True, help="Videos: mean grey-level change that counts as a scene cut (0: off).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@PROGRESS_OPTION
def index(folder, db, workers, scheduler, device, partition_size, embed_batch, embed_precision, detect_max_side_px,
          min_score, min_face_px, retry_failed, attributes, video_every_s, video_cut_threshold, as_json, progress):
    """Find, embed and store every face in the photos under FOLDER.

    Re-running it is cheap: unchanged files are skipped, moved ones are recognized by
    content, deleted ones are marked missing, and an interrupted run is resumed.
    """
    from . import api

    settings = Settings(
        device=device, partition_size=partition_size, embed_batch=embed_batch, embed_precision=embed_precision,
        detect_max_side_px=detect_max_side_px, min_score=min_score, min_face_px=min_face_px,
        attributes=attributes, video_every_s=video_every_s, video_cut_threshold=video_cut_threshold,
    )
    with _ProgressBar(progress, "indexing") as bar:
        summary = api.index(folder, db, workers=workers, scheduler=scheduler, settings=settings,
                            retry_failed=retry_failed, on_progress=bar.on_progress, on_start=bar.on_start)
    if as_json:
        click.echo(json.dumps(summary.to_dict(), indent=2, ensure_ascii=True))
    else:
        _print_summary(summary)


class _ProgressBar:
    """A tqdm bar fed by the index's on_start / on_progress callbacks (only on a terminal by default)."""

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


def _print_summary(s) -> None:
    click.echo(
        f"{s.photos_seen} photos seen: {s.photos_indexed} indexed, {s.photos_unchanged} skipped (unchanged), "
        f"{s.photos_moved} moved, {s.photos_missing} missing, {s.photos_failed} failed; "
        f"{s.faces_found} faces found"
    )
    if s.photos_indexed + s.photos_failed:
        where = "in this process (sync)" if s.scheduler == "sync" else f"with {s.workers} worker(s) ({s.scheduler})"
        click.echo(f"{s.photos_per_s:.2f} photos/s, {s.faces_per_s:.2f} faces/s {where}; {s.elapsed_s:.1f} s in all")
    for path, error in s.errors:
        click.echo(f"failed: {_printable(path)}: {error}")
    if s.photos_failed > len(s.errors):
        click.echo(f"... and {s.photos_failed - len(s.errors)} more (see the photos table, status 'failed')")
    for path, error in s.scan_errors:
        click.echo(f"skipped folder: {_printable(path)}: {error}")
    if s.reembedded:
        r = s.reembedded
        failed = f"; {r['failed']} could not be read and wait for the next run" if r["failed"] else ""
        click.echo(f"embedded again: {r['reembedded']} of {r['faces']} faces stored by an older photoface "
                   f"(boxes, names and clusters kept; {r['elapsed_s']:.1f} s){failed}")
    if s.attributes:
        _print_attributes_summary(s.attributes, new_faces=s.faces_found)
    click.echo(f"database: {s.db}")


def _print_attributes_summary(a: dict, new_faces: int | None = None) -> None:
    """``a``: a fill-in run over faces without estimates; ``new_faces``: faces an index run
    just estimated while indexing them (not in ``a``)."""
    if new_faces is None:
        what = f"{a['estimated']} of {a['faces']} faces ({a['faces_per_s']:.1f} faces/s)"
    else:
        what = f"{new_faces + a['estimated']} faces ({new_faces} new, {a['estimated']} indexed earlier)"
    click.echo(f"age, gender and expression estimated for {what}" + (f"; {a['failed']} failed" if a["failed"] else ""))
    for e in a["errors"]:
        click.echo(f"failed: face {e['face_id']}: {e['error']}")


@cli.command()
@DB_OPTION
@click.option("--redo", is_flag=True, help="Estimate again for every face, not only those without estimates.")
@WORKERS_OPTION
@click.option("--device", type=click.Choice(["auto", "cpu", "gpu"]), default="auto", show_default=True,
              help="Where TensorFlow runs.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@PROGRESS_OPTION
def attributes(db, redo, workers, device, as_json, progress):
    """Estimate age, gender and expression for faces already indexed (those without estimates)."""
    from . import api

    with _ProgressBar(progress, "attributes", unit="face") as bar:
        out = api.attributes(db, redo=redo, workers=workers, settings=Settings(device=device),
                             on_start=bar.on_start, on_progress=bar.on_progress)
    if as_json:
        click.echo(json.dumps(out, indent=2))
    else:
        _print_attributes_summary(out)


def _printable(path: str) -> str:
    return path.encode("utf-8", "backslashreplace").decode("utf-8")


@cli.command()
@DB_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def status(db, as_json):
    """Show what the database holds and its latest index runs."""
    from . import api

    info = api.status(db)
    if as_json:
        click.echo(json.dumps(info, indent=2, default=str))
        return
    click.echo(f"{info['db']} (schema {info['schema_version']})")
    click.echo(f"photos: {info['photos']} ({info['indexed']} indexed, {info['failed']} failed, "
               f"{info['missing']} missing); faces: {info['faces']}")
    for run in info["runs"]:
        click.echo(f"run {run['id']}: {run['status']}, {run['root']}, started {run['started_at']}, "
                   f"{run['photos_indexed']} indexed, {run['photos_failed']} failed, {run['faces_found']} faces")


@cli.command()
@DB_OPTION
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but this machine's loopback opens the library to the network.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="Port (0: any free one).")
@click.option("--read-only", is_flag=True, help="Browse only: every change is refused.")
def serve(db, host, port, read_only):
    """Review and name people in the browser (http://127.0.0.1:8765)."""
    import ipaddress

    from .web import serve as run_server

    try:
        local = ipaddress.ip_address(host).is_loopback
    except ValueError:
        local = host == "localhost"
    if not local:
        what = "see this library" if read_only else "see and change this library (--read-only prevents changes)"
        click.echo(f"photoface: warning: listening on {host}: anyone who can reach this machine can {what}; "
                   "the default 127.0.0.1 keeps it to this machine", err=True)
    run_server(db, host, port, read_only,
               on_ready=lambda url: click.echo(f"photoface: serving {db} at {url}"
                                               f"{' (read-only)' if read_only else ''}; Ctrl-C stops"))


JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


def _echo_json(obj) -> None:
    from .search import to_json

    click.echo(to_json(obj))


def _who(person: dict) -> str:
    name = person.get("name")
    return f"{person['id']:>5}  {name}" if name else f"{person['id']:>5}  (unnamed cluster)"


@cli.command()
@DB_OPTION
@click.option("--full", is_flag=True,
              help="Re-cluster every face (ids and names carry over) instead of adding new faces to people.")
@JSON_OPTION
def cluster(db, full, as_json):
    """Group faces into people.

    New faces join the person they clearly match; the rest, with earlier unknown faces,
    form new clusters. Names, moves, merges and rejections are never undone by a run.
    """
    from . import api

    out = api.cluster(db, full=full)
    if as_json:
        return _echo_json(out)
    click.echo(f"{out['mode']} clustering of {out['faces']} faces ({out['considered']} considered) in "
               f"{out['elapsed_s']:.1f} s: {out['assigned']} joined existing people, {out['new_people']} new "
               f"clusters, {out['unknown']} faces unknown; {out['people']} people and clusters in all")
    click.echo("`photoface people` lists them; `photoface undo` reverts this run")


@cli.command()
@click.argument("person", required=False)
@DB_OPTION
@click.option("--all", "include_hidden", is_flag=True, help="Include hidden people.")
@JSON_OPTION
def people(person, db, include_hidden, as_json):
    """List people and unnamed clusters, largest first; with PERSON (id or name), list their faces."""
    from . import api

    if person is not None:
        info = api.person_faces(db, person)
        if as_json:
            return _echo_json(info)
        click.echo(f"{_who(info).strip()}{' (hidden)' if info['hidden'] else ''}: {len(info['face_list'])} faces")
        if info["attributes"]:
            a = info["attributes"]
            click.echo(f"  estimated: age about {a['median_age']:.0f} (middle half {a['age_iqr'][0]:.0f}-{a['age_iqr'][1]:.0f}), "
                       f"{a['gender']} ({a['gender_agreement']:.0%} of faces agree), "
                       f"smiling in {a['smiling_share']:.0%} of {a['faces_with_attributes']} faces")
        for f in info["face_list"]:
            click.echo(f"  face {f['face_id']:>7}  {_printable(f['path'])}  box {f['box']}  ({f['assigned_by']})")
        return
    rows = api.people(db, include_hidden=include_hidden)
    if as_json:
        return _echo_json(rows)
    if not rows:
        click.echo("no people yet: run `photoface cluster`")
        return
    click.echo(f"{'id':>5}  {'name':<30} {'faces':>6} {'photos':>6}  example faces")
    for r in rows:
        label = r["name"] or "(unnamed cluster)"
        if r["name"] and r["name_source"] != "user":
            label += f" [{r['name_source']} {r['name_confidence'] or 0:.2f}]"
        if r["hidden"]:
            label += " (hidden)"
        examples = ", ".join(f"{e['face_id']}:{_printable(e['path'])}" for e in r["examples"])
        click.echo(f"{r['id']:>5}  {label:<30} {r['faces']:>6} {r['photos']:>6}  {examples}")


@cli.command()
@click.argument("person")
@click.argument("new_name")
@DB_OPTION
def name(person, new_name, db):
    """Name (or rename) PERSON (a cluster id or a current name). A name someone else has merges the two."""
    from . import api

    out = api.name(db, person, new_name)
    if out.get("merged"):
        click.echo(f"merged {out['merged']} into person {out['person']} {out['name']!r}")
    else:
        click.echo(f"person {out['person']} is now {out['name']!r}")


cli.add_command(click.Command("rename", callback=name.callback, params=name.params,
                              help="Rename PERSON (same as `name`)."))


@cli.command()
@click.argument("target")
@click.argument("source")
@DB_OPTION
def merge(target, source, db):
    """Merge person SOURCE into TARGET (ids or names)."""
    from . import api

    out = api.merge(db, target, source)
    click.echo(f"merged {source} into person {out['person']}: {out['moved']} faces moved"
               + (f", {out['left_unassigned']} left unassigned (same photo as a face of the target)"
                  if out["left_unassigned"] else ""))


@cli.command()
@click.argument("face_ids", nargs=-1, type=int, required=True)
@click.option("--to", "to", required=True, help="Person id or name (a new name creates the person).")
@DB_OPTION
def move(face_ids, to, db):
    """Move faces (FACE_IDS) to another person; they stay there."""
    from . import api

    out = api.move(db, face_ids, to)
    click.echo(f"moved {len(out['faces'])} face(s) to person {out['person']} {out['name'] or ''}".rstrip())


@cli.command()
@click.argument("person")
@click.argument("face_ids", nargs=-1, type=int, required=True)
@click.option("--name", "new_name", default=None, help="Name of the new person.")
@DB_OPTION
def split(person, face_ids, new_name, db):
    """Split faces (FACE_IDS) off PERSON into a new person."""
    from . import api

    out = api.split(db, person, face_ids, new_name)
    click.echo(f"{len(out['faces'])} face(s) moved from person {out['from']} to new person {out['person']}")


@cli.command()
@click.argument("face_ids", nargs=-1, type=int, required=True)
@click.option("--from", "person", default=None, help="The person they are not [default: their current one].")
@DB_OPTION
def reject(face_ids, person, db):
    """Not this person: the faces leave the person and are never assigned to it again."""
    from . import api

    out = api.reject(db, face_ids, person)
    for fid, pid in out["rejected"]:
        click.echo(f"face {fid} is not person {pid}")


@cli.command()
@click.argument("person")
@click.option("--show", is_flag=True, help="Show a hidden person again.")
@DB_OPTION
def hide(person, show, db):
    """Hide PERSON from listings and searches (their faces stay theirs)."""
    from . import api

    out = api.hide(db, person, hidden=not show)
    click.echo(f"person {out['person']} {'hidden' if out['hidden'] else 'shown'}")


@cli.command()
@click.argument("event_id", type=int, required=False)
@DB_OPTION
def undo(event_id, db):
    """Undo the latest change (naming, merge, move, split, reject, hide, label or cluster run)."""
    from . import api

    out = api.undo(db, event_id)
    click.echo(f"undid change {out['undone']}: {out['summary']}")


@cli.command()
@DB_OPTION
@click.option("--limit", type=click.IntRange(min=1), default=30, show_default=True)
@JSON_OPTION
def history(db, limit, as_json):
    """List recorded changes, newest first."""
    from . import api

    rows = api.history(db, limit)
    if as_json:
        return _echo_json(rows)
    for r in rows:
        flag = f" (undone {r['undone_at']})" if r["undone_at"] else ""
        click.echo(f"{r['id']:>5}  {r['at']}  {r['user'] or '-':<10} {r['action']:<8} {r['summary']}{flag}")


@cli.command()
@click.option("--gallery", type=click.Path(file_okay=False), default=None,
              help="Folder of known faces: GALLERY/<Person Name>/*.jpg.")
@click.option("--classifier", is_flag=True, help="Use the classifier from `photoface train-classifier`.")
@click.option("--dry-run", is_flag=True, help="Only show what would be named.")
@DB_OPTION
@JSON_OPTION
def label(gallery, classifier, dry_run, db, as_json):
    """Name clusters that match known people; names a user gave are never replaced."""
    from . import api

    if bool(gallery) == bool(classifier):
        raise click.UsageError("give either --gallery FOLDER or --classifier")
    out = api.label_gallery(db, gallery, dry_run=dry_run) if gallery else api.label_classifier(db, dry_run=dry_run)
    if as_json:
        return _echo_json(out)
    for s in out.get("skipped", []):
        click.echo(f"skipped {_printable(s['path'])}: {s['why']}")
    verb = "would name" if dry_run else "named"
    for m in out["named"]:
        conf = m.get("confidence", m.get("probability"))
        click.echo(f"{verb} cluster {m['person']} {m['name']!r} (distance {m['distance']}, confidence {conf})")
    for m in out["review"]:
        click.echo(f"review: cluster {m['person']} looks like {m['name']!r} (distance {m['distance']}) "
                   "but not clearly; name it by hand if so")
    if not out["named"] and not out["review"]:
        click.echo("no cluster matched")


@cli.command("train-classifier")
@DB_OPTION
def train_classifier(db):
    """Train a linear SVM on the faces of the people you named (for `label --classifier`)."""
    from . import api

    out = api.train_classifier(db)
    click.echo(f"trained on {out['faces']} faces of {out['people']} people: {out['path']}")


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
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="With --face.")
@click.option("--max-distance", type=click.FloatRange(0, 2), default=None,
              help="With --face: farthest match shown [default: the same-person threshold].")
@click.option("--emotion", default=None, metavar="EXPRESSION",
              help="A face with this expression: angry, disgust, fear, happy, sad, surprise, neutral.")
@click.option("--age", default=None, metavar="RANGE", help="A face estimated this old: 20-35, 60- or -12.")
@click.option("--gender", default=None, metavar="female|male", help="A face estimated of this gender.")
@DB_OPTION
@JSON_OPTION
def search(people, and_, or_, not_, only, after, before, face_photo, all_faces, limit, max_distance, emotion, age,
           gender, db, as_json):
    """Photos of PEOPLE (names or ids), or faces like the one in --face PHOTO.

    --emotion, --age and --gender keep photos with such a face (one of PEOPLE's faces when
    people are named); they need estimates from `photoface attributes`.
    """
    from . import api

    if face_photo:
        if people or and_ or or_ or not_:
            raise click.UsageError("search either by people or by --face, not both")
        kwargs = {} if max_distance is None else {"max_distance": max_distance}
        hits = api.search_face(db, face_photo, limit=limit, all_faces=all_faces, **kwargs)
        if as_json:
            return _echo_json(hits)
        for h in hits:
            who = h["name"] or (f"cluster {h['person_id']}" if h["person_id"] else "unknown")
            click.echo(f"{h['distance']:.3f}  {_printable(h['path'])}  face {h['face_id']} {h['box']}  {who}")
        if not hits:
            click.echo("no similar face in the library")
        return
    rows = api.search(db, list(people) + list(and_), any_of=or_, none_of=not_, only=only, after=after, before=before,
                      emotion=emotion, age=age, gender=gender)
    if as_json:
        return _echo_json(rows)
    for r in rows:
        if r.get("kind") == "video":
            spans = ", ".join(f"{_clock(a['start'])}-{_clock(a['end'])}" + (f" {a['name']}" if a["name"] else "")
                              for a in r["appearances"])
            click.echo(f"{_printable(r['path'])}  [{spans}]")
        else:
            click.echo(_printable(r["path"]))


def _clock(seconds: float) -> str:
    """Seconds as m:ss.s (or h:mm:ss.s)."""
    m, s = divmod(seconds, 60)
    h, m = divmod(int(m), 60)
    return f"{h}:{m:02d}:{s:04.1f}" if h else f"{m}:{s:04.1f}"


@cli.command()
@click.argument("photo_a", type=click.Path(dir_okay=False))
@click.argument("photo_b", type=click.Path(dir_okay=False))
@click.option("--all", "all_pairs", is_flag=True, help="Compare every face of A with every face of B.")
@JSON_OPTION
def verify(photo_a, photo_b, all_pairs, as_json):
    """Same person or not: the distance between the faces in two photos (largest face of each)."""
    from . import api

    out = api.verify(photo_a, photo_b, all_pairs=all_pairs)
    if as_json:
        return _echo_json(out)
    for p in out["pairs"]:
        verdict = "same person" if p["same_person"] else "different people"
        click.echo(f"{verdict}: distance {p['distance']:.3f} (threshold {out['threshold']:.2f})"
                   + (f"  face A{p['face_a']} {p['box_a']} / B{p['face_b']} {p['box_b']}" if all_pairs else ""))


CACHE_OPTION = click.option("--cache", type=click.Path(file_okay=False), default=None,
                            help="Where evaluation embeddings are kept [default: ~/.cache/photoface/eval].")


@cli.group("eval")
def eval_group():
    """Measure photoface on labeled photos: verification (LFW protocol) and clustering."""


@eval_group.command("pairs")
@click.option("--lfw", type=click.Path(file_okay=False, exists=True), help="The LFW folder (pairs.txt and images).")
@click.option("--pairs", "pairs_csv", type=click.Path(dir_okay=False, exists=True),
              help="A CSV of pairs: path_a, path_b, same (1/0) and optionally fold.")
@click.option("--roc", type=click.Path(dir_okay=False), default=None, help="Save the ROC curve as this PNG.")
@click.option("--far", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=1e-3, show_default=True,
              help="False-accept rate at which VAL is reported.")
@CACHE_OPTION
@WORKERS_OPTION
@PROGRESS_OPTION
@JSON_OPTION
def eval_pairs(lfw, pairs_csv, roc, far, cache, workers, progress, as_json):
    """1:1 verification accuracy, 10-fold: each fold's threshold is chosen on the other nine."""
    from . import api

    with _ProgressBar(progress, "embedding") as bar:
        out = api.eval_pairs(lfw=lfw, pairs=pairs_csv, cache=cache, roc=roc, far=far, workers=workers,
                             on_start=bar.on_start, on_progress=bar.on_progress)
    if as_json:
        return _echo_json({k: v for k, v in out.items() if k != "roc"})
    click.echo(f"{out['pairs']} pairs in {out['folds']} folds, {out['photos']} photos; "
               f"no face found in {out['photos_without_face']} photos ({out['pairs_without_face']} pairs, "
               "counted as 'different')")
    click.echo(f"accuracy      {out['accuracy']:.4f} +- {out['accuracy_std']:.4f}")
    click.echo(f"threshold     {out['threshold']:.3f} (median over folds; per fold "
               f"{min(out['fold_thresholds']):.3f}-{max(out['fold_thresholds']):.3f})")
    click.echo(f"VAL           {out['val']:.4f} +- {out['val_std']:.4f} at FAR {out['far']:.5f} "
               f"(target {out['far_target']:g})")
    click.echo(f"AUC           {out['auc']:.4f}")
    if out.get("roc_png"):
        click.echo(f"ROC curve     {out['roc_png']}")


@eval_group.command("cluster")
@click.option("--labeled", required=True, type=click.Path(file_okay=False, exists=True),
              help="A folder of <Person>/<photos>: the truth.")
@click.option("--no-anchors", is_flag=True, help="Only photoface's clustering, not the other tools' algorithms.")
@click.option("--set", "overrides", multiple=True, metavar="NAME=VALUE",
              help="Change a clustering setting for this run, e.g. --set min_samples=3 (repeatable).")
@CACHE_OPTION
@WORKERS_OPTION
@PROGRESS_OPTION
@JSON_OPTION
def eval_cluster(labeled, no_anchors, overrides, cache, workers, progress, as_json):
    """Clustering quality (pairwise and BCubed) against the people of a labeled folder.

    The embeddings are cached: trying other settings with --set takes seconds."""
    from . import api

    settings = _cluster_settings(overrides)
    with _ProgressBar(progress, "embedding") as bar:
        out = api.eval_cluster(labeled, cache=cache, anchors=not no_anchors, workers=workers, settings=settings,
                               on_start=bar.on_start, on_progress=bar.on_progress)
    if as_json:
        return _echo_json(out)
    click.echo(f"{out['faces']} faces in {out['photos']} photos, {out['true_people']} true identities "
               "(faces beside a photo's main person count as strangers)")
    head = ("algorithm", "clusters", "noise", "pair P", "pair R", "pair F1", "B3 P", "B3 R", "B3 F1", "s")
    click.echo(f"{head[0]:<48}" + "".join(f"{h:>9}" for h in head[1:]))
    for r in out["results"]:
        vals = (r["clusters"], r["noise"], r["pairwise_p"], r["pairwise_r"], r["pairwise_f1"],
                r["bcubed_p"], r["bcubed_r"], r["bcubed_f1"], r["seconds"])
        click.echo(f"{r['algorithm']:<48}" + "".join(f"{v:>9}" if isinstance(v, int) else f"{v:>9.4f}"
                                                   for v in vals))


def _cluster_settings(overrides):
    """ClusterSettings with NAME=VALUE changes; a bad name or value is a usage error."""
    import dataclasses

    from .config import ClusterSettings

    fields = {f.name: f.type for f in dataclasses.fields(ClusterSettings)}
    changes = {}
    for item in overrides:
        name, _, value = item.partition("=")
        if name not in fields or not value:
            raise click.BadParameter(f"{item!r}: expected NAME=VALUE with NAME one of {', '.join(fields)}",
                                     param_hint="--set")
        try:
            changes[name] = int(value) if fields[name] in (int, "int") else float(value)
        except ValueError:
            raise click.BadParameter(f"{item!r}: {value!r} is not a number", param_hint="--set") from None
    return ClusterSettings(**changes)


@cli.command()
@click.option("--labeled", required=True, type=click.Path(file_okay=False, exists=True),
              help="A folder of <Person>/<photos> from this library.")
@click.option("--fmr", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=1e-3, show_default=True,
              help="Target false-match rate.")
@CACHE_OPTION
@WORKERS_OPTION
@PROGRESS_OPTION
@JSON_OPTION
def calibrate(labeled, fmr, cache, workers, progress, as_json):
    """Pick the same-person distance threshold for your photos at a target false-match rate."""
    from . import api

    with _ProgressBar(progress, "embedding") as bar:
        out = api.calibrate(labeled, fmr=fmr, cache=cache, workers=workers,
                            on_start=bar.on_start, on_progress=bar.on_progress)
    if as_json:
        return _echo_json(out)
    click.echo(f"{out['faces']} faces: {out['same_pairs']} same-person pairs, {out['different_pairs']} different-person pairs")
    for level in out["levels"]:
        mark = "  <- target" if level["target_fmr"] == fmr else ""
        click.echo(f"false-match rate {level['target_fmr']:>6g}: threshold {level['threshold']:.3f}, "
                   f"same-person pairs accepted {level['tmr']:.4f} (measured FMR {level['fmr']:.5f}){mark}")
    click.echo(f"(photoface's default 1:1 threshold is {out['default_threshold']:.2f}; "
               "`photoface verify` and search use it)")


@cli.command()
@click.argument("video", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="The annotated copy to write (.mp4, or .avi for Motion JPEG).")
@click.option("--db", default=None, envvar="PHOTOFACE_DB",
              help="Library whose named people are recognized [default: $PHOTOFACE_DB; none: every face unknown].")
@click.option("--every", type=click.IntRange(min=1), default=5, show_default=True,
              help="Detect and recognize every N frames; optical flow moves the boxes in between.")
@click.option("--max-side", type=click.IntRange(min=64), default=640, show_default=True,
              help="Frames are scaled to at most this many pixels for detection and tracking.")
@click.option("--max-distance", type=click.FloatRange(0, 2), default=NAMING_DISTANCE, show_default=True,
              help="A face takes the name of the nearest named face within this distance.")
@click.option("--labels", type=click.Path(dir_okay=False), default=None,
              help="Also write one JSON line per frame with its boxes and names.")
@click.option("--device", type=click.Choice(["auto", "cpu", "gpu"]), default="auto", show_default=True)
@JSON_OPTION
def annotate(video, output, db, every, max_side, max_distance, labels, device, as_json):
    """Copy VIDEO with a box and a name drawn on every face (same size, frame rate and length)."""
    from . import api

    r = api.annotate(video, output, db=db, every=every, max_side=max_side, max_distance=max_distance,
                     labels=labels, settings=Settings(device=device))
    if as_json:
        return _echo_json(r)
    names = ", ".join(f"{n} ({k} frames)" for n, k in sorted(r["names"].items(), key=lambda x: -x[1])) or "no faces"
    click.echo(f"{r['frames']} frames ({r['width']}x{r['height']}, {r['fps']:g} fps) written to {r['output']}: {names}")
    click.echo(f"{r['frames_per_s']} frames/s, {r['realtime_factor']}x real time; "
               f"faces detected on {r['detection_frames']} frames")


@cli.group("report")
def report_group():
    """Summaries of the library."""


@report_group.command("demographics")
@DB_OPTION
@click.option("--per-person", is_flag=True, help="Also one line per person.")
@click.option("--all", "include_hidden", is_flag=True, help="Include hidden people.")
@JSON_OPTION
def report_demographics(db, per_person, include_hidden, as_json):
    """Faces and people by estimated age band, gender and expression."""
    from . import api

    r = api.demographics(db, per_person=per_person, include_hidden=include_hidden)
    if as_json:
        return _echo_json(r)
    f, p = r["faces"], r["people"]
    click.echo(f"{f['count']} faces with estimates ({r['unassigned_faces']} not in any person), {p['count']} people")
    click.echo(f"{'age band':<10} {'faces':>7} {'people':>7}")
    for band, n in f["age_bands"].items():
        click.echo(f"{band:<10} {n:>7} {p['age_bands'][band]:>7}")
    click.echo(f"{'gender':<10} {'faces':>7} {'people':>7}")
    for g in ("female", "male", "uncertain"):
        click.echo(f"{g:<10} {f['gender'].get(g, 0):>7} {p['gender'][g]:>7}")
    click.echo(f"{'expression':<10} {'faces':>7} {'mean p':>7}")
    for e, n in f["emotion"].items():
        click.echo(f"{e:<10} {n:>7} {f['mean_probability'][e]:>7.3f}")
    if per_person:
        click.echo(f"{'id':>5}  {'name':<28} {'faces':>5} {'age':>5} {'gender':<8} {'agree':>5} {'smiling':>7}")
        for s in r["per_person"]:
            click.echo(f"{s['person_id']:>5}  {(s['name'] or '(unnamed cluster)'):<28} {s['faces_with_attributes']:>5} "
                       f"{s['median_age']:>5.0f} {s['gender']:<8} {s['gender_agreement']:>5.0%} {s['smiling_share']:>7.0%}")


def main(argv: list[str] | None = None) -> int:
    """Entry point: every error becomes one line on stderr and a non-zero exit status."""
    from .errors import PhotofaceError

    try:
        cli.main(args=argv, prog_name="photoface", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help() if exc.ctx else str(exc))
        return 0
    except click.ClickException as exc:
        click.echo(f"photoface: error: {exc.format_message()}", err=True)
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except (click.exceptions.Abort, KeyboardInterrupt):  # click turns Ctrl-C into Abort
        click.echo("photoface: interrupted; run the same command again to resume", err=True)
        return 130
    except PhotofaceError as exc:
        click.echo(f"photoface: error: {exc}", err=True)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
