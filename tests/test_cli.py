"""The `complaint-desk` command as an operator runs it, in subprocesses on a temp data dir."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from wechat.simulator import PushSigner, text_xml

ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS_DIR = ROOT / "cases" / "store" / "migrations"


def run(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("COMPLAINT_DESK_")}
    full_env.update(
        {"COMPLAINT_DESK_STORAGE_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(ROOT)}
    )
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "complaint_desk", *args],
        cwd=tmp_path,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
        input=stdin,
    )


def test_invalid_configuration_stops_with_one_line(tmp_path: Path) -> None:
    result = run(tmp_path, "migrate", env={"COMPLAINT_DESK_SERVER_PORT": "eighty"})
    assert result.returncode == 2
    assert result.stderr == (
        "configuration error: COMPLAINT_DESK_SERVER_PORT: expected an integer, got 'eighty'\n"
    )


def test_serve_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    result = run(tmp_path, "serve")
    assert result.returncode == 1
    # Every migration the package ships, named as the error names them.
    shipped = sorted(p.stem for p in MIGRATIONS_DIR.glob("0*.py"))
    assert len(shipped) >= 12
    assert result.stderr.splitlines()[-1] == (
        f"error: the database lacks {len(shipped)} schema migration(s) "
        f"({', '.join(f'cases.{name}' for name in shipped)}): run `complaint-desk migrate` first"
    )


def test_several_server_processes_need_postgresql(tmp_path: Path) -> None:
    assert run(tmp_path, "migrate").returncode == 0
    result = run(tmp_path, "serve", "--workers", "2")
    assert result.returncode == 2
    assert "several server processes need PostgreSQL" in result.stderr


def test_migrate_staff_export_import_round_trip(tmp_path: Path) -> None:
    assert run(tmp_path, "migrate").returncode == 0
    again = run(tmp_path, "migrate")  # idempotent
    assert again.returncode == 0 and "0 new units" in again.stdout

    pw = {"COMPLAINT_DESK_PASSWORD": "a-long-enough-password"}
    added = run(
        tmp_path, "staff", "add", "wang", "--role", "handler", "--department", "food", env=pw
    )
    assert added.returncode == 0, added.stderr
    assert "created handler wang" in added.stdout
    dup = run(tmp_path, "staff", "add", "wang", "--role", "intake", env=pw)
    assert dup.returncode == 1 and dup.stderr == "error: username 'wang' is taken\n"
    no_unit = run(tmp_path, "staff", "add", "li", "--role", "handler", env=pw)
    assert no_unit.returncode == 1 and "handling department" in no_unit.stderr

    # Demo data gives cases to export; a second installation imports them.
    source = tmp_path / "source.sqlite3"
    demo_env = {"COMPLAINT_DESK_DATABASE_URL": f"sqlite://{source}"}
    seeded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import asyncio, sys; from complaint_desk import cli; from config.settings import load_settings;"
            "s = load_settings(demo=True);"
            "asyncio.run(cli.db.migrate_store(s.database_url));"
            "asyncio.run(cli._seed_in_store(s))",
        ],
        cwd=tmp_path,
        env={
            **os.environ,
            **demo_env,
            "PYTHONPATH": str(ROOT),
            "COMPLAINT_DESK_STORAGE_DATA_DIR": str(tmp_path / "data"),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert seeded.returncode == 0, seeded.stderr
    out = tmp_path / "cases.jsonl"
    exported = run(tmp_path, "export", "--out", str(out), env=demo_env)
    assert exported.returncode == 0, exported.stderr
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(records) == 3
    assert all(r["events"] and r["clocks"] for r in records)

    target = {"COMPLAINT_DESK_DATABASE_URL": f"sqlite://{tmp_path / 'target.sqlite3'}"}
    assert run(tmp_path, "migrate", env=target).returncode == 0
    imported = run(tmp_path, "import", str(out), env=target)
    assert imported.returncode == 0, imported.stderr
    assert "imported 3 cases, skipped 0" in imported.stdout
    rerun = run(tmp_path, "import", str(out), env=target)
    assert "imported 0 cases, skipped 3" in rerun.stdout
    back = tmp_path / "back.jsonl"
    run(tmp_path, "export", "--out", str(back), env=target)
    assert [json.loads(x) for x in back.read_text(encoding="utf-8").splitlines()] == records


def test_import_stops_at_a_bad_line_and_keeps_earlier_ones(tmp_path: Path) -> None:
    assert run(tmp_path, "migrate").returncode == 0
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"format": 1, "kind": "praise"}\n', encoding="utf-8")
    result = run(tmp_path, "import", str(bad))
    assert result.returncode == 1
    assert result.stderr.strip().endswith(
        "bad.jsonl:1: unknown kind 'praise'; stopped, earlier lines are stored"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_demo_serves_a_healthy_store(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPLAINT_DESK_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "complaint_desk", "demo", "--port", str(port)],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        body = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and body is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    body = json.loads(r.read())
            except OSError:
                time.sleep(0.3)
        assert body is not None and isinstance(body.pop("provisional_years"), list)
        assert body == {"status": "ok", "database": "ok"}
        assert (tmp_path / "demo-data" / "complaint-desk.sqlite3").is_file()
        # The demo's bot answers a push signed with the demo token, and its WeChat calls go
        # to the built-in simulator (the menu push needs a token from it).
        signer = PushSigner("demo-token", "wxdemo0000000000oa")
        params, xml = signer.sign(
            text_xml("oDemoCitizen", "gh_demo", "投诉", "1", int(time.time()))
        )
        url = f"http://127.0.0.1:{port}/wechat/oa?{urllib.parse.urlencode(params)}"
        request = urllib.request.Request(url, data=xml.encode(), method="POST")
        with urllib.request.urlopen(request, timeout=5) as r:
            assert "哪一类" in r.read().decode()
        token_url = f"http://127.0.0.1:{port}/_wechat-simulator/cgi-bin/stable_token"
        payload = json.dumps(
            {
                "grant_type": "client_credential",
                "appid": "wxdemo0000000000oa",
                "secret": "demo-oa-secret",
            }
        ).encode()
        with urllib.request.urlopen(
            urllib.request.Request(token_url, data=payload), timeout=5
        ) as r:
            assert "access_token" in json.loads(r.read())
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=30)
    assert "password 'demo-password'" in output
    # The start-up lines say where to go next, and as whom the simulator opens.
    assert (
        f"WeChat simulator (chat as the sample citizen oDemoSeedCitizen01): http://127.0.0.1:{port}/simulator/"
        in output
    )
    assert f"staff console: http://127.0.0.1:{port}/staff/" in output


def test_calendar_prints_the_2027_holidays_and_says_whether_they_are_official(
    tmp_path: Path,
) -> None:
    from cases.workflow.deadlines import package_published_years

    result = run(tmp_path, "calendar", "2027")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    off = lines[
        lines.index("non-working days (放假):") + 1 : lines.index(
            "working weekends (调休上班): none"
        )
    ]
    days = [line.split()[0] for line in off]
    for day in ("2027-01-01", "2027-02-05", "2027-02-06", "2027-02-07", "2027-02-08"):
        assert day in days
    assert "  2027-02-06 周六 春节" in off
    published = 2027 in package_published_years()
    assert lines[0].startswith("2027: official" if published else "2027: PROVISIONAL (暂定)")
    # A year no release can know yet is provisional whatever is installed.
    far = run(tmp_path, "calendar", "2031")
    assert far.stdout.startswith("2031: PROVISIONAL (暂定)")
    assert "Add [years.2031] to [organisation] holidays_file" in far.stdout


def test_calendar_follows_the_operators_holidays_file(tmp_path: Path) -> None:
    table = tmp_path / "holidays.toml"
    table.write_text(
        '[years.2031]\nholidays = ["2031-01-01", "2031-01-02"]\nworkdays = ["2031-01-04"]\n'
        "complete = false\n",
        encoding="utf-8",
    )
    result = run(
        tmp_path, "calendar", "2031", env={"COMPLAINT_DESK_ORGANISATION_HOLIDAYS_FILE": str(table)}
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("2031: official — holidays file [years.2031]\n")
    assert "  2031-01-02 周四 放假(配置文件)\n" in result.stdout
    assert result.stdout.endswith("working weekends (调休上班):\n  2031-01-04 周六\n")
    bad = run(tmp_path, "calendar", "20270")
    assert bad.returncode == 2 and bad.stderr == "error: year must be between 1950 and 2200\n"


def test_demo_photo_links_point_at_the_demo_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 15 item 16: the demo's `[miniprogram] public_url` is its own address (a
    configured one wins)."""
    from complaint_desk.cli import _demo_settings
    from config.settings import load_settings

    for key in [k for k in os.environ if k.startswith("COMPLAINT_DESK_")]:
        monkeypatch.delenv(key)
    settings = _demo_settings(None, 8123, load_settings(demo=True))
    assert settings.miniprogram.public_url == "http://127.0.0.1:8123"
    monkeypatch.setenv("COMPLAINT_DESK_MINIPROGRAM_PUBLIC_URL", "https://demo.example.org")
    settings = _demo_settings(None, 8123, load_settings(demo=True))
    assert settings.miniprogram.public_url == "https://demo.example.org"
