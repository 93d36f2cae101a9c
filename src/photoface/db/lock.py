"""One index run per database at a time: an OS file lock, released even when the process is killed."""
from __future__ import annotations

import fcntl
import json
import os

from ..errors import DatabaseError, LibraryBusy
from .base import check_library_file, now_iso


class RunLock:
    def __init__(self, db_path: str):
        self.path = os.path.abspath(db_path) + ".lock"
        self._fh = None

    def acquire(self) -> "RunLock":
        db = self.path[:-5]
        check_library_file(db)  # never a lock file beside a file that is not ours
        for what, where in (("database", db), ("folder of the database", os.path.dirname(db))):
            if os.path.exists(where) and not os.access(where, os.W_OK):
                raise DatabaseError(f"the {what} {where} is read-only: this command changes the library "
                                    "(reading commands such as `people` and `search` work)")
        try:
            fh = open(self.path, "a+")
        except OSError as exc:
            raise DatabaseError(f"cannot create the lock file {self.path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip()
            fh.close()
            try:
                who = json.loads(holder)
                detail = f" (pid {who['pid']}, started {who['started_at']})"
            except (ValueError, KeyError, TypeError):
                detail = ""
            raise LibraryBusy(
                f"another photoface index is running on {self.path[:-5]}{detail}; "
                "wait for it to finish, or stop it, then run this again"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps({"pid": os.getpid(), "started_at": now_iso()}))
        fh.flush()
        self._fh = fh
        return self

    def release(self) -> None:
        if self._fh is not None:
            self._fh.seek(0)
            self._fh.truncate()
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
