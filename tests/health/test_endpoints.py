"""The endpoints through the real WSGI handler and the core middleware."""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import pytest
from django.test import Client

from opskit.health.runner import get_runner
from opskit.signals import health_checked

from ..support.timing import SLACK
from .conftest import slot_check

SW = "tests.health.checks_for_tests.Switch"
TOKEN = "t0ken-for-health-details"
AUTH = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}


def sw(name: str, mode: str = "pass", **kw: Any) -> dict[str, Any]:
    return {"check": SW, "name": name, "mode": mode, **kw}


def test_livez_does_no_io_and_passes_while_a_check_fails(health: Any) -> None:
    health(CHECKS=[sw("broken", "fail")])
    resp = Client().get("/livez")
    assert resp.status_code == 200
    assert resp["Content-Type"] == "application/health+json"
    assert resp.json() == {"status": "pass"}
    assert slot_check("broken").runs == 0
    assert Client().get("/readyz").status_code == 503


@pytest.mark.parametrize("path", ["/readyz", "/healthz", "/health", "/livez", "/startupz"])
def test_only_get_and_head(health: Any, path: str) -> None:
    health(CHECKS=[sw("ok")])
    client = Client()
    for method in ("post", "put", "delete", "patch", "options"):
        resp = getattr(client, method)(path)
        assert resp.status_code == 405, (method, path)
        assert resp["Allow"] == "GET, HEAD"
    head = client.head(path)
    assert head.status_code == 200
    assert head.content == b""


def test_kubelet_host_header_is_answered_before_allowed_hosts(health: Any) -> None:
    health(CHECKS=[sw("ok")])
    client = Client()
    resp = client.get("/readyz", HTTP_HOST="10.42.0.7:8000")
    assert resp.status_code == 200
    assert b"10.42.0.7" not in resp.content
    assert all("10.42.0.7" not in v for _, v in resp.items())
    # The same Host on an application path is still refused by ALLOWED_HOSTS.
    assert client.get("/sync/1/", HTTP_HOST="10.42.0.7:8000").status_code == 400


def test_public_failure_body_is_the_status_alone(
    health: Any, caplog: pytest.LogCaptureFixture
) -> None:
    health(CHECKS=[sw("db", "fail")], TOKEN=TOKEN)
    with caplog.at_level(logging.DEBUG):
        resp = Client().get("/readyz", HTTP_HOST="10.42.0.7:8000")
        for path in ("/readyz", "/readyz/nope", "/healthz"):
            Client().get(path)
        Client().post("/readyz")
    # One transition line; nothing on django.request (no "Service
    # Unavailable" errors, no mail to ADMINS), no traceback anywhere.
    assert [r.name for r in caplog.records] == ["opskit.health"]
    assert not any(r.exc_info for r in caplog.records)
    assert resp.status_code == 503
    assert resp.json() == {"status": "fail"}
    assert len(resp.content) < 200
    for leak in (b"RuntimeError", b"secret", b"Traceback", b"/etc", b"example", b"10.42"):
        assert leak not in resp.content
    # ?verbose without the token changes nothing.
    again = Client().get("/readyz?verbose")
    assert again.content == resp.content


def test_details_format_with_token(health: Any) -> None:
    health(
        CHECKS=[sw("db", "fail"), sw("slow", "warn", critical=False), "memory", "disk:/"],
        TOKEN=TOKEN,
    )
    resp = Client().get("/readyz?verbose", **AUTH)
    assert resp.status_code == 503
    assert resp["Content-Type"] == "application/health+json"
    body = resp.json()
    assert body["status"] == "fail"
    assert list(body["checks"]) == [  # in the configured order
        "db:responseTime",
        "slow:responseTime",
        "memory:utilization",
        "disk:utilization",
    ]
    [db] = body["checks"]["db:responseTime"]
    assert db["status"] == "fail" and db["componentType"] == "component"
    assert db["observedUnit"] == "ms" and db["observedValue"] >= 0
    assert db["time"].endswith("Z")
    out = db["output"]
    assert out.startswith("RuntimeError: secret at")
    for leak in ("db.internal", "example", "5432", "/etc", "conf.py", "Traceback"):
        assert leak not in out
    [slow] = body["checks"]["slow:responseTime"]
    assert slow["status"] == "warn" and slow["observedValue"] == 7.0
    assert slow["output"] == "degraded"
    [mem] = body["checks"]["memory:utilization"]
    assert mem["observedUnit"] == "percent" and 0 < mem["observedValue"] <= 100
    assert "output" not in mem


