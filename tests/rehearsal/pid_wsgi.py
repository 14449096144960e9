"""The demo's WSGI application, each answer tagged with its worker's pid.

The rehearsal asks every gunicorn worker separately (readiness is cached per
process): the ``X-Worker-Pid`` header says which worker answered, without
touching the application or its settings.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from demo.wsgi import application as demo_application


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    pid = ("X-Worker-Pid", str(os.getpid()))

    def tagged(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        return start_response(status, [*headers, pid], exc_info)

    return demo_application(environ, tagged)
