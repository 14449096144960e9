"""A real uvicorn (one process, one event loop): the in-flight gauge of one process.

Without ``PROMETHEUS_MULTIPROC_DIR`` the gauge reads, when scraped, the length
of the list each request appends to and pops from: async views on the loop
and sync ones in the server's threads count alike, and a burst of concurrent
requests leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.support.uvicorn import uvicorn_server

from .conftest import parse, total

pytestmark = pytest.mark.slow


def _uvicorn(gate: Path) -> contextlib.AbstractContextManager[str]:
    return uvicorn_server(
        "tests.metrics.asgi:application",
        "tests.metrics.gunicorn_settings",
        "/m/pid/",
        {"OPSKIT_TEST_GATE_FILE": str(gate), "PROMETHEUS_MULTIPROC_DIR": ""},
    )


def _active(base: str) -> float:
    resp = httpx.get(f"{base}/metrics", timeout=10)
    assert resp.status_code == 200
    return total(parse(resp.text), "http_server_active_requests")


def test_uvicorn_counts_async_and_sync_requests_in_flight(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    with _uvicorn(gate) as base:
        assert _active(base) == 1  # the scrape itself
        codes: list[int] = []
        paths = ["/m/afile-gate/"] * 3 + ["/m/file-gate/"] * 2
        held = [
            threading.Thread(
                target=lambda p=p: codes.append(httpx.get(base + p, timeout=30).status_code)
            )
            for p in paths
        ]
        for t in held:
            t.start()
        end = time.monotonic() + 10
        while (seen := _active(base)) != 6:  # 5 held + the scrape
            assert seen < 6 and time.monotonic() < end, f"in flight: {seen}"
            time.sleep(0.05)
        gate.touch()
        for t in held:
            t.join(30)
        assert codes == [200] * 5
        with ThreadPoolExecutor(8) as pool:
            burst = list(
                pool.map(
                    lambda i: (
                        httpx.get(
                            f"{base}/m/{'a' if i % 2 else ''}sync/{i}/", timeout=30
                        ).status_code
                    ),
                    range(300),
                )
            )
        assert burst == [200] * 300
        assert _active(base) == 1
