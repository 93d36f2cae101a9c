"""Commands that build the library: index, attributes, status, serve."""
from __future__ import annotations

import dataclasses

import click

from . import cli, render
from .options import (DEFAULTS, INDEX_SETTINGS, ProgressBar, db_option, device_option, echo_json, progress_option,
                      settings_from, settings_options, workers_option)


@cli.command()
@click.argument("folder", type=click.Path(file_okay=False))
@db_option
@workers_option
@click.option("--scheduler", default="auto", show_default=True, metavar="auto|local|sync|tcp://HOST:PORT",
              help="local: start a local Dask cluster; sync: run in this process; "
                   "tcp://HOST:PORT: use an existing dask.distributed scheduler; "
                   "auto: a local cluster only when its workers save more than starting them costs (never on "
                   "two cores, where one process is the faster), else in this process.")
@settings_options(INDEX_SETTINGS)
@click.option("--retry-failed", is_flag=True, help="Try again files that failed in an earlier run.")
@click.option("--tags/--no-tags", "read_tags", default=True, show_default=True,
              help="Read the face tags other apps wrote into the photos and their sidecars (needs ExifTool).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@progress_option
def index(folder, db, workers, scheduler, retry_failed, read_tags, as_json, progress, **options):
    """Find, embed and store every face in the photos under FOLDER.

    Re-running it is cheap: unchanged files are skipped, moved ones are recognized by
    content, deleted ones are marked missing, and an interrupted run is resumed.
    """
    from .. import api

    settings = dataclasses.replace(settings_from(options, INDEX_SETTINGS), read_tags=read_tags)
    with ProgressBar(progress, "indexing") as bar:
        summary = api.index(folder, db, workers=workers, scheduler=scheduler, settings=settings,
                            retry_failed=retry_failed, on_progress=bar.on_progress, on_start=bar.on_start)
    if as_json:
        echo_json(summary.to_dict())
    else:
        render.index_summary(summary)


@cli.command()
@db_option
@click.option("--redo", is_flag=True, help="Estimate again for every face, not only those without estimates.")
@workers_option
@device_option
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@progress_option
def attributes(db, redo, workers, device, as_json, progress):
    """Estimate age, gender and expression for faces already indexed (those without estimates)."""
    from .. import api

    with ProgressBar(progress, "attributes", unit="face") as bar:
        out = api.attributes(db, redo=redo, workers=workers, settings=dataclasses.replace(DEFAULTS, device=device),
                             on_start=bar.on_start, on_progress=bar.on_progress)
    if as_json:
        echo_json(out)
    else:
        render.attributes_summary(out)


@cli.command()
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def status(db, as_json):
    """Show what the database holds and its latest index runs."""
    from .. import api

    info = api.status(db)
    if as_json:
        echo_json(info)
    else:
        render.status(info)


@cli.command()
@db_option
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but this machine's loopback opens the library to the network.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="Port (0: any free one).")
@click.option("--read-only", is_flag=True, help="Browse only: every change is refused.")
@click.option("--allow-host", "allow_hosts", multiple=True, metavar="NAME",
              help="Another host name the browser may use to reach the server (repeatable); requests naming "
                   "any other host are refused. Loopback names and --host are always allowed.")
def serve(db, host, port, read_only, allow_hosts):
    """Review and name people in the browser (http://127.0.0.1:8765)."""
    import ipaddress

    from ..web import serve as run_server

    try:
        local = ipaddress.ip_address(host).is_loopback
    except ValueError:
        local = host == "localhost"
    if not local:
        what = "see this library" if read_only else "see and change this library (--read-only prevents changes)"
        click.echo(f"photoface: warning: listening on {host}: anyone who can reach this machine can {what}; "
                   "the default 127.0.0.1 keeps it to this machine", err=True)
    run_server(db, host, port, read_only, allow_hosts=allow_hosts,
               on_ready=lambda url: click.echo(f"photoface: serving {db} at {url}"
                                               f"{' (read-only)' if read_only else ''}; Ctrl-C stops"))

