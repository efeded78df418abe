"""Online backup and restore of the SQLite case store (PostgreSQL: use pg_dump).

The copy is made with SQLite's online backup API in a single step, inside one read
transaction on the live store: in WAL mode a reader never blocks the server's writes, and the
copy is the snapshot of that transaction, so it holds every case committed before the backup
began (commits still in the `-wal` file included, which copying the main file would miss). A
backup in several steps would restart whenever another process writes, so under steady filing
it might never finish.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from tortoise.backends.base.config_generator import expand_db_url


class BackupError(Exception):
    """The backup or restore could not be made or checked; nothing was left half-written."""


@dataclass(frozen=True)
class BackupInfo:
    path: Path
    size: int
    cases: int


def sqlite_file(database_url: str) -> Path:
    """The file of a `sqlite://` database URL."""
    return Path(expand_db_url(database_url)["credentials"]["file_path"])


def _count_cases(conn: sqlite3.Connection) -> int:
    try:
        return int(conn.execute('SELECT COUNT(*) FROM "case"').fetchone()[0])
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"not a Complaint Desk store: {exc}") from exc


def _integrity_problem(conn: sqlite3.Connection) -> str | None:
    """None when `PRAGMA integrity_check` says ok, else its first complaints."""
    try:
        rows = [str(r[0]) for r in conn.execute("PRAGMA integrity_check(5)").fetchall()]
    except sqlite3.DatabaseError as exc:  # "file is not a database", "malformed" …
        return str(exc)
    return None if rows == ["ok"] else "; ".join(rows)


def check_backup(path: Path) -> BackupInfo:
    """Open a backup read-only and check it: integrity_check ok and a case table to read."""
    if not path.is_file():
        raise BackupError(f"no such file {path}")
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        problem = _integrity_problem(conn)
        if problem is not None:
            raise BackupError(f"{path} fails PRAGMA integrity_check: {problem}")
        cases = _count_cases(conn)
    return BackupInfo(path, path.stat().st_size, cases)


def backup(source: Path, dest: Path) -> BackupInfo:
    """Copy the live store at `source` to `dest` (a new file, mode 0600) and check the copy.

    Raises BackupError, leaving no file at `dest`, if the copy fails its integrity check or
    does not hold the cases the source held when the copy was taken.
    """
    if not source.is_file():
        raise BackupError(f"no database at {source}")
    if dest.exists():
        raise BackupError(f"{dest} exists: choose a new file name")
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partial")
    partial.unlink(missing_ok=True)
    # The copy holds names, phones and accusations: only the owner may read it.
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        with (
            closing(sqlite3.connect(source, timeout=30, isolation_level=None)) as src,
            closing(sqlite3.connect(partial, isolation_level=None)) as dst,
        ):
            src.execute("BEGIN")  # one snapshot for the count and the copy
            expected = _count_cases(src)
            src.backup(dst)  # pages=-1: all in one step, see the module docstring
            src.execute("COMMIT")
            # One self-contained file; the server turns WAL back on when it opens a restore.
            dst.execute("PRAGMA journal_mode=DELETE")
            problem = _integrity_problem(dst)
            if problem is not None:
                raise BackupError(f"the copy fails PRAGMA integrity_check: {problem}")
            copied = _count_cases(dst)
            if copied != expected:
                raise BackupError(f"the copy holds {copied} cases, the store held {expected}")
        partial.replace(dest)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return BackupInfo(dest, dest.stat().st_size, copied)


def restore(backup_path: Path, target: Path, *, force: bool = False) -> BackupInfo:
    """Put a checked backup in place of the store at `target` (stop the server first).

    The pages are written through SQLite (the backup API into `target`), so a `-wal` file
    left beside the old store is taken over properly instead of being replayed over the copy.
    """
    info = check_backup(backup_path)
    if target.exists() and not force:
        raise BackupError(f"{target} exists: stop the server and pass --force to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    with (
        closing(sqlite3.connect(f"file:{backup_path}?mode=ro", uri=True)) as src,
        closing(sqlite3.connect(target, timeout=30, isolation_level=None)) as dst,
    ):
        src.backup(dst)
        problem = _integrity_problem(dst)
        if problem is not None:
            raise BackupError(f"the restored store fails PRAGMA integrity_check: {problem}")
        cases = _count_cases(dst)
        if cases != info.cases:
            raise BackupError(f"the restored store holds {cases} cases, the backup {info.cases}")
    os.chmod(target, 0o600)
    return BackupInfo(target, target.stat().st_size, cases)
