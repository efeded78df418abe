"""Staff passwords: argon2id, checked off the event loop.

One argon2 check costs ~0.13 s of CPU by design. Run on the event loop, 60 concurrent bad
sign-ins (no account needed) held every other request, the WeChat webhook's 5 s answer
included (issue 15). Here hashing runs in a few threads (argon2-cffi releases the GIL) whose
scheduling priority is lowered, so the loop wins the CPU whenever it has work; at most
`queue_limit` checks may wait, the rest are refused at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from cases.errors import TooManyRequests

T = TypeVar("T")
_hasher = PasswordHasher()
# Niceness of the hashing threads: the event loop thread keeps 0.
HASHING_NICENESS = 10


class PasswordsBusy(TooManyRequests):
    code = "sign_in_busy"


def hash_password(password: str) -> str:
    """argon2id hash of `password` (blocking: call through PasswordPool on the loop)."""
    return _hasher.hash(password)


def verify_hash(password_hash: str, password: str) -> bool:
    """Whether `password` matches `password_hash` (blocking); a malformed hash is no match."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _lower_priority() -> None:
    # On Linux niceness is per thread (setpriority on the thread id); argon2's own lane threads
    # inherit it. Elsewhere this is a no-op.
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASHING_NICENESS)


class PasswordPool:
    """A small bounded pool of hashing threads; start it in a cleanup_ctx, close it there."""

    def __init__(self, threads: int, queue_limit: int) -> None:
        self._executor = ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix="argon2", initializer=_lower_priority
        )
        self._queue_limit = queue_limit
        self._waiting = 0

    async def verify(self, password_hash: str, password: str) -> bool:
        return await self._run(verify_hash, password_hash, password)

    async def hash(self, password: str) -> str:
        return await self._run(hash_password, password)

    async def _run(self, work: Callable[..., T], *args: str) -> T:
        if self._waiting >= self._queue_limit:
            raise PasswordsBusy("登录的人太多了,请稍后再试。", retry_after=1)
        self._waiting += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, work, *args)
        finally:
            self._waiting -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
