"""Commands about people: cluster, list, name, merge, move, split, reject, hide, undo, history,
and naming from a gallery or a classifier."""
from __future__ import annotations

import click

from . import cli, render
from .options import NAMING, db_option, echo_json, json_option, printable, resolve_threshold, threshold_option


@cli.command()
@db_option
@click.option("--full/--incremental", default=None,
              help="Re-cluster every face (ids and names carry over), or only add the new faces to people "
                   "and clusters. Default: full while the library has at most full_run_faces faces "
                   "(10,000), else incremental.")
@click.option("--set", "overrides", multiple=True, metavar="NAME=VALUE",
              help="Change one clustering setting for this run (repeatable; names as in config.ClusterSettings).")
@click.option("--defaults", is_flag=True, help="Ignore the library's calibration (`photoface calibrate --from-names`).")
@json_option
def cluster(db, full, overrides, defaults, as_json):
    """Group faces into people.

    New faces join the person they clearly match; the rest, with earlier unknown faces,
    form new clusters. Libraries of up to 10,000 faces are re-clustered in full each time
    (about 2 s), which lets new photos join clusters that were apart. Names, moves,
    merges and rejections are never undone by a run.
    The distances are the library's calibrated ones when `photoface calibrate
    --from-names` found better ones on your named people.
    """
    from .. import api

    out = api.cluster(db, full=full, overrides=overrides, calibrated=not defaults)
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


AS_NEW_HELP = "NAME is meant as a new name, not a misspelling of someone's similar name."


@cli.command()
@click.argument("person")
@click.argument("new_name")
@click.option("--merge", "confirm_merge", is_flag=True,
              help="If another person already has NEW_NAME, merge PERSON into them (refused without it).")
@click.option("--new", "as_new", is_flag=True, help=AS_NEW_HELP.replace("NAME", "NEW_NAME"))
@db_option
def name(person, new_name, confirm_merge, as_new, db):
    """Name (or rename) PERSON (a cluster id or a current name).

    A name someone else has is refused unless --merge says to merge the two; a name close
    to someone else's asks "did you mean" unless --new says it is a new name.
    """
    from .. import api

    out = api.name(db, person, new_name, confirm_merge=confirm_merge, as_new=as_new)
    if out.get("merged"):
        click.echo(f"merged {out['merged']} into person {out['person']} {printable(out['name'])!r}: "
                   f"{out['moved']} faces moved" + _left(out))
    else:
        click.echo(f"person {out['person']} is now {printable(out['name'])!r}")


cli.add_command(click.Command("rename", callback=name.callback, params=name.params,
                              help="Rename PERSON (same as `name`)."))


def _left(out: dict) -> str:
    return (f", {out['left_unassigned']} left unassigned (same photo as a face of the target)"
            if out.get("left_unassigned") else "")


@cli.command()
@click.argument("sources", nargs=-1, required=True)
@click.option("--into", "target", default=None, help="The person who takes their faces (id or name).")
@db_option
def merge(sources, target, db):
    """Merge people SOURCES into the person --into TARGET (ids or names): their faces become
    TARGET's and they are removed. `photoface undo` reverts it."""
    from .. import api
    from ..errors import InputError

    if target is None:
        raise InputError("say which person takes the faces: photoface merge SOURCE... --into TARGET"
                         + (f" (e.g. merge {sources[-1]} --into {sources[0]})" if len(sources) == 2 else ""))
    for source in sources:
        out = api.merge(db, target, source)
        click.echo(f"merged {printable(source)} into person {out['person']}: {out['moved']} faces moved" + _left(out))


@cli.command()
@click.argument("face_ids", nargs=-1, type=int, required=True)
@click.option("--to", "to", required=True, help="Person id or name (a new name creates the person).")
@click.option("--new", "as_new", is_flag=True, help=AS_NEW_HELP.replace("NAME", "the --to name"))
@db_option
def move(face_ids, to, as_new, db):
    """Move faces (FACE_IDS) to another person; they stay there."""
    from .. import api

    out = api.move(db, face_ids, to, as_new=as_new)
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


@cli.command("new-person")
@click.argument("face_ids", nargs=-1, type=int, required=True)
@click.option("--name", "new_name", default=None, help="Name of the new person.")
@click.option("--new", "as_new", is_flag=True, help=AS_NEW_HELP.replace("NAME", "the --name"))
@db_option
def new_person(face_ids, new_name, as_new, db):
    """Make a new person of faces (FACE_IDS), e.g. unknown ones from `photoface faces`."""
    from .. import api

    out = api.new_person(db, face_ids, new_name, as_new=as_new)
    who = f" {printable(out['name'])!r}" if out["name"] else ""
    click.echo(f"new person {out['person']}{who} with {len(out['faces'])} face(s)")


@cli.command("add-face")
@click.argument("photo", type=click.Path(dir_okay=False))
@click.option("--box", required=True, metavar="X1,Y1,X2,Y2",
              help="The face's box in the photo's pixels (as the photo is shown, EXIF orientation applied).")
@click.option("--name", "new_name", default=None, help="Whose face it is (a name or person id).")
@click.option("--new", "as_new", is_flag=True, help=AS_NEW_HELP.replace("NAME", "the --name"))
@db_option
def add_face(photo, box, new_name, as_new, db):
    """Add a face the detector missed on an indexed PHOTO: cropped and embedded as detected
    faces are, it takes part in clustering and search. `photoface undo` or `delete-face` removes it."""
    from .. import api

    out = api.add_face(db, photo, box.replace(" ", "").split(","), new_name, as_new=as_new)
    who = f" as person {out['person']} {printable(out['name'] or '')!r}" if out["person"] else ""
    click.echo(f"added face {out['face']}{who}")


