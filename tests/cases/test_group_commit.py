"""Group commit on SQLite (issue 17): concurrent transactions share one COMMIT, run off the loop,
and none returns before its own work is durable; one that fails takes only itself back."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable

import pytest
from tortoise import connections
from tortoise.exceptions import OperationalError
from tortoise.transactions import in_transaction

from cases.rules import Rules
from cases.store import sqlite_inline
from cases.store.models import Citizen
from cases.store.sqlite_inline import InlineSqliteClient


@pytest.fixture
def client(store: Rules, database_url: str) -> InlineSqliteClient:
    if not database_url.startswith("sqlite://"):
        pytest.skip("the group commit is SQLite's; PostgreSQL commits on its own")
    conn = connections.get("default")
    assert isinstance(conn, InlineSqliteClient)
    return conn


def _outside(client: InlineSqliteClient) -> Callable[[], set[str]]:
    """What another connection (another process) sees committed: the openids stored."""

    def openids() -> set[str]:
        other = sqlite3.connect(client.filename)
        try:
            return {r[0] for r in other.execute("SELECT oa_openid FROM citizen")}
        finally:
            other.close()

    return openids


async def _file(openid: str, *, fail: bool = False) -> str:
    async with in_transaction():
        await Citizen.create(oa_openid=openid)
        await asyncio.sleep(0)  # let the others queue for the connection meanwhile
        if fail:
            raise RuntimeError("this push failed half-way")
    return openid


async def test_concurrent_transactions_share_commits_and_return_durable(
    client: InlineSqliteClient,
) -> None:
    committed = _outside(client)
    commits, members = client.batch.commits, client.batch.members
    seen_at_return: dict[str, bool] = {}

    async def one(i: int) -> None:
        openid = await _file(f"oGroup{i:03d}")
        # Answered only now: another connection must already see it.
        seen_at_return[openid] = openid in committed()

    await asyncio.gather(*(one(i) for i in range(40)))
    assert all(seen_at_return.values()) and len(seen_at_return) == 40
    assert client.batch.members - members == 40
    assert client.batch.commits - commits < 40  # fewer COMMITs (fsyncs) than transactions


async def test_a_failing_member_rolls_back_alone(client: InlineSqliteClient) -> None:
    results = await asyncio.gather(
        _file("oKeptA"), _file("oLost", fail=True), _file("oKeptB"), return_exceptions=True
    )
    assert results[0] == "oKeptA" and results[2] == "oKeptB"
    assert isinstance(results[1], RuntimeError)
    assert {"oKeptA", "oKeptB"} <= _outside(client)()
    assert "oLost" not in _outside(client)()
    assert not await Citizen.exists(oa_openid="oLost")


async def test_a_failed_commit_fails_every_member_and_keeps_nothing(
    client: InlineSqliteClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(_conn: sqlite3.Connection) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(sqlite_inline, "commit_connection", disk_full)
    results = await asyncio.gather(*(_file(f"oFull{i}") for i in range(5)), return_exceptions=True)
    assert all(isinstance(r, OperationalError) for r in results), results
    monkeypatch.undo()
    assert not {f"oFull{i}" for i in range(5)} & _outside(client)()
    assert not await Citizen.filter(oa_openid__startswith="oFull").exists()
    # The store goes on afterwards.
    assert await _file("oAfter") == "oAfter" and "oAfter" in _outside(client)()


async def test_the_commit_waits_for_the_disk_off_the_event_loop(
    client: InlineSqliteClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def slow_disk(conn: sqlite3.Connection) -> None:
        time.sleep(0.3)  # an fsync that takes its time
        conn.commit()

    monkeypatch.setattr(sqlite_inline, "commit_connection", slow_disk)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    try:
        await _file("oSlowDisk")
    finally:
        task.cancel()
    # The loop kept serving while the disk worked: ~30 ticks in 0.3 s, none if it were frozen.
    assert ticks >= 10
    assert "oSlowDisk" in _outside(client)()


async def test_a_commit_cancelled_at_shutdown_still_tells_its_members_the_truth(
    client: InlineSqliteClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The server stops while a COMMIT waits for the disk: the COMMIT finishes in its thread,
    # and the member learns it is durable (not "failed"), as another connection sees.
    def slow_disk(conn: sqlite3.Connection) -> None:
        time.sleep(0.3)
        conn.commit()

    monkeypatch.setattr(sqlite_inline, "commit_connection", slow_disk)
    member = asyncio.create_task(_file("oShutdown"))
    await asyncio.sleep(0.1)  # the member waits, the committer is in the disk
    committer = client.batch.committer
    assert committer is not None and not committer.done()
    committer.cancel()
    assert await member == "oShutdown"
    assert "oShutdown" in _outside(client)()
    with pytest.raises(asyncio.CancelledError):
        await committer
