"""The `photoface` command: parse arguments, call photoface.api, print results; errors on one line."""
from __future__ import annotations

import json
import sys

import click

from . import __version__

from .config import Settings

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


@cli.command()
@click.argument("folder", type=click.Path(file_okay=False))
@DB_OPTION
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Worker processes of the local Dask cluster [default: one per two cores].")
@click.option("--scheduler", default="local", show_default=True, metavar="local|sync|tcp://HOST:PORT",
              help="local: start a local Dask cluster; sync: run in this process; "
                   "tcp://HOST:PORT: use an existing dask.distributed scheduler.")
@click.option("--device", type=click.Choice(["auto", "cpu", "gpu"]), default="auto", show_default=True,
              help="Where TensorFlow runs: auto uses a GPU when one is visible; gpu fails if there is none.")
@click.option("--batch-size", "partition_size", type=click.IntRange(min=1), default=_DEFAULTS.partition_size, show_default=True,
              help="Photos per Dask task; their faces are embedded together.")
@click.option("--embed-batch", type=click.IntRange(min=1), default=_DEFAULTS.embed_batch, show_default=True,
              help="Faces per FaceNet batch.")
@click.option("--max-side", "detect_max_side_px", type=click.IntRange(min=64), default=_DEFAULTS.detect_max_side_px, show_default=True,
              help="Photos are scaled to at most this many pixels on the long side for detection.")
@click.option("--min-score", type=click.FloatRange(0, 1), default=_DEFAULTS.min_score, show_default=True,
              help="Minimum MTCNN detection score for a face to be kept.")
@click.option("--min-face", "min_face_px", type=click.IntRange(min=20), default=_DEFAULTS.min_face_px, show_default=True,
              help="Minimum face size in pixels at detection resolution.")
@click.option("--retry-failed", is_flag=True, help="Try again files that failed in an earlier run.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--progress/--no-progress", default=None,
              help="Show a progress bar [default: only when stderr is a terminal].")
def index(folder, db, workers, scheduler, device, partition_size, embed_batch, detect_max_side_px, min_score,
          min_face_px, retry_failed, as_json, progress):
    """Find, embed and store every face in the photos under FOLDER.

    Re-running it is cheap: unchanged files are skipped, moved ones are recognized by
    content, deleted ones are marked missing, and an interrupted run is resumed.
    """
    from . import api

    settings = Settings(
        device=device, partition_size=partition_size, embed_batch=embed_batch,
        detect_max_side_px=detect_max_side_px, min_score=min_score, min_face_px=min_face_px,
    )
    show_bar = sys.stderr.isatty() if progress is None else progress
    bar = None

    def on_start(total):
        nonlocal bar
        if show_bar:
            from tqdm import tqdm

            bar = tqdm(total=total, unit="photo", desc="indexing", dynamic_ncols=True, file=sys.stderr)

    def on_progress(done, total, faces):
        if bar is not None:
            bar.n = done
            bar.set_postfix(faces=faces, refresh=False)
            bar.refresh()

    try:
        summary = api.index(folder, db, workers=workers, scheduler=scheduler, settings=settings,
                            retry_failed=retry_failed, on_progress=on_progress, on_start=on_start)
    finally:
        if bar is not None:
            bar.close()
    if as_json:
        click.echo(json.dumps(summary.to_dict(), indent=2, ensure_ascii=True))
    else:
        _print_summary(summary)


def _print_summary(s) -> None:
    click.echo(
        f"{s.photos_seen} photos seen: {s.photos_indexed} indexed, {s.photos_unchanged} skipped (unchanged), "
        f"{s.photos_moved} moved, {s.photos_missing} missing, {s.photos_failed} failed; "
        f"{s.faces_found} faces found"
    )
    if s.photos_indexed + s.photos_failed:
        click.echo(f"{s.photos_per_s:.2f} photos/s, {s.faces_per_s:.2f} faces/s with {s.workers} worker(s) "
                   f"({s.scheduler}); {s.elapsed_s:.1f} s in all")
    for path, error in s.errors:
        click.echo(f"failed: {_printable(path)}: {error}")
    if s.photos_failed > len(s.errors):
        click.echo(f"... and {s.photos_failed - len(s.errors)} more (see the photos table, status 'failed')")
    for path, error in s.scan_errors:
        click.echo(f"skipped folder: {_printable(path)}: {error}")
    click.echo(f"database: {s.db}")


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
