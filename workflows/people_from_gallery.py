"""Recipe: index a folder, group its faces into people, name them from a gallery, and list
each named person's photos.

    python workflows/people_from_gallery.py PHOTOS --gallery KNOWN --db demo.db

KNOWN holds one folder per person, named after them, with a photo or two showing only
that person (KNOWN/Barack Obama/portrait.jpg). Running it again after adding photos
adds them to the same people; names given by hand (`photoface name`) are kept.
"""
from __future__ import annotations

import argparse
import sys

from photoface import api
from photoface.errors import PhotofaceError


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--gallery", required=True)
    parser.add_argument("--db", default="photoface.db")
    parser.add_argument("--scheduler", default="local")
    args = parser.parse_args(argv)
    try:
        summary = api.index(args.folder, args.db, scheduler=args.scheduler)
        print(f"indexed {summary.photos_indexed} photos, {summary.faces_found} faces")
        clusters = api.cluster(args.db)
        print(f"{clusters['people']} people and clusters, {clusters['unknown']} faces unknown")
        labeled = api.label_gallery(args.db, args.gallery)
        for skipped in labeled["skipped"]:
            print(f"gallery photo skipped: {skipped['path']}: {skipped['why']}")
        for person in api.people(args.db):
            if not person.name:
                continue
            photos = api.search(args.db, [str(person.id)])
            print(f"{person.name}: {len(photos)} photo(s)")
            for photo in photos:
                print(f"  {photo['path']}")
    except PhotofaceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
