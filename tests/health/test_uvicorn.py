"""A real ASGI server (uvicorn, one event loop): a waiting probe blocks nothing."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from typing import Any

import httpx
import pytest

from ..support.timing import SLACK
from ..support.uvicorn import uvicorn_server


def uvicorn(env: dict[str, str]) -> contextlib.AbstractContextManager[str]:
    return uvicorn_server(
        "tests.health.asgi:application", "tests.health.cmd_settings", "/livez", env
    )


@pytest.mark.postgres
def test_uvicorn_hung_database(hung_listener: Any) -> None:
    opts = {"CHECKS": ["database:hung"], "DEADLINE": 0.8, "PROBE_TIMEOUT": 30}
    env = {
        "HEALTH_TEST_OPTIONS": json.dumps(opts),
        "HEALTH_TEST_HUNG_PORT": str(hung_listener.port),
    }
    with uvicorn(env) as base:
        probe: dict[str, Any] = {}

        def run_probe() -> None:
            t0 = time.monotonic()
            resp = httpx.get(f"{base}/readyz", headers={"Host": "10.42.0.7:8000"}, timeout=10)
            probe.update(status=resp.status_code, body=resp.json(), t=time.monotonic() - t0)

        thread = threading.Thread(target=run_probe)
        thread.start()
        time.sleep(0.1)
        t0 = time.monotonic()
        app = httpx.get(f"{base}/async/3/", timeout=10)
        app_elapsed = time.monotonic() - t0
        assert app.status_code == 200
        # The one event loop served the app while the probe was waiting.
        assert thread.is_alive()
        thread.join()
        assert probe["status"] == 503 and probe["body"] == {"status": "fail"}
        assert 0.7 <= probe["t"] < 0.8 + SLACK
        assert app_elapsed < probe["t"]
        t0 = time.monotonic()
        assert httpx.get(f"{base}/readyz", timeout=10).status_code == 503
        assert time.monotonic() - t0 < 0.7  # cached while hung: not the deadline again
        assert httpx.get(f"{base}/livez", timeout=10).status_code == 200
