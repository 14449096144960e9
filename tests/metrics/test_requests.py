"""The request histogram counts and sums what the record measured."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.test import AsyncClient, Client

from opskit.context import RequestRecord
from opskit.extensions import Extension
from opskit.metrics import Metrics
from opskit.metrics.extension import MetricsExtension

from . import views
from .conftest import pick, scrape, total

H = "http_server_request_duration_seconds"


class Durations(Extension):
    """Runs after metrics and keeps what each record measured."""

    def __init__(self) -> None:
        self.seen: list[RequestRecord] = []

    def request_finished(self, record: RequestRecord, request: Any, response: Any) -> None:
        self.seen.append(record)


def _expected(records: list[RequestRecord]) -> dict[tuple[str, str, str], tuple[int, float]]:
    out: dict[tuple[str, str, str], tuple[int, float]] = {}
    for r in records:
        key = (str(r.route), str(r.status), r.error_type or "")
        n, s = out.get(key, (0, 0.0))
        out[key] = (n + 1, s + r.duration)
    return out


def _check(records: list[RequestRecord]) -> None:
    records = list(records)  # the scrape below is recorded too, after its body
    samples = scrape()
    for (route, status, _err), (n, s) in _expected(records).items():
        labels = {"http_route": route, "http_response_status_code": status}
        assert total(samples, H + "_count", **labels) == n
        assert total(samples, H + "_sum", **labels) == pytest.approx(s, rel=1e-9, abs=1e-12)
        # The +Inf bucket equals the count; the buckets are cumulative.
        inf = pick(samples, H + "_bucket", le="+Inf", **labels)
        assert sum(b.value for b in inf) == n


def test_sync_counts_and_sums_per_route_and_status(fresh: Metrics, use_extensions: Any) -> None:
    rec = Durations()
    use_extensions(MetricsExtension(), rec)
    c = Client()
    for i in range(5):
        assert c.get(f"/m/sync/{i}/").status_code == 200
    for _ in range(3):
        assert c.get("/m/sync/1/", {"status": "404"}).status_code == 404
    assert c.get("/m/sync/2/", {"status": "503"}).status_code == 503
    assert len(rec.seen) == 9
    _check(rec.seen)
    samples = scrape()
    # A 5xx without an exception: error_type is the status code (OpenTelemetry).
    assert total(samples, H + "_count", http_response_status_code="503", error_type="503") == 1
    route = "m/sync/<int:pk>/"
    assert (
        total(
            samples, H + "_count", http_route=route, http_response_status_code="200", error_type=""
        )
        == 5
    )
    assert (
        total(samples, H + "_count", http_request_method="GET", http_route="m/sync/<int:pk>/") == 9
    )


async def test_async_counts_and_sums_per_route_and_status(
    fresh: Metrics, use_extensions: Any
) -> None:
    rec = Durations()
    use_extensions(MetricsExtension(), rec)
    c = AsyncClient(raise_request_exception=False)
    for i in range(4):
        assert (await c.get(f"/m/async/{i}/")).status_code == 200
    assert (await c.post("/m/async/9/", {"status": "201"})).status_code == 200
    assert (await c.get("/m/async/9/", {"status": "201"})).status_code == 201
    assert (await c.get("/m/aboom/")).status_code == 500
    assert len(rec.seen) == 7
    _check(rec.seen)
    samples = scrape()
    assert (
        total(samples, H + "_count", http_request_method="POST", http_route="m/async/<int:pk>/")
        == 1
    )
    assert total(samples, H + "_count", http_route="m/aboom/", error_type="LookupError") == 1


def test_exception_sets_error_type_and_is_reraised(fresh: Metrics, use_extensions: Any) -> None:
    use_extensions(MetricsExtension())
    with pytest.raises(KeyError):
        Client().get("/m/boom/")
    samples = scrape()
    assert (
        total(
            samples,
            H + "_count",
            http_route="m/boom/",
            http_response_status_code="500",
            error_type="KeyError",
        )
        == 1
    )


def test_active_requests_counts_the_scrape_in_flight(fresh: Metrics) -> None:
    Client().get("/m/sync/1/")
    samples = scrape()
    # Only the scrape itself is in flight while the exposition is built.
    assert total(samples, "http_server_active_requests") == 1
    assert total(scrape(), "http_server_active_requests") == 1


def test_active_requests_counts_threads_in_flight_in_one_process(fresh: Metrics) -> None:
    """Threads of one process (gthread, runserver): the gauge is the list's length."""
    views.GATE.clear()
    with ThreadPoolExecutor(4) as pool:
        held = [pool.submit(Client().get, "/m/gate/") for _ in range(4)]
        for _ in held:
            assert views.ARRIVED.acquire(timeout=10), "a request never reached the view"
        assert total(scrape(), "http_server_active_requests") == 5  # 4 held + the scrape
        views.GATE.set()
        assert [f.result().status_code for f in held] == [200] * 4
    # Many short requests at once: every start has its finish, none is lost.
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda i: Client().get(f"/m/sync/{i}/").status_code, range(400)))
    assert codes == [200] * 400
    assert total(scrape(), "http_server_active_requests") == 1


