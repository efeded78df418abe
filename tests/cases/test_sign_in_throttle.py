"""The sign-in back-off on a hand-driven clock: per username short, per address long, never a
lock-out of the real user, forgotten in time (issue 15 item 6)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from cases.auth.sign_in_throttle import SignInThrottle, SignInThrottled
from config.settings import Settings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _fail(throttle: SignInThrottle, address: str, username: str) -> None:
    throttle.admit(address, username)
    throttle.release(address)
    throttle.failed(address, username)


def _wait(throttle: SignInThrottle, address: str, username: str) -> int:
    try:
        throttle.admit(address, username)
    except SignInThrottled as exc:
        return exc.retry_after
    throttle.release(address)
    return 0


def test_a_username_attacked_from_many_addresses_waits_at_most_its_short_cap(
    settings: Settings,
) -> None:
    policy = settings.staff
    clock = Clock()
    throttle = SignInThrottle(policy, clock)
    for n in range(40):  # a botnet: every try from a new address
        clock.now += 60
        _fail(throttle, f"10.0.0.{n}", "clerk")
    assert _wait(throttle, "192.0.2.1", "clerk") == int(policy.account_backoff_max_seconds)
    clock.now += policy.account_backoff_max_seconds
    assert _wait(throttle, "192.0.2.1", "clerk") == 0  # the clerk gets in: no lock-out
    assert _wait(throttle, "192.0.2.1", "other") == 0


def test_one_address_backs_off_long_whatever_username_it_tries(settings: Settings) -> None:
    policy = replace(settings.staff, free_failures=2, backoff_seconds=1)
    clock = Clock()
    throttle = SignInThrottle(policy, clock)
    waits = []
    for n in range(12):
        _fail(throttle, "203.0.113.9", f"guess{n}")
        waits.append(_wait(throttle, "203.0.113.9", f"guess{n + 100}"))
        clock.now += waits[-1]
    assert waits[:6] == [0, 1, 2, 4, 8, 16]
    assert max(waits) == int(policy.address_backoff_max_seconds) == 900
    assert _wait(throttle, "198.51.100.7", "guess0") == 0  # another address, a fresh name
    clock.now += policy.forget_minutes * 60 + 1
    assert _wait(throttle, "203.0.113.9", "guess999") == 0  # forgotten in time


def test_concurrent_checks_per_address_are_bounded(settings: Settings) -> None:
    throttle = SignInThrottle(settings.staff, Clock())
    limit = settings.staff.address_concurrent_checks
    for _ in range(limit):
        throttle.admit("203.0.113.9", "clerk")
    with pytest.raises(SignInThrottled):
        throttle.admit("203.0.113.9", "clerk")
    throttle.release("203.0.113.9")
    throttle.admit("203.0.113.9", "clerk")


def test_an_admin_clear_and_a_success_reset_the_username(settings: Settings) -> None:
    policy = settings.staff
    clock = Clock()
    throttle = SignInThrottle(policy, clock)
    for n in range(policy.free_failures + 3):
        clock.now += 60
        _fail(throttle, f"10.1.0.{n}", "clerk")
    assert _wait(throttle, "10.2.0.1", "clerk") > 0
    assert throttle.clear("clerk") and not throttle.clear("clerk")
    assert _wait(throttle, "10.2.0.1", "clerk") == 0
    for n in range(policy.free_failures):
        clock.now += 60
        _fail(throttle, f"10.3.0.{n}", " clerk ")  # counted as sign-in looks it up
    throttle.succeeded("clerk")
    _fail(throttle, "10.4.0.1", "clerk")
    assert _wait(throttle, "10.4.0.2", "clerk") == 0
