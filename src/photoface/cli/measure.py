"""Commands that measure: eval pairs, eval cluster, calibrate, report demographics."""
from __future__ import annotations

import click

from . import cli, render
from .options import ProgressBar, db_option, echo_json, evaluation_options, json_option


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
@evaluation_options
def eval_pairs(lfw, pairs_csv, roc, far, cache, workers, progress, as_json):
    """1:1 verification accuracy, 10-fold: each fold's threshold is chosen on the other nine."""
    from .. import api

    with ProgressBar(progress, "embedding") as bar:
        out = api.eval_pairs(lfw=lfw, pairs=pairs_csv, cache=cache, roc=roc, far=far, workers=workers,
                             on_start=bar.on_start, on_progress=bar.on_progress)
    echo_json({k: v for k, v in out.items() if k != "roc"}) if as_json else render.eval_pairs(out)


@eval_group.command("cluster")
@click.option("--labeled", type=click.Path(file_okay=False, exists=True),
              help="A folder of <Person>/<photos>: the truth.")
@click.option("--from-tags", is_flag=True,
              help="The truth is the names the library's own face tags give (read by index or tags read).")
@click.option("--db", default="photoface.db", show_default=True, type=click.Path(dir_okay=False),
              help="The library, with --from-tags.")
@click.option("--no-anchors", is_flag=True, help="Only photoface's clustering, not the other tools' algorithms.")
@click.option("--set", "overrides", multiple=True, metavar="NAME=VALUE",
              help="Change a clustering setting for this run, e.g. --set min_samples=3 (repeatable).")
@evaluation_options
def eval_cluster(labeled, from_tags, db, no_anchors, overrides, cache, workers, progress, as_json):
    """Clustering quality (pairwise and BCubed) against the people of a labeled folder, or
    with --from-tags against the names your library's face tags already carry.

    The embeddings are cached: trying other settings with --set takes seconds."""
    from .. import api
    from ..config import ClusterSettings, with_overrides
    from ..errors import InputError

    try:
        settings = with_overrides(ClusterSettings(), list(overrides))
    except InputError as exc:
        raise click.BadParameter(str(exc).removeprefix("--set "), param_hint="--set") from None
    if bool(labeled) == from_tags:
        raise click.UsageError("give either --labeled FOLDER or --from-tags")
    if from_tags:
        out = api.eval_cluster_tags(db, settings=settings, anchors=not no_anchors)
        echo_json(out) if as_json else render.eval_cluster(out)
        return
    with ProgressBar(progress, "embedding") as bar:
        out = api.eval_cluster(labeled, cache=cache, anchors=not no_anchors, workers=workers, settings=settings,
                               on_start=bar.on_start, on_progress=bar.on_progress)
    echo_json(out) if as_json else render.eval_cluster(out)


@cli.command()
@click.option("--labeled", type=click.Path(file_okay=False, exists=True), default=None,
              help="A folder of <Person>/<photos> from this library.")
@click.option("--from-names", is_flag=True,
              help="Learn from the people you named in the library (--db): the clustering distances and the "
                   "same-person and naming thresholds, stored and used from then on.")
@db_option
@click.option("--fmr", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=1e-3, show_default=True,
              help="With --labeled: the target false-match rate.")
@click.option("--save", is_flag=True,
              help="With --labeled: store the same-person and naming thresholds in the library (--db) for "
                   "verify --db, search, label and annotate.")
@evaluation_options
def calibrate(labeled, from_names, db, fmr, save, cache, workers, progress, as_json):
    """Measure the distances that decide on your own photos.

    --labeled FOLDER: the same-person threshold at a target false-match rate (--save stores
    the thresholds in the library). --from-names:
    fit the library's clustering distances to the people you named (checked on half of
    them with what the other half taught; applied only where better) and measure the
    same-person and naming thresholds on their faces; `cluster`, `search`, `label` and
    `verify --db` use them unless given their own.
    """
    from .. import api

    if bool(labeled) == bool(from_names):
        raise click.UsageError("give either --labeled FOLDER or --from-names")
    if from_names:
        out = api.calibrate_from_names(db)
        echo_json(out) if as_json else render.calibrate_from_names(out)
        return
    with ProgressBar(progress, "embedding") as bar:
        out = api.calibrate(labeled, fmr=fmr, cache=cache, workers=workers,
                            on_start=bar.on_start, on_progress=bar.on_progress, save_to=db if save else None)
    echo_json(out) if as_json else render.calibrate(out, fmr)


@cli.group("report")
def report_group():
    """Summaries of the library."""


@report_group.command("demographics")
@db_option
@click.option("--per-person", is_flag=True, help="Also one line per person.")
@click.option("--all", "include_hidden", is_flag=True, help="Include hidden people.")
@json_option
def report_demographics(db, per_person, include_hidden, as_json):
    """Faces and people by estimated age band, gender and expression."""
    from .. import api

    r = api.demographics(db, per_person=per_person, include_hidden=include_hidden)
    echo_json(r) if as_json else render.demographics(r, per_person)
