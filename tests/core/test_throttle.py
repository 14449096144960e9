"""The one per-key log throttle (ratelimit, its backend, Sentry reports)."""

from __future__ import annotations

import threading
import time

from opskit.throttle import Throttle


def test_once_per_interval_per_key() -> None:
    t = Throttle()
    assert t.due("a", 0.2) and not t.due("a", 0.2)
    assert t.due("b", 0.2)  # another key has its own interval
    time.sleep(0.25)
    assert t.due("a", 0.2)


def test_bounded_table_starts_again() -> None:
    t = Throttle(max_keys=3)
    assert all(t.due(k, 60) for k in "abc")
    assert t.due("d", 60)  # full: forgotten, so "a" is due again
    assert t.due("a", 60)
    assert len(t._next) <= 3


def test_threads_get_one_due_between_them() -> None:
    t = Throttle()
    hits: list[bool] = []
    barrier = threading.Barrier(8)

    def run() -> None:
        barrier.wait()
        hits.extend(t.due("k", 60) for _ in range(100))

    threads = [threading.Thread(target=run) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert hits.count(True) == 1 and len(hits) == 800
