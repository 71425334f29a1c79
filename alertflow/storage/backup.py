"""Online backup: a consistent copy of the database while ``alertflow serve`` writes to it.

SQLite's backup API copies pages; ``VACUUM INTO`` would rebuild every table and index into
the copy, costing CPU the server shares on a small VM, in one statement that cannot report
progress. In WAL mode neither blocks the server's writer: a reader never waits for it.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Callable
from pathlib import Path

from .database import BUSY_TIMEOUT_MS

# Pages per backup step (4 MiB at SQLite's default page size): how often progress is reported.
STEP_PAGES = 1024

# Called after each step with (pages copied, pages in all).
Progress = Callable[[int, int], None]


class BackupFailed(Exception):
    """The database could not be copied, or the copy failed its check: nothing was published."""


def backup(source: Path, dest: Path, progress: Progress | None = None) -> int:
    """Copy the database ``source`` to the new file ``dest``; return the copy's size in bytes.

    The copy is the database as of one moment, checked, and durable once this returns. A file
    already at ``dest`` is never replaced (``FileExistsError``); a copy that fails or is
    interrupted leaves only a hidden ``.partial`` file, never a ``dest`` that looks complete.
    The database's own errors (not a database, locked past the busy timeout, the copy failing
    its check) raise :class:`BackupFailed`; the file system's, ``OSError``.
    """
    if dest.exists():
        raise FileExistsError(f"{dest} exists")
    # mkstemp creates the file 0600: the copy holds what the database holds (keys, credentials).
    fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".partial")
    os.close(fd)
    partial = Path(name)
    try:
        try:
            _copy(source, partial, progress)
        except sqlite3.Error as exc:
            raise BackupFailed(str(exc)) from exc
        _fsync(partial)
        _publish(partial, dest)
        _fsync(dest.parent)  # the new directory entry must survive a crash too
    finally:
        partial.unlink(missing_ok=True)
    return dest.stat().st_size


def _copy(source: Path, target: Path, progress: Progress | None) -> None:
    src = sqlite3.connect(source, isolation_level=None)
    dst = sqlite3.connect(target, isolation_level=None)
    try:
        src.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        src.execute("PRAGMA query_only = ON")
        # A failed copy is thrown away, so the copy needs neither a journal nor a sync per step.
        dst.execute("PRAGMA journal_mode = OFF")
        dst.execute("PRAGMA synchronous = OFF")
        # Every step runs inside one read transaction, so the copy is a single snapshot. Without
        # it each commit the server makes between two steps restarts the copy from page one:
        # with a writer committing every 2 ms, a stepped copy of a 45 MB database never ended.
        src.execute("BEGIN")
        src.execute("SELECT 1 FROM sqlite_master LIMIT 1")  # the snapshot starts at a read
        src.backup(dst, pages=STEP_PAGES, progress=_adapt(progress) if progress else None)
        src.execute("COMMIT")
        verdict = dst.execute("PRAGMA quick_check").fetchone()[0]
        if verdict != "ok":
            raise BackupFailed(f"the copy fails SQLite's quick_check: {verdict}")
    finally:
        dst.close()
        src.close()


def _adapt(progress: Progress) -> Callable[[int, int, int], None]:
    """sqlite3's progress callback (status, pages left, pages in all) as ours."""
    return lambda _status, left, total: progress(total - left, total)


def _publish(partial: Path, dest: Path) -> None:
    """Give the finished copy its name, never replacing a file that took the name meanwhile."""
    try:
        os.link(partial, dest)  # fails if dest exists, atomically
    except FileExistsError:
        raise
    except OSError:  # no hard links on this file system (FAT, some network shares)
        if dest.exists():
            raise FileExistsError(f"{dest} exists") from None
        os.rename(partial, dest)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
