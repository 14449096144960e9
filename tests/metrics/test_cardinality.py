"""Bounded labels: raw paths, junk methods and route floods add no series."""

from __future__ import annotations

import logging
import random
import string
from typing import Any

import pytest
from django.test import AsyncClient, Client

from opskit.metrics.definitions import OVERFLOW_ROUTE

from .conftest import pick, scrape

H = "http_server_request_duration_seconds"


def _series(samples: list[Any]) -> set[tuple[tuple[str, str], ...]]:
    return {tuple(sorted(s.labels.items())) for s in pick(samples, H + "_count")}


def test_random_paths_and_junk_methods_add_no_series(fresh: Any) -> None:
    rng = random.Random(4)
    c = Client()
    for _ in range(1000):
        path = "/" + "/".join(
            "".join(
                rng.choices(string.ascii_letters + string.digits + "-_.%", k=rng.randint(1, 12))
            )
            for _ in range(rng.randint(1, 4))
        )
        assert c.get(path).status_code == 404
    methods = set()
    while len(methods) < 50:
        methods.add("".join(rng.choices(string.ascii_uppercase, k=rng.randint(3, 10))))
    for method in sorted(methods):
        c.generic(method, "/m/sync/1/")
        c.generic(method, f"/junk/{method}")
    series = _series(scrape())
    labels = {dict(s)["http_route"] for s in series}
    assert labels == {"<unmatched>", "m/sync/<int:pk>/"}
    assert {dict(s)["http_request_method"] for s in series} == {"GET", "_OTHER"}
    # unmatched GET 404, unmatched _OTHER 404, route _OTHER 200
    assert len(series) == 3, series
    [unmatched_get] = [s for s in series if dict(s)["http_request_method"] == "GET"]
    count = pick(scrape(), H + "_count", **dict(unmatched_get))
    assert count[0].value == 1000


async def test_async_junk_methods_fold_into_other(fresh: Any) -> None:
    c = AsyncClient()
    for method in ("BREW", "PROPFIND", "M-SEARCH", "QUERY"):
        await c.generic(method, "/m/async/1/")
    series = _series(scrape())
    methods = {dict(s)["http_request_method"] for s in series if dict(s)["http_route"] != "metrics"}
    assert methods == {"_OTHER"}, series


def test_route_cap_folds_new_routes_and_warns_once(
    configure: Any, caplog: pytest.LogCaptureFixture
) -> None:
    configure(MAX_ROUTES=2)
    c = Client()
    with caplog.at_level(logging.WARNING, logger="opskit.metrics"):
        c.get("/m/sync/1/")
        c.get("/m/async/1/")
        c.get("/m/db/")  # third distinct route: folded
        c.get("/m/pid/")  # fourth: folded, no second warning
        c.get("/nowhere")  # the unmatched value never counts against the cap
    warnings = [r for r in caplog.records if "distinct http_route" in r.getMessage()]
    assert len(warnings) == 1
    routes = {s.labels["http_route"] for s in pick(scrape(), H + "_count")}
    assert routes == {"m/sync/<int:pk>/", "m/async/<int:pk>/", OVERFLOW_ROUTE, "<unmatched>"}
    overflow = pick(scrape(), H + "_count", http_route=OVERFLOW_ROUTE)
    # /m/db/, /m/pid/ and the scrapes themselves (route "metrics") fold.
    assert sum(s.value for s in overflow) >= 3
