"""Exceptions a user can act on; the CLI prints their message on one line."""


class PhotofaceError(Exception):
    """Base class: the message says what failed and what to do."""


class ModelError(PhotofaceError):
    """A model's weights are missing, damaged, or cannot be loaded."""


class DeviceError(PhotofaceError):
    """The requested device (e.g. a GPU) is not available."""


class DatabaseError(PhotofaceError):
    """The database cannot be opened, written, or is in use by another run."""


class LibraryBusy(DatabaseError):
    """Another run (index, cluster, a change) holds the library's lock right now."""


class InputError(PhotofaceError):
    """A bad argument: missing folder, bad option value."""


class NameConflict(InputError):
    """A name that another person already has (``taken``), or that is a near miss of other
    people's names: the caller confirms (merge, or a new name) before anything changes.
    ``people``: [(id, name)] of those people, best match first."""

    def __init__(self, message: str, people: list[tuple[int, str]], taken: bool):
        super().__init__(message)
        self.people = people
        self.taken = taken


class ImageError(PhotofaceError):
    """One file could not be read as an image; recorded and skipped, never fatal."""
