"""The only package that talks to SQLite: the schema and its migrations (schema.py), the
library of photos and faces (library.py), people and the change log (people.py), embeddings
as clustering and search read them (vectors.py), read models for pages and reports
(queries.py), what was read from the photos' face tags (tags.py), what calibration learned
from the user's names (calibrations.py), and the lock that keeps one run per library (lock.py).

``Store`` is one open library file; each part above contributes its methods to it.
"""
from __future__ import annotations

from contextlib import contextmanager

from .base import Base, ensure_db_folder, now_iso, path_key, stored_path
from .library import Library
from .calibrations import Calibrations
from .lock import RunLock
from .people import People
from .queries import Queries
from .schema import MIGRATIONS, SCHEMA_VERSION
from .tags import Tags
from .vectors import Vectors

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "RunLock", "Store", "ensure_db_folder", "now_iso", "open_store",
           "path_key", "stored_path"]


class Store(Library, People, Vectors, Queries, Tags, Calibrations, Base):
    """One photoface database. Only the client process holds one; workers never write."""


@contextmanager
def open_store(path: str, create: bool = False):
    """A library file (an existing one unless ``create``), closed afterwards."""
    store = Store(path, create=create)
    try:
        yield store
    finally:
        store.close()
