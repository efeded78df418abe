"""Case numbers: kind prefix + local date + per-day sequence, e.g. TS2026112300042.

The sequence is shared by all kinds of a day, so numbers of one day never collide and the part
after the prefix sorts by filing order. One atomic upsert per number is safe under concurrent
filing on SQLite (one writer) and PostgreSQL (row lock on the day's counter).
"""

from __future__ import annotations

from datetime import date

from tortoise.backends.base.client import BaseDBAsyncClient

_UPSERT = (
    'INSERT INTO number_counter ("key", "value") VALUES ({p}, 1) '
    'ON CONFLICT ("key") DO UPDATE SET "value" = number_counter."value" + 1 '
    'RETURNING "value"'
)


def format_case_number(prefix: str, day: date, seq: int, digits: int) -> str:
    """>>> format_case_number("TS", date(2026, 11, 23), 42, 5)
    'TS2026112300042'
    """
    return f"{prefix}{day:%Y%m%d}{seq:0{digits}d}"


async def next_case_number(conn: BaseDBAsyncClient, prefix: str, day: date, digits: int) -> str:
    """Take the next number of `day`; call inside the transaction that inserts the case."""
    placeholder = "$1" if conn.capabilities.dialect == "postgres" else "?"
    rows = await conn.execute_query_dict(_UPSERT.format(p=placeholder), [f"{day:%Y%m%d}"])
    return format_case_number(prefix, day, int(rows[0]["value"]), digits)
