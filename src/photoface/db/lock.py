"""One run that changes a library at a time: an OS lock (flock) on ``<db>.lock``, released
even when the process is killed. The lock file exists only while a run holds it (the holder
removes it before letting go), so nothing is left beside the user's database between runs."""
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
        while True:
            fh = self._lock_file()
            try:  # the file we locked is still the one at the path (a holder may have removed it meanwhile)
                if os.fstat(fh.fileno()).st_ino == os.stat(self.path).st_ino:
                    break
            except FileNotFoundError:
                pass
            fh.close()
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps({"pid": os.getpid(), "started_at": now_iso()}))
        fh.flush()
        self._fh = fh
        return self

    def _lock_file(self):
        """The lock file, open and locked by this process; LibraryBusy if another holds it."""
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
        return fh

    def release(self) -> None:
        if self._fh is not None:
            try:  # removed while still locked: whoever opened it meanwhile sees it is gone and retries
                os.unlink(self.path)
            except OSError:
                pass
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
