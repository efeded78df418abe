"""Back-off for staff sign-in, per source address and per username, counted in memory.

A lock-out after 5 wrong passwords let anyone lock any clerk out for 15 minutes, and, because
only real accounts locked, told which usernames exist (issue 15). Here failures slow the source
down instead: after `free_failures`, each further try from that address, or for that username,
must wait `backoff_seconds` doubled per failure, capped (short for a username, long for an
address). Unknown usernames are counted exactly like known ones. Each address may have only
`address_concurrent_checks` sign-ins being checked at once. Every refusal is decided before any
password is hashed, so it costs no CPU.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from cases.errors import TooManyRequests
from config.settings import StaffSettings

# Keys remembered at most (addresses and usernames); the oldest are forgotten first.
MAX_KEYS = 20_000


class SignInThrottled(TooManyRequests):
    code = "sign_in_throttled"


@dataclass
class _Count:
    failures: int = 0
    last_failure: float = 0.0
    checking: int = 0


class SignInThrottle:
    """Who may try a password now; `admit` before hashing, then exactly one of `failed` and
    `succeeded`, and always `release`."""

    def __init__(self, policy: StaffSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self._policy = policy
        self._clock = clock
        self._counts: OrderedDict[str, _Count] = OrderedDict()

    def admit(self, address: str, username: str) -> None:
        """Raise SignInThrottled when this address or username must wait; else count the
        address's check as running."""
        now = self._clock()
        by_address = self._count(f"a:{address}", now)
        by_name = self._count(f"u:{normal_username(username)}", now)
        policy = self._policy
        wait = max(
            self._wait(by_address, now, policy.address_backoff_max_seconds),
            self._wait(by_name, now, policy.account_backoff_max_seconds),
        )
        if wait > 0:
            seconds = math.ceil(wait)
            raise SignInThrottled(f"尝试次数过多,请 {seconds} 秒后再试。", retry_after=seconds)
        if by_address.checking >= policy.address_concurrent_checks:
            raise SignInThrottled("登录请求太频繁,请稍后再试。", retry_after=1)
        by_address.checking += 1

    def release(self, address: str) -> None:
        count = self._counts.get(f"a:{address}")
        if count is not None and count.checking > 0:
            count.checking -= 1

    def failed(self, address: str, username: str) -> None:
        now = self._clock()
        for key in (f"a:{address}", f"u:{normal_username(username)}"):
            count = self._count(key, now)
            count.failures += 1
            count.last_failure = now

    def succeeded(self, username: str) -> None:
        """The right password: the username's count starts again (the address's stays)."""
        self._counts.pop(f"u:{normal_username(username)}", None)

    def clear(self, username: str) -> bool:
        """An admin's unlock: forget the username's failures; whether there were any."""
        count = self._counts.pop(f"u:{normal_username(username)}", None)
        return count is not None and count.failures > 0

    def _count(self, key: str, now: float) -> _Count:
        count = self._counts.get(key)
        forget = self._policy.forget_minutes * 60
        if count is None or (count.checking == 0 and now - count.last_failure > forget):
            count = self._counts[key] = _Count()
            while len(self._counts) > MAX_KEYS:
                self._counts.popitem(last=False)
        self._counts.move_to_end(key)
        return count

    def _wait(self, count: _Count, now: float, most: float) -> float:
        extra = count.failures - self._policy.free_failures
        if extra < 0:
            return 0.0
        delay = min(self._policy.backoff_seconds * 2 ** min(extra, 32), most)
        return count.last_failure + delay - now


def normal_username(username: str) -> str:
    """The username as sign-in looks it up (and as the throttle counts it)."""
    return username.strip()[:64]
