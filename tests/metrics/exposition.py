"""A real ``/metrics`` exposition with every opskit metric filled in.

``python -m tests.metrics.exposition`` prints it (``make promtool`` pipes it
into ``promtool check metrics``); the tests call :func:`exposition`.
"""

from __future__ import annotations

import os
import sys

from django.test import Client

from opskit import signals
from opskit.context import RequestRecord


def exposition(accept: str = "") -> str:
    """Drive requests and every signal, then scrape ``/metrics`` once."""
    c = Client(raise_request_exception=False)
    for i in range(3):
        c.get(f"/m/sync/{i}/")
    c.get("/m/sync/1/", {"status": "503"})
    c.get("/m/boom/")
    c.get("/m/db/")
    c.generic("BREW", "/m/sync/1/")
    c.get("/no/such/page")
    record = RequestRecord("0" * 32, "GET", "/m/sync/1/")
    record.route = "m/sync/<int:pk>/"
    signals.ratelimit_decided.send(None, scope="login", outcome="limited", record=record)
    signals.ratelimit_decided.send(None, scope="api", outcome="allowed", record=None)
    signals.health_checked.send(
        None, check="database", status="pass", duration=0.002, critical=True, record=None
    )
    signals.health_checked.send(
        None, check="disk", status="warn", duration=0.0004, critical=False, record=None
    )
    signals.slow_query.send(
        None,
        alias="default",
        duration=0.9,
        fingerprint="ab",
        sql="SELECT 1",
        call_site="",
        record=record,
    )
    signals.n_plus_one_detected.send(
        None,
        alias="default",
        fingerprint="cd",
        count=9,
        duration=0.02,
        sql="",
        call_site="",
        record=record,
    )
    signals.slow_request_detected.send(None, threshold=1.0, duration=1.5, record=record)
    response = c.get("/metrics", HTTP_ACCEPT=accept)
    if response.status_code != 200:
        raise RuntimeError(f"/metrics answered {response.status_code}")
    return response.content.decode()


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.metrics.gunicorn_settings")
    import django

    django.setup()
    sys.stdout.write(exposition())


if __name__ == "__main__":
    main()
