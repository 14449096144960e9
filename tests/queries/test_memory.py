"""Memory: 30,000 queries in one scope stay within 64 KiB of opskit state."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest
from django.db import connections

import opskit
from opskit.queries import fingerprint, monitor

OPSKIT_DIR = str(Path(opskit.__file__).parent)
SHAPES = 1000
QUERIES = 30_000
BOUND = 64 * 1024


def _opskit_bytes(snapshot: tracemalloc.Snapshot) -> int:
    filtered = snapshot.filter_traces([tracemalloc.Filter(True, OPSKIT_DIR + "/*")])
    return sum(stat.size for stat in filtered.statistics("filename"))


@pytest.mark.django_db(databases=["default", "other"])
def test_thirty_thousand_queries_stay_within_bound() -> None:
    alias = next(a for a in ("default", "other") if connections[a].vendor == "sqlite")
    sqls = [f"SELECT %s AS c{i}" for i in range(SHAPES)]
    for sql in sqls:  # warm the process-wide fingerprint cache (bounded separately)
        fingerprint(sql)
    conn = connections[alias]
    with conn.cursor() as cursor:
        cursor.execute("SELECT 1")
    tracemalloc.start()
    try:
        with monitor("bulk") as stats:
            before = _opskit_bytes(tracemalloc.take_snapshot())
            with conn.cursor() as cursor:
                for i in range(QUERIES):
                    cursor.execute(sqls[i % SHAPES], [i])
            after = _opskit_bytes(tracemalloc.take_snapshot())
    finally:
        tracemalloc.stop()
    assert stats.count == QUERIES
    assert stats.by_alias[alias][0] == QUERIES
    tracked = stats.entries()
    assert 0 < len(tracked) <= stats.max_fingerprints == 256
    assert sum(e.count for e in tracked) + stats.dropped == QUERIES
    grown = after - before
    assert grown <= BOUND, f"{grown} bytes of opskit state after {QUERIES} queries"


@pytest.mark.django_db(databases=["default", "other"])
def test_one_off_shapes_do_not_hide_a_later_n_plus_one() -> None:
    alias = next(a for a in ("default", "other") if connections[a].vendor == "sqlite")
    with monitor("long-command") as stats, connections[alias].cursor() as cursor:
        for i in range(600):  # one-off shapes, more than MAX_FINGERPRINTS
            cursor.execute(f"SELECT %s AS once{i}", [i])
        for i in range(5):
            cursor.execute("SELECT %s AS looped", [i])
    [found] = stats.found
    assert found.count == 5 and found.sql == "SELECT ? AS looped"
    assert found.call_site is not None and "test_memory.py" in found.call_site
    assert len(stats.entries()) <= 256 and stats.dropped > 0
