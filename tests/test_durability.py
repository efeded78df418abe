"""Durability of the SQLite store (issue 8; targets S1, S2, S4 of
../shared/research/anchors-style-reliability.md §B.6): PRAGMAs at start, online backup and
restore with `complaint-desk backup` / `restore`, a WAL that does not grow without bound.
The crash test (S3, I6) is in tests/test_crash.py."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing
from pathlib import Path

import pytest
from tortoise import connections
from tortoise.transactions import in_transaction

from cases.rules import Rules
from cases.store import db
from cases.store.models import Citizen
from tests.test_cli import ROOT, run

# Files cases until stdin closes, printing each number once its transaction has committed.
WRITER = """
import asyncio, sys, threading
from cases.auth import accounts
from cases.store import db
from cases.intake.filing import file_case
from cases.workflow.loading import load_rules
from cases.workflow.timeline import Actor
from config.settings import load_settings

async def main():
    settings = load_settings()
    await db.open_store(settings.database_url)
    rules = load_rules(settings)
    await accounts.sync_departments(rules.catalog)
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    form = {"kind": "complaint", "category": "consumer", "respondent_name": "城东便民超市",
            "description": "购买的牛奶已过保质期,要求退货被拒绝。", "demands": "退货",
            "contact_name": "张女士", "contact_phone": "13800000000"}
    intake = Actor(kind="staff", id=0, name="intake", role="intake")
    while not stop.is_set():
        case = await file_case(rules, form, intake, channel="phone")
        print(case.number, flush=True)
        await asyncio.sleep(0.002)  # let the stdin thread run
    await db.close_store()

