"""Run a function in a forked child (what a gunicorn worker is) and read its answer."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable


def in_forked_child(fn: Callable[[], bytes]) -> tuple[int, bytes]:
    """``(the child's pid, what fn returned there)``."""
    read, write = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (3.12+)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.write(write, fn())
        finally:
            os._exit(0)
    os.close(write)
    data = b""
    while chunk := os.read(read, 65536):
        data += chunk
    os.close(read)
    os.waitpid(pid, 0)
    return pid, data