def test_database_statistics_from_the_record(fresh: Metrics, settings: Any) -> None:
    # The view fills record.db itself, as the query monitor would.
    settings.OPSKIT = {**settings.OPSKIT, "QUERIES": {"ENABLED": False}}
    c = Client()
    for _ in range(2):
        assert c.get("/m/db/").status_code == 200
    c.get("/m/sync/1/")  # no record.db: not observed as zero queries
    samples = scrape()
    assert total(samples, "opskit_db_queries_per_request_count") == 2
    assert total(samples, "opskit_db_queries_per_request_sum") == 8
    assert total(samples, "opskit_db_queries_per_request_bucket", le="5.0") == 2
    assert total(samples, "opskit_db_queries_per_request_bucket", le="2.0") == 0
    assert total(samples, "opskit_db_queries_total", alias="default") == 6
    assert total(samples, "opskit_db_queries_total", alias="other") == 2
    assert total(samples, "opskit_db_query_duration_seconds_count", alias="default") == 2
    assert total(samples, "opskit_db_query_duration_seconds_sum", alias="default") == pytest.approx(
        0.024
    )


@pytest.mark.django_db
def test_real_queries_through_the_query_monitor(fresh: Metrics) -> None:
    assert Client().get("/m/queries/").status_code == 200
    assert Client().get("/m/sync/1/").status_code == 200  # measured: zero queries
    samples = scrape()
    assert total(samples, "opskit_db_queries_per_request_count") == 2
    assert total(samples, "opskit_db_queries_per_request_bucket", le="0.0") == 1
    assert total(samples, "opskit_db_queries_per_request_sum") == 9
    assert total(samples, "opskit_db_queries_total", alias="default") == 9
    assert total(samples, "opskit_db_query_duration_seconds_count", alias="default") == 1
    assert total(samples, "opskit_db_query_duration_seconds_sum", alias="default") > 0
    # The query monitor reported the repeated lookup through its signal.
    assert total(samples, "opskit_db_n_plus_one_total", alias="default") == 1


def test_custom_buckets(configure: Any) -> None:
    configure(BUCKETS=[0.5, 60.0])
    Client().get("/m/sync/1/")
    les = {s.labels["le"] for s in pick(scrape(), H + "_bucket", http_route="m/sync/<int:pk>/")}
    assert les == {"0.5", "60.0", "+Inf"}


def test_disabled_metrics_measure_nothing_and_hide_the_endpoint(settings: Any) -> None:
    settings.ROOT_URLCONF = "tests.metrics.urls"
    settings.OPSKIT = {**settings.OPSKIT, "METRICS": {"ENABLED": False}}
    assert MetricsExtension().active is False
    assert Client().get("/metrics").status_code == 404
