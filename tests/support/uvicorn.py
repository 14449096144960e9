"""A real uvicorn for a test: started on a free port, ready, then stopped."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from .net import free_port
from .processes import stop_process

ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def uvicorn_server(
    app: str, settings: str, ready_path: str, env: dict[str, str] | None = None
) -> Iterator[str]:
    """Run ``app`` (``module:attr``) under uvicorn with ``settings``; yield its base URL.

    Ready when ``ready_path`` answers 200 (within 20 s).  ``env`` is added to
    this process's environment; a value of ``""`` removes that variable.
    """
    port = free_port()
    full = {**os.environ, "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": settings}
    for key, value in (env or {}).items():
        if value == "":
            full.pop(key, None)
        else:
            full[key] = value
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "uvicorn", app),
            *("--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"),
        ],
        cwd=ROOT,
        env=full,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        end = time.monotonic() + 20
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base + ready_path, timeout=1).status_code == 200:
                    break
            assert proc.poll() is None and time.monotonic() < end, "uvicorn did not start"
            time.sleep(0.1)
        yield base
    finally:
        stop_process(proc)
