from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from django.core.handlers.asgi import ASGIHandler
from django.test import AsyncClient, Client, override_settings

from opskit.context import RequestRecord
from opskit.extensions import Extension
from opskit.middleware import UNMATCHED_ROUTE
from tests.asgi import asgi_get


class Recorder(Extension):
    def __init__(self) -> None:
        self.started: list[RequestRecord] = []
        self.finished: list[tuple[RequestRecord, Any]] = []

    def request_started(self, record: RequestRecord, request: Any) -> None:
        self.started.append(record)

    def request_finished(self, record: RequestRecord, request: Any, response: Any) -> None:
        assert record.end is not None
        self.finished.append((record, response))


class Broken(Extension):
    def request_started(self, record: RequestRecord, request: Any) -> None:
        raise RuntimeError("started")

    def process_response(self, record: RequestRecord, request: Any, response: Any) -> None:
        raise RuntimeError("response")

    def request_finished(self, record: RequestRecord, request: Any, response: Any) -> None:
        raise RuntimeError("finished")


def test_sync_view_sees_record_with_route(use_extensions: Any) -> None:
    rec = Recorder()
    use_extensions(rec)
    resp = Client().get("/sync/7/")
    body = resp.json()
    assert resp["X-Request-ID"] == body["request_id"]
    assert body["route"] == "sync/<int:pk>/"
    assert body["client"] == "127.0.0.1"
    [(record, _response)] = rec.finished
    assert record.status == 200 and record.view == "sync"
    assert record.method == "GET" and record.path == "/sync/7/"
    assert record.response_size == len(resp.content)
    assert 0 < record.duration < 5


async def test_async_view_and_thread_hop_share_record(use_extensions: Any) -> None:
    rec = Recorder()
    use_extensions(rec)
    resp = await AsyncClient().get("/async-thread/")
    body = resp.json()
    assert body["inner"] == body["outer"]
    assert body["outer"]["request_id"] == resp["X-Request-ID"]
    resp = await AsyncClient().get("/async/3/")
    assert resp.json()["route"] == "async/<int:pk>/"


def test_valid_incoming_id_is_kept_invalid_is_replaced() -> None:
    c = Client()
    good = "abc-123_DEF.456:7"
    assert c.get("/record/", HTTP_X_REQUEST_ID=good)["X-Request-ID"] == good
    for bad in ["short", "x" * 200, "bad id with spaces", "abc\r\nSet-Cookie: x=1", "é" * 10]:
        resp = c.get("/record/", HTTP_X_REQUEST_ID=bad)
        assert resp["X-Request-ID"] != bad
        assert len(resp["X-Request-ID"]) == 32


@override_settings(OPSKIT={"TRUST_REQUEST_ID": False, "REQUEST_ID_HEADER": "X-Correlation-ID"})
def test_custom_header_and_distrust() -> None:
    resp = Client().get("/record/", HTTP_X_CORRELATION_ID="abcdefgh12345")
    assert resp["X-Correlation-ID"] != "abcdefgh12345"
    assert resp.json()["request_id"] == resp["X-Correlation-ID"]
    assert "X-Request-ID" not in resp


def test_unmatched_route_is_fixed(use_extensions: Any) -> None:
    rec = Recorder()
    use_extensions(rec)
    assert Client().get("/no/such/path/123").status_code == 404
    assert rec.finished[0][0].route == UNMATCHED_ROUTE


def test_view_exception_is_not_swallowed(use_extensions: Any) -> None:
    rec = Recorder()
    use_extensions(rec)
    with pytest.raises(ZeroDivisionError):
        Client().get("/boom/")
    record = rec.finished[0][0]
    assert record.error_type == "ZeroDivisionError"
    assert record.status == 500
    resp = Client(raise_request_exception=False).get("/boom/")
    assert resp.status_code == 500


def test_broken_extension_never_breaks_response(use_extensions: Any, caplog: Any) -> None:
    rec = Recorder()
    use_extensions(Broken(), rec)
    with caplog.at_level(logging.WARNING, logger="opskit.internal"):
        resp = Client().get("/sync/1/")
    assert resp.status_code == 200
    assert len(rec.finished) == 1
    assert sum("opskit" in r.getMessage() for r in caplog.records) == 3


def test_streaming_finishes_after_last_chunk(use_extensions: Any) -> None:
    rec = Recorder()
    use_extensions(rec)
    resp = Client().get("/stream/")
    assert rec.finished == []  # headers sent, body not yet consumed
    assert b"".join(resp.streaming_content) == b"a" * 10 + b"b" * 20
    assert rec.finished[0][0].response_size == 30


async def test_async_streaming_finishes_after_last_chunk(use_extensions: Any) -> None:
    rec = Recorder()
    use_extensions(rec)
    resp = await AsyncClient().get("/astream/")
    chunks = [c async for c in resp.streaming_content]
    assert b"".join(chunks) == b"x" * 5 + b"y" * 7
    assert rec.finished[0][0].response_size == 12


def test_user_id_only_when_already_loaded(use_extensions: Any, django_user_model: Any) -> None:
    rec = Recorder()
    use_extensions(rec)
    user = django_user_model.objects.create_user("ann", password="pw")
    c = Client()
    c.force_login(user)
    c.get("/record/")  # never touches request.user
    c.get("/login-user/")
    assert rec.finished[0][0].user_id is None
    assert rec.finished[1][0].user_id == str(user.pk)


@pytest.mark.parametrize("path", ["/auser/", "/direct-user/"])
def test_user_id_of_a_user_loaded_without_request_user(
    use_extensions: Any, django_user_model: Any, path: str
) -> None:
    """``await request.auser()`` and a user set on the request are loaded users too."""
    rec = Recorder()
    use_extensions(rec)
    user = django_user_model.objects.create_user("bea", password="pw")
    client = Client()
    client.force_login(user)
    assert client.get(path).json() == {"user": str(user.pk)}
    assert rec.finished[0][0].user_id == str(user.pk)
    assert Client().get(path).json() == {"user": None}
    assert rec.finished[1][0].user_id is None


def test_a_user_that_cannot_say_if_it_is_authenticated_is_no_500(use_extensions: Any) -> None:
    rec = Recorder()
    use_extensions(rec)
    response = Client().get("/odd-user/")
    assert response.status_code == 200
    assert rec.finished[0][0].user_id is None


pytestmark = pytest.mark.django_db


async def test_concurrent_asgi_requests_do_not_leak() -> None:
    import json

    app = ASGIHandler()
    results = await asyncio.gather(
        *[asgi_get(f"/sleep/?d={0.001 * (i % 5)}", app=app) for i in range(20)]
    )
    ids = set()
    for served in results:
        assert served.status == 200
        data = json.loads(served.body)
        assert data["request_id"] == served.headers["x-request-id"]
        ids.add(data["request_id"])
    assert len(ids) == 20


def test_traceparent_is_honoured(use_extensions: Any) -> None:
    rec = Recorder()
    use_extensions(rec)
    tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    Client().get("/record/", HTTP_TRACEPARENT=tp)
    Client().get("/record/", HTTP_TRACEPARENT="00-" + "0" * 32 + "-00f067aa0ba902b7-01")
    Client().get("/record/", HTTP_TRACEPARENT="garbage")
    first, second, third = (r for r, _ in rec.finished)
    assert (first.trace_id, first.span_id) == (
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "00f067aa0ba902b7",
    )
    assert second.trace_id is None and third.trace_id is None