asyncio.run(main())
"""


def _sqlite_only(database_url: str) -> None:
    if not database_url.startswith("sqlite://"):
        pytest.skip("SQLite's durability")


def _numbers(path: Path) -> set[str]:
    with closing(sqlite3.connect(path)) as conn:
        return {r[0] for r in conn.execute('SELECT number FROM "case"')}


async def test_s1_pragmas_are_asserted_at_start(store: Rules, database_url: str) -> None:
    """S1: open_store checks WAL, synchronous=FULL, foreign keys and the WAL bounds (S4)."""
    _sqlite_only(database_url)
    found = await db.check_sqlite_pragmas()
    assert found == db.SQLITE_PRAGMAS
    assert found["journal_mode"] == "wal" and found["synchronous"] == 2
    assert found["foreign_keys"] == 1
    conn = connections.get("default")
    await conn.execute_query("PRAGMA synchronous=NORMAL")
    with pytest.raises(RuntimeError, match="synchronous is 1, expected 2"):
        await db.check_sqlite_pragmas()


async def test_s4_wal_stays_bounded_over_many_commits(store: Rules, database_url: str) -> None:
    """S4: autocheckpoint every 1000 pages and journal_size_limit keep the -wal file small."""
    _sqlite_only(database_url)
    wal = Path(database_url.removeprefix("sqlite://") + "-wal")
    largest = 0
    for i in range(1500):  # 1500 commits of a few pages each: ~20 MB of WAL unbounded
        async with in_transaction():
            await Citizen.create(oa_openid=f"oWal{i:05d}", name="x" * 50)
        if i % 100 == 0:
            largest = max(largest, wal.stat().st_size)
    # At most wal_autocheckpoint pages (+ one transaction) before it is reset and truncated.
    assert largest < 5 * 1024 * 1024, largest
    await connections.get("default").execute_query("PRAGMA wal_checkpoint(TRUNCATE)")
    assert wal.stat().st_size == 0


def test_s2_backup_while_filing_restores_and_refuses_corruption(
    tmp_path: Path, sqlite_template: Path
) -> None:
    """S2: an online backup taken while another process files cases passes integrity_check
    and holds every case committed before it began; it restores and the app reads it; a
    corrupt backup is refused."""
    store = tmp_path / "data" / "complaint-desk.sqlite3"
    store.parent.mkdir()
    shutil.copy(sqlite_template, store)
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPLAINT_DESK_")} | {
        "COMPLAINT_DESK_STORAGE_DATA_DIR": str(store.parent),
        "PYTHONPATH": str(ROOT),
    }
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    committed: list[str] = []
    reader = threading.Thread(target=lambda: committed.extend(writer.stdout or ()), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 30
        while len(committed) < 50:
            assert writer.poll() is None, writer.stderr.read() if writer.stderr else ""
            assert time.monotonic() < deadline, "the writer files no cases"
            time.sleep(0.05)
        before = {n.strip() for n in list(committed)}
        backup = tmp_path / "backups" / "b1.sqlite3"
        made = run(
            tmp_path,
            "backup",
            str(backup),
            env={"COMPLAINT_DESK_STORAGE_DATA_DIR": str(store.parent)},
        )
        during = len(committed)
        time.sleep(0.3)
        assert len(committed) > during, "the writer stopped while the backup ran"
    finally:
        if writer.stdin:
            writer.stdin.close()
        writer.wait(timeout=30)
        reader.join(timeout=5)
        problems = writer.stderr.read() if writer.stderr else ""
        for pipe in (writer.stdout, writer.stderr):
            if pipe:
                pipe.close()
    assert writer.returncode == 0, problems
    assert made.returncode == 0, made.stderr
    copied = _numbers(backup)
    assert before <= copied
    assert (
        f"backup {backup}: " in made.stdout and f"{len(copied)} cases, integrity ok" in made.stdout
    )
    assert backup.stat().st_mode & 0o777 == 0o600
    with closing(sqlite3.connect(backup)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert not (tmp_path / "backups" / "b1.sqlite3-wal").exists()  # one self-contained file

    # Restore: refused over an existing store without --force; then the app reads the copy.
    target_dir = tmp_path / "restored"
    target_env = {"COMPLAINT_DESK_STORAGE_DATA_DIR": str(target_dir)}
    first = run(tmp_path, "restore", str(backup), env=target_env)
    assert first.returncode == 0, first.stderr
    assert f"{len(copied)} cases, integrity ok" in first.stdout
    again = run(tmp_path, "restore", str(backup), env=target_env)
    assert again.returncode == 1 and "pass --force" in again.stderr
    forced = run(tmp_path, "restore", str(backup), "--force", env=target_env)
    assert forced.returncode == 0, forced.stderr
    exported = run(tmp_path, "export", env=target_env)  # opens the store: PRAGMAs checked
    assert exported.returncode == 0, exported.stderr
    assert {json.loads(line)["number"] for line in exported.stdout.splitlines()} == copied

    # A corrupt backup (a page of the case table overwritten) is refused; the store is kept.
    corrupt = tmp_path / "corrupt.sqlite3"
    data = bytearray(backup.read_bytes())
    page = 4096
    with closing(sqlite3.connect(backup)) as conn:
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'case'").fetchone()[0]
    start = (root - 1) * page
    data[start + 8 : start + page] = b"\xa5" * (page - 8)
    corrupt.write_bytes(bytes(data))
    refused = run(tmp_path, "restore", str(corrupt), "--force", env=target_env)
    assert refused.returncode == 1 and "integrity_check" in refused.stderr, refused.stderr
    assert _numbers(target_dir / "complaint-desk.sqlite3") == copied


def test_s2_backup_of_a_corrupt_store_fails_and_leaves_no_file(
    tmp_path: Path, sqlite_template: Path
) -> None:
    store = tmp_path / "data" / "complaint-desk.sqlite3"
    store.parent.mkdir()
    data = bytearray(sqlite_template.read_bytes())
    data[4096 * 3 + 8 : 4096 * 4] = b"\xa5" * (4096 - 8)
    store.write_bytes(bytes(data))
    out = tmp_path / "b.sqlite3"
    result = run(tmp_path, "backup", str(out))
    assert result.returncode == 1 and "backup failed" in result.stderr
    assert not out.exists() and not out.with_name("b.sqlite3.partial").exists()


def test_backup_and_restore_point_postgres_to_pg_dump(tmp_path: Path) -> None:
    env = {"COMPLAINT_DESK_DATABASE_URL": "postgres://desk@127.0.0.1:1/desk"}
    for args in (("backup", "b.sql"), ("restore", "b.sql")):
        result = run(tmp_path, *args, env=env)
        assert result.returncode == 2 and "pg_dump" in result.stderr