@cli.command("delete-face")
@click.argument("face_id", type=int)
@db_option
def delete_face(face_id, db):
    """Delete a face added by hand (`photoface undo` brings it back)."""
    from .. import api

    click.echo(f"deleted face {api.delete_face(db, face_id)['deleted']}")


@cli.command()
@click.argument("face_ids", nargs=-1, type=int, required=True)
@click.option("--restore", is_flag=True, help="Stop ignoring them: the next `photoface cluster` considers them again.")
@db_option
def ignore(face_ids, restore, db):
    """Not a person of interest (strangers in the background): the faces leave any person and
    no clustering run places them again. `photoface faces --ignored` lists them."""
    from .. import api

    out = api.ignore(db, face_ids, ignored=not restore)
    click.echo(f"{len(out['faces'])} face(s) " + ("ignored" if out["ignored"] else "no longer ignored"))


@cli.command()
@click.option("--unknown", "which", flag_value="unknown", default=True,
              help="Faces that belong to nobody and are not ignored [default].")
@click.option("--ignored", "which", flag_value="ignored", help="Faces you ignored (`photoface ignore`).")
@click.option("--maybe-someone-else", "which", flag_value="questions",
              help="Faces of the largest people that may be someone else (few look-alikes among the others).")
@click.option("--limit", type=click.IntRange(min=1), default=200, show_default=True, help="How many faces to list.")
@click.option("--offset", type=click.IntRange(min=0), default=0, help="Skip this many faces first.")
@db_option
@json_option
def faces(which, limit, offset, db, as_json):
    """List unknown faces in groups of look-alikes, largest and sharpest first.

    Name a group with `photoface new-person IDS --name NAME` or `photoface move IDS --to
    PERSON`; ignore strangers with `photoface ignore IDS`. With --maybe-someone-else: split
    such faces off with `photoface split PERSON IDS`, or keep them with `photoface move IDS
    --to PERSON` (the question is then answered for good).
    """
    from .. import api

    if which == "questions":
        questions = api.split_questions(db)
        echo_json(questions) if as_json else render.split_questions(questions)
        return
    out = api.unknown_faces(db, offset=offset, limit=limit, ignored=which == "ignored")
    echo_json(out) if as_json else render.unknown_faces(out, which)


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
@threshold_option(NAMING)
@db_option
@json_option
def label(gallery, classifier, dry_run, threshold, db, as_json):
    """Name clusters that match known people; names a user gave are never replaced."""
    from .. import api

    if bool(gallery) == bool(classifier):
        raise click.UsageError("give either --gallery FOLDER or --classifier")
    threshold = resolve_threshold(threshold, NAMING, db)
    out = (api.label_gallery(db, gallery, threshold=threshold, dry_run=dry_run) if gallery
           else api.label_classifier(db, max_distance=threshold, dry_run=dry_run))
    echo_json(out) if as_json else render.label(out, dry_run)


@cli.command("train-classifier")
@db_option
def train_classifier(db):
    """Train a linear SVM on the faces of the people you named (for `label --classifier`)."""
    from .. import api

    out = api.train_classifier(db)
    click.echo(f"trained on {out['faces']} faces of {out['people']} people: {out['path']}")
    for o in out["left_out"]:
        click.echo(f"left out {printable(o['name'])!r}: {o['why']}")


@cli.group()
def tags():
    """Face tags in the photos' metadata, shared with digiKam, Lightroom, Immich, PhotoPrism."""


@tags.command("write")
@click.option("--embed", is_flag=True, help="Write into the photos themselves instead of XMP sidecars.")
@click.option("--person", default=None, help="Only this person's faces (id or name).")
@click.option("--sidecar", "style", type=click.Choice(["photo.jpg.xmp", "photo.xmp"]), default="photo.jpg.xmp",
              show_default=True, help="How a new sidecar is named (a photo's existing sidecar is always used).")
@click.option("--format", "regions", type=click.Choice(["mwg", "both"]), default="mwg", show_default=True,
              help="Face regions to write: MWG (digiKam, Lightroom, Immich, PhotoPrism, LibrePhotos), or both "
                   "MWG and Microsoft People Tagging (Windows Photo Gallery, Picasa).")
@click.option("--dry-run", is_flag=True, help="Only list the files that would change.")
@db_option
@json_option
def tags_write(embed, person, style, regions, dry_run, db, as_json):
    """Write photoface's names as face regions (MWG) and person names (IPTC PersonInImage,
    keywords) into XMP sidecars, or with --embed into the photos. Regions and tags photoface
    did not write are kept; files that already hold the names are not touched."""
    from .. import api

    out = api.tags_write(db, embed=embed, person=person, dry_run=dry_run, style=style, regions=regions)
    if as_json:
        echo_json(out)
        return
    for path in out["files"]:
        click.echo(("would write " if dry_run else "wrote ") + printable(path))
    for f in out["failed"]:
        click.echo(f"failed: {printable(f['path'])}: {f['why']}")
    if not out["files"]:
        click.echo("nothing to write: every file already holds photoface's names")
    else:
        click.echo(f"{len(out['files'])} file(s) to update" if dry_run else
                   f"{out['written']} file(s) written, {len(out['failed'])} failed")
    if out["failed"]:  # a script must see that some names did not reach their files
        click.get_current_context().exit(1)


@tags.command("read")
@db_option
@json_option
def tags_read(db, as_json):
    """Read the face regions other apps wrote (MWG and Microsoft, embedded and in sidecars)
    and name photoface's faces after them; a region over no detected face becomes a face.
    Names you gave in photoface win over the tags (listed as conflicts)."""
    from .. import api

    out = api.tags_read(db)
    echo_json(out) if as_json else render.tags_summary(out)