@pytest.mark.parametrize(
    ("details", "headers", "shown"),
    [
        ("never", AUTH, False),
        ("when-authorized", {}, False),
        ("when-authorized", {"HTTP_AUTHORIZATION": "Bearer wrong"}, False),
        ("when-authorized", {"HTTP_AUTHORIZATION": TOKEN}, False),
        ("when-authorized", AUTH, True),
        ("always", {}, True),
        ("bogus", AUTH, False),
    ],
)
def test_details_setting(health: Any, details: str, headers: dict[str, str], shown: bool) -> None:
    health(CHECKS=[sw("ok")], DETAILS=details, TOKEN=TOKEN)
    body = Client().get("/readyz?verbose", **headers).json()
    assert ("checks" in body) is shown
    # Without ?verbose the body is the status alone, whoever asks.
    assert Client().get("/readyz", **headers).json() == {"status": "pass"}


def test_non_critical_failure_is_200_warn(health: Any) -> None:
    health(CHECKS=[sw("ok"), sw("extra", "fail", critical=False)])
    resp = Client().get("/readyz")
    assert resp.status_code == 200
    assert resp.json() == {"status": "warn"}


def test_warning_is_200_warn(health: Any) -> None:
    health(CHECKS=[sw("ok"), sw("deg", "warn")])
    resp = Client().get("/healthz")
    assert (resp.status_code, resp.json()) == (200, {"status": "warn"})


def test_exclude_and_single_check(health: Any) -> None:
    health(CHECKS=[sw("ok"), sw("bad", "fail"), sw("bad2", "failed")])
    client = Client()
    assert client.get("/readyz").status_code == 503
    assert client.get("/readyz?exclude=bad").status_code == 503
    assert client.get("/readyz?exclude=bad&exclude=bad2").status_code == 200
    assert client.get("/readyz?exclude=bad,bad2,unknown").status_code == 200
    assert client.get("/readyz/ok").status_code == 200
    assert client.get("/readyz/bad").status_code == 503
    assert client.get("/healthz/ok").status_code == 200
    assert client.get("/readyz/missing").status_code == 404


def test_startupz_runs_only_startup_checks(health: Any) -> None:
    health(CHECKS=[sw("ready-bad", "fail"), sw("boot", groups=["startup"])])
    client = Client()
    assert client.get("/startupz").status_code == 200
    assert slot_check("ready-bad").runs == 0
    assert client.get("/readyz").status_code == 503
    assert slot_check("boot").runs == 1


def test_html_page_for_browsers(health: Any) -> None:
    health(CHECKS=[sw("db", "fail")], TOKEN=TOKEN)
    accept = {"HTTP_ACCEPT": "text/html,application/xhtml+xml,*/*;q=0.8"}
    resp = Client().get("/readyz", **accept)
    assert resp.status_code == 503
    assert resp["Content-Type"].startswith("text/html")
    assert b"fail" in resp.content and b"<table" not in resp.content
    detailed = Client().get("/readyz", **accept, **AUTH)
    assert b"<table" in detailed.content and b"db:responseTime" in detailed.content
    assert b"RuntimeError" in detailed.content and b"/etc" not in detailed.content
    # JSON wins when the client prefers it, and for kubelets (*/*).
    for value in ("application/json, text/html;q=0.5", "*/*"):
        assert Client().get("/readyz", HTTP_ACCEPT=value)["Content-Type"] == (
            "application/health+json"
        )


def test_check_forms(health: Any) -> None:
    health(
        CHECKS=[
            "tests.health.checks_for_tests.optional_gateway",
            "tests.health.checks_for_tests.plain_ok",
            {"check": "tests.health.checks_for_tests.bare_function", "name": "bare"},
            {"check": "memory", "warn_percent": 100.0},
            {"check": "disk:/", "warn_percent": 0.0},
        ],
        DETAILS="always",
    )
    body = Client().get("/readyz?verbose").json()
    checks = body["checks"]
    assert checks["optional_gateway:responseTime"][0]["status"] == "fail"
    assert checks["optional_gateway:responseTime"][0]["critical"] is False
    assert checks["plain_ok:responseTime"][0]["observedValue"] == 1.5
    assert checks["bare:responseTime"][0]["status"] == "pass"
    assert checks["memory:utilization"][0]["status"] == "pass"
    assert checks["disk:utilization"][0]["status"] == "warn"
    assert body["status"] == "warn"  # only non-critical problems
    assert get_runner().slots["optional_gateway"].budget == 0.5


