"""Commands about people: cluster, list, name, merge, move, split, reject, hide, undo, history,
and naming from a gallery or a classifier."""
from __future__ import annotations

import click

from . import cli, render
from .options import db_option, echo_json, json_option


@cli.command()
@db_option
@click.option("--full", is_flag=True,
              help="Re-cluster every face (ids and names carry over) instead of adding new faces to people.")
@json_option
def cluster(db, full, as_json):
    """Group faces into people.

    New faces join the person they clearly match; the rest, with earlier unknown faces,
    form new clusters. Names, moves, merges and rejections are never undone by a run.
    """
    from .. import api

    out = api.cluster(db, full=full)
    echo_json(out) if as_json else render.cluster(out)


@cli.command()
@click.argument("person", required=False)
@db_option
@click.option("--all", "include_hidden", is_flag=True, help="Include hidden people.")
@json_option
def people(person, db, include_hidden, as_json):
    """List people and unnamed clusters, largest first; with PERSON (id or name), list their faces."""
    from .. import api

    if person is not None:
        info = api.person_faces(db, person)
        echo_json(info) if as_json else render.person(info)
    else:
        rows = api.people(db, include_hidden=include_hidden)
        echo_json(rows) if as_json else render.people(rows)


@cli.command()
@click.argument("person")
@click.argument("new_name")
@db_option
def name(person, new_name, db):
    """Name (or rename) PERSON (a cluster id or a current name). A name someone else has merges the two."""
    from .. import api

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
@db_option
def merge(target, source, db):
    """Merge person SOURCE into TARGET (ids or names)."""
    from .. import api

    out = api.merge(db, target, source)
    click.echo(f"merged {source} into person {out['person']}: {out['moved']} faces moved"
               + (f", {out['left_unassigned']} left unassigned (same photo as a face of the target)"
                  if out["left_unassigned"] else ""))


@cli.command()
@click.argument("face_ids", nargs=-1, type=int, required=True)
@click.option("--to", "to", required=True, help="Person id or name (a new name creates the person).")
@db_option
def move(face_ids, to, db):
    """Move faces (FACE_IDS) to another person; they stay there."""
    from .. import api

    out = api.move(db, face_ids, to)
    click.echo(f"moved {len(out['faces'])} face(s) to person {out['person']} {out['name'] or ''}".rstrip())


@cli.command()
@click.argument("person")
@click.argument("face_ids", nargs=-1, type=int, required=True)
@click.option("--name", "new_name", default=None, help="Name of the new person.")
@db_option
def split(person, face_ids, new_name, db):
    """Split faces (FACE_IDS) off PERSON into a new person."""
    from .. import api

    out = api.split(db, person, face_ids, new_name)
    click.echo(f"{len(out['faces'])} face(s) moved from person {out['from']} to new person {out['person']}")


@cli.command()
@click.argument("face_ids", nargs=-1, type=int, required=True)
@click.option("--from", "person", default=None, help="The person they are not [default: their current one].")
@db_option
def reject(face_ids, person, db):
    """Not this person: the faces leave the person and are never assigned to it again."""
    from .. import api

    out = api.reject(db, face_ids, person)
    for fid, pid in out["rejected"]:
        click.echo(f"face {fid} is not person {pid}")


@cli.command()
@click.argument("person")
@click.option("--show", is_flag=True, help="Show a hidden person again.")
@db_option
def hide(person, show, db):
    """Hide PERSON from listings and searches (their faces stay theirs)."""
    from .. import api

    out = api.hide(db, person, hidden=not show)
    click.echo(f"person {out['person']} {'hidden' if out['hidden'] else 'shown'}")


@cli.command()
@click.argument("event_id", type=int, required=False)
@db_option
def undo(event_id, db):
    """Undo the latest change (naming, merge, move, split, reject, hide, label or cluster run)."""
    from .. import api

    out = api.undo(db, event_id)
    click.echo(f"undid change {out['undone']}: {out['summary']}")


@cli.command()
@db_option
@click.option("--limit", type=click.IntRange(min=1), default=30, show_default=True, help="How many changes to list.")
@json_option
def history(db, limit, as_json):
    """List recorded changes, newest first."""
    from .. import api

    rows = api.history(db, limit)
    echo_json(rows) if as_json else render.history(rows)


@cli.command()
@click.option("--gallery", type=click.Path(file_okay=False), default=None,
              help="Folder of known faces: GALLERY/<Person Name>/*.jpg.")
@click.option("--classifier", is_flag=True, help="Use the classifier from `photoface train-classifier`.")
@click.option("--dry-run", is_flag=True, help="Only show what would be named.")
@db_option
@json_option
def label(gallery, classifier, dry_run, db, as_json):
    """Name clusters that match known people; names a user gave are never replaced."""
    from .. import api

    if bool(gallery) == bool(classifier):
        raise click.UsageError("give either --gallery FOLDER or --classifier")
    out = api.label_gallery(db, gallery, dry_run=dry_run) if gallery else api.label_classifier(db, dry_run=dry_run)
    echo_json(out) if as_json else render.label(out, dry_run)


@cli.command("train-classifier")
@db_option
def train_classifier(db):
    """Train a linear SVM on the faces of the people you named (for `label --classifier`)."""
    from .. import api

    out = api.train_classifier(db)
    click.echo(f"trained on {out['faces']} faces of {out['people']} people: {out['path']}")
