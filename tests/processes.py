"""Real processes for the tests that run the server as it runs in production: started with
their output in a log file, waited for, stopped (or killed), and their log shown on failure."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path
from typing import IO

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 30.0


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Proc:
    """`python <args>` from the repository root, its output appended to `<tmp>/<name>.log`."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], tmp: Path) -> None:
        self.name = name
        self.log_path = tmp / f"{name}.log"
        self.log: IO[bytes] = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, *args], cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def tail(self, lines: int = 20) -> str:
        self.log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        return f"--- {self.name}\n" + "\n".join(text)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


async def wait_ready(session: aiohttp.ClientSession, proc: Proc, url: str) -> None:
    """Until `url` answers 200; fails with the process's log if it dies or takes too long."""
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        assert proc.proc.poll() is None, proc.tail()
        try:
            async with session.get(url) as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        assert time.monotonic() < deadline, proc.tail()
        await asyncio.sleep(0.1)