def test_cache_check_reads_and_never_writes(health: Any) -> None:
    from django.core.cache import caches

    health(CHECKS=["cache:default"], DETAILS="always")
    before = len(caches["default"]._cache)  # type: ignore[attr-defined]
    body = Client().get("/readyz?verbose").json()
    assert body["checks"]["cache.default:responseTime"][0]["status"] == "pass"
    # The worker's own cache object (per thread) read an absent key only.
    assert len(caches["default"]._cache) == before  # type: ignore[attr-defined]


def test_transitions_logged_once_and_signal_per_run(
    health: Any, caplog: pytest.LogCaptureFixture
) -> None:
    health(CHECKS=[sw("flappy")], TTL=0.05)
    seen: list[dict[str, Any]] = []

    def receiver(sender: Any, **kw: Any) -> None:
        seen.append(kw)

    health_checked.connect(receiver)
    try:
        client = Client()
        client.get("/readyz")  # the first run passes: nothing logged
        check = slot_check("flappy")
        with caplog.at_level(logging.WARNING, logger="opskit.health"):
            for mode in ("pass", "fail", "fail", "pass", "pass"):
                check.mode = mode
                time.sleep(0.06)
                client.get("/readyz")
    finally:
        health_checked.disconnect(receiver)
    messages = [r.getMessage() for r in caplog.records if r.name == "opskit.health"]
    assert messages == [
        "health check flappy: pass -> fail (RuntimeError: secret at <name> in <path>)",
        "health check flappy: fail -> pass",
    ]
    assert all(r.levelno == logging.WARNING for r in caplog.records if r.name == "opskit.health")
    assert len(seen) == check.runs
    assert {s["status"] for s in seen} == {"pass", "fail"}
    assert all(s["check"] == "flappy" and s["critical"] is True for s in seen)
    assert all(s["duration"] >= 0 and s["record"] is None for s in seen)


