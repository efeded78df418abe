"""What every benchmark here prints and sets up the same way: tables with CJK text, latency
and CPU cells, percentiles, and throw-away PostgreSQL databases."""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence
from urllib.parse import urlsplit, urlunsplit

from tests.processes import free_port

__all__ = ["cpu", "free_port", "ms", "percentile", "pg_admin", "table", "width", "with_database"]


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1) of unsorted `values`; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def ms(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:.1f} ms"


def cpu(seconds: float | None, wall: float) -> str:
    return "—" if seconds is None else f"{seconds:.1f} s ({seconds / wall:.0%})"


def width(text: str) -> int:
    """Columns `text` takes in a terminal (CJK characters take two)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(width(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def fmt(row: Sequence[str]) -> str:
        cells = (v + " " * (w - width(v)) for v, w in zip(row, widths, strict=True))
        return " | ".join(cells).rstrip()

    print(fmt(header))
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(fmt(row))


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


async def pg_admin(admin_url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()
