"""rotating_file_logging()'s default handler with several processes writing and rotating.

The standard ``RotatingFileHandler`` loses most lines here (each process
renames files the others still write); the default handler must keep every
line exactly once and whole.  Real processes, real files; the rehearsal
does the same under gunicorn and uvicorn workers (``test_8_logging``).
"""

from __future__ import annotations

import json
import logging
import logging.config
import multiprocessing
from collections import Counter
from pathlib import Path

import pytest

from opskit.logs import rotating_file_logging
from opskit.logs.config import CONCURRENT_HANDLER

PROCESSES = 4
LINES = 1500
MAX_BYTES = 32 * 1024
BACKUPS = 40  # enough to keep every line: what is checked is loss, not deletion


def _writer(directory: str, worker: int, handler_class: str) -> None:
    logging.config.dictConfig(
        rotating_file_logging(
            directory, max_bytes=MAX_BYTES, backup_count=BACKUPS, handler_class=handler_class
        )
    )
    log = logging.getLogger("rotation.test")
    for i in range(LINES):
        log.info("line", extra={"seq": f"{worker}-{i}", "pad": "x" * 64})
    logging.shutdown()


def write_concurrently(directory: Path, handler_class: str) -> Counter[str]:
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=_writer, args=(str(directory), w, handler_class))
        for w in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    seen: Counter[str] = Counter()
    for path in directory.glob("app.log*"):
        data = path.read_bytes()
        assert not data or data.endswith(b"\n"), f"{path.name} ends inside a line"
        for raw in data.splitlines():
            seen[json.loads(raw)["seq"]] += 1  # a mixed or cut line fails here
    return seen


@pytest.mark.slow
def test_every_line_once_across_processes(tmp_path: Path) -> None:
    seen = write_concurrently(tmp_path, CONCURRENT_HANDLER)
    rotated = sorted(p.name for p in tmp_path.glob("app.log.*"))
    assert len(rotated) >= 10, rotated  # it did rotate, many times
    assert len(rotated) < BACKUPS  # ... and deleted nothing
    expected = {f"{w}-{i}" for w in range(PROCESSES) for i in range(LINES)}
    assert set(seen) == expected, f"{len(expected - set(seen))} lines lost"
    assert max(seen.values()) == 1, [k for k, n in seen.items() if n > 1][:5]


def test_missing_library_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from django.core.exceptions import ImproperlyConfigured

    import opskit.logs.config as config

    monkeypatch.setattr(config.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImproperlyConfigured, match=r"opskit\[logfiles\]"):
        rotating_file_logging(tmp_path)
    # An explicit other handler does not need it.
    rotating_file_logging(tmp_path, handler_class="logging.handlers.WatchedFileHandler")