def test_ttl_and_single_flight(health: Any) -> None:
    health(CHECKS=[sw("slow", delay=0.2)], TTL=30, DEADLINE=5)
    codes: list[int] = []

    def probe() -> None:
        codes.append(Client().get("/readyz").status_code)

    threads = [threading.Thread(target=probe) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for _ in range(20):
        probe()
    check = slot_check("slow")
    assert codes == [200] * 28
    assert check.runs == 1
    assert check.max_in_flight == 1


def test_hung_check_reported_then_cached_then_recovers(health: Any) -> None:
    health(CHECKS=[sw("stuck"), sw("ok")], DEADLINE=0.3, TTL=0.5, TOKEN=TOKEN)
    client = Client()
    assert client.get("/readyz").status_code == 200
    check = slot_check("stuck")
    check.release.clear()
    time.sleep(0.55)
    t0 = time.monotonic()
    first = client.get("/readyz?verbose", **AUTH)
    waited = time.monotonic() - t0
    assert first.status_code == 503
    assert 0.25 <= waited < 2.0  # the deadline, never the hang
    [entry] = first.json()["checks"]["stuck:responseTime"]
    assert entry["output"].startswith("hung for ")
    # Cached: later probes do not wait again, and no second run starts.
    t0 = time.monotonic()
    for _ in range(5):
        assert client.get("/readyz").status_code == 503
    assert time.monotonic() - t0 < waited
    time.sleep(0.55)  # past the TTL: still in flight, reported at once
    t0 = time.monotonic()
    assert client.get("/readyz").status_code == 503
    assert time.monotonic() - t0 < waited
    assert check.runs == 2 and check.max_in_flight == 1
    check.release.set()
    time.sleep(0.55)
    assert client.get("/readyz").status_code == 200


def test_results_never_older_than_ttl_plus_deadline(health: Any) -> None:
    health(CHECKS=[sw("a"), sw("b", delay=0.1)], TTL=0.2, DEADLINE=0.5, DETAILS="always")
    client = Client()
    for _ in range(15):
        body = client.get("/readyz?verbose").json()
        now = time.time()
        for [entry] in body["checks"].values():
            from datetime import datetime

            observed = datetime.fromisoformat(entry["time"].replace("Z", "+00:00")).timestamp()
            assert now - observed <= 0.2 + 0.5 + 0.05
        time.sleep(0.07)


def test_routed_views_for_projects_without_the_intercept(
    health: Any, db_access: None, django_user_model: Any
) -> None:
    # PATHS elsewhere: /readyz now reaches opskit.urls through the whole stack.
    health(CHECKS=[sw("ok")], PATHS=["/_probe/ready"], LIVE_PATHS=[], STARTUP_PATHS=[])
    client = Client()
    assert client.get("/readyz", HTTP_HOST="10.42.0.7:8000").status_code == 400
    assert client.get("/readyz").json() == {"status": "pass"}
    assert client.get("/livez").status_code == 200
    assert client.get("/startupz").status_code == 200
    assert client.post("/readyz").status_code == 405
    assert "checks" not in client.get("/readyz?verbose").json()
    user = django_user_model.objects.create_user("ops", password="pw", is_staff=True)
    try:
        client.force_login(user)
        assert "checks" in client.get("/readyz?verbose").json()
        assert client.get("/readyz/ok?verbose").json()["checks"]["ok:responseTime"]
    finally:
        user.delete()
    assert Client().get("/_probe/ready").json() == {"status": "pass"}


def test_disabled(health: Any) -> None:
    health(ENABLED=False, CHECKS=[sw("ok")])
    assert Client().get("/readyz").status_code == 404


def test_body_is_compact_json(health: Any) -> None:
    health(CHECKS=[sw("ok")])
    content = Client().get("/readyz").content
    assert content == b'{"status":"pass"}'
    assert json.loads(content) == {"status": "pass"}


def test_hostile_query_strings_never_break_the_probe(health: Any) -> None:
    health(CHECKS=[sw("ok"), sw("bad", "fail")])
    client = Client()
    many = "&".join(f"p{i}=1" for i in range(2000))  # over DATA_UPLOAD_MAX_NUMBER_FIELDS
    assert client.get(f"/readyz?{many}").status_code == 503
    assert client.get("/readyz?exclude=%ff%fe&verbose=%00").status_code == 503
    assert client.get("/readyz/" + "x" * 5000).status_code == 404
    assert client.get("/readyz/%C3%A9").status_code == 404


def test_routed_view_survives_a_user_store_outage(health: Any, settings: Any) -> None:
    from importlib import import_module

    backend = "tests.health.checks_for_tests.UnreachableUserBackend"
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
    settings.AUTHENTICATION_BACKENDS = [backend]
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store.update({"_auth_user_id": "1", "_auth_user_backend": backend, "_auth_user_hash": ""})
    store.save()
    health(CHECKS=[sw("ok")], PATHS=["/_probe/ready"], LIVE_PATHS=[], STARTUP_PATHS=[])
    client = Client()
    client.cookies[settings.SESSION_COOKIE_NAME] = store.session_key
    resp = client.get("/readyz?verbose")
    # Loading request.user failed: no details, but the probe still answers.
    assert (resp.status_code, resp.json()) == (200, {"status": "pass"})


def test_health_results_reach_the_metrics_endpoint(health: Any) -> None:
    health(CHECKS=[sw("ok"), sw("bad", "fail", critical=False)])
    client = Client()
    assert client.get("/readyz").status_code == 200
    body = client.get("/metrics").content.decode()
    lines = [line for line in body.splitlines() if line.startswith("opskit_health_check_")]
    assert 'opskit_health_check_status{check="ok"} 1.0' in lines
    assert 'opskit_health_check_status{check="bad"} 0.0' in lines
    assert any(
        line.startswith('opskit_health_check_duration_seconds{check="bad"}') for line in lines
    )


def test_deadline_counts_from_when_the_request_arrived(health: Any) -> None:
    """A fresh worker's set-up before the probe code runs is inside the deadline."""
    from django.test import RequestFactory

    from opskit.context import RequestRecord
    from opskit.health.views import respond

    def wait(request: Any) -> float:
        health(CHECKS=[sw("stuck")], DEADLINE=1.5)  # a fresh runner each time
        get_runner()
        slot_check("stuck").release.clear()
        try:
            t0 = time.monotonic()
            assert respond(request, "ready").status_code == 503
            return time.monotonic() - t0
        finally:
            slot_check("stuck").release.set()

    late = RequestFactory().get("/readyz")
    late.opskit = RequestRecord("r1")  # type: ignore[attr-defined]
    late.opskit.start -= 1.0  # type: ignore[attr-defined]  # 1 s spent before the probe code
    late_wait = wait(late)
    bare_wait = wait(RequestFactory().get("/readyz"))  # no record: counts from now
    assert 0.4 <= late_wait < 1.2, late_wait  # the 1.5 s budget minus the 1 s already spent
    assert 1.35 <= bare_wait < 1.5 + SLACK, bare_wait
