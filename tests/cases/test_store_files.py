"""The SQLite store's files are readable by their owner only, as media and backups are
(issue 15, item 12)."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from cases.store import db
from cases.store.models import Citizen


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The umask most systems run with (0644 files), whatever this test run has."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def _modes(path: Path) -> dict[str, int]:
    names = (path.name, f"{path.name}-wal", f"{path.name}-shm")
    return {name: stat.S_IMODE((path.parent / name).stat().st_mode) for name in names}


@pytest.mark.usefixtures("usual_umask")
async def test_a_new_store_creates_its_files_0600(tmp_path: Path) -> None:
    path = tmp_path / "cases.sqlite3"
    await db.migrate_store(f"sqlite://{path}")
    await db.open_store(f"sqlite://{path}")
    try:
        await Citizen.create(oa_openid="oModes1")  # the WAL and its index are written
        assert _modes(path) == {
            "cases.sqlite3": 0o600,
            "cases.sqlite3-wal": 0o600,
            "cases.sqlite3-shm": 0o600,
        }
    finally:
        await db.close_store()


@pytest.mark.usefixtures("usual_umask")
async def test_an_existing_world_readable_store_is_made_private(
    tmp_path: Path, sqlite_template: Path
) -> None:
    path = tmp_path / "cases.sqlite3"
    shutil.copy(sqlite_template, path)
    path.chmod(0o644)
    await db.open_store(f"sqlite://{path}")
    try:
        await Citizen.create(oa_openid="oModes2")
        assert set(_modes(path).values()) == {0o600}
    finally:
        await db.close_store()
