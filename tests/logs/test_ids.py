"""The request id: on every record of the request, never mixed, never echoed raw."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.test import AsyncClient, Client

from .conftest import Captured


def test_every_sync_record_has_the_response_id(captured: Captured) -> None:
    resp = Client().get("/api/posts/3/")
    rid = resp["X-Request-ID"]
    lines = captured.lines()
    assert [e["logger"] for e in lines] == ["tests.logs.user", "tests.logs.user", "opskit.request"]
    assert {e["request_id"] for e in lines} == {rid}


async def test_every_async_record_has_the_response_id(captured: Captured) -> None:
    resp = await AsyncClient().get("/api/aposts/3/")
    rid = resp["X-Request-ID"]
    lines = captured.lines()
    assert [e.get("message") for e in lines[:2]] == ["async view 3", "async view after await"]
    assert {e["request_id"] for e in lines} == {rid}


async def test_sync_to_async_thread_hop_keeps_the_id(captured: Captured) -> None:
    resp = await AsyncClient().get("/hop/")
    rid = resp["X-Request-ID"]
    assert resp.json()["inner"] == rid
    [hop] = [e for e in captured.lines() if e["logger"] == "tests.logs.thread"]
    assert hop["request_id"] == rid
    assert captured.request()["request_id"] == rid


def test_outside_a_request_the_id_is_null(captured: Captured) -> None:
    logging.getLogger("tests.logs.user").warning("no request here")
    [line] = captured.lines()
    assert line["request_id"] is None


async def test_concurrent_async_requests_never_mix_ids(captured: Captured) -> None:
    client = AsyncClient()
    n = 24
    # Interleave: later requests sleep less, so they finish out of order.
    responses = await asyncio.gather(
        *(client.get(f"/concurrent/?n={i}&d={0.002 * (n - i)}") for i in range(n))
    )
    by_n = {r.json()["n"]: r["X-Request-ID"] for r in responses}
    assert len(set(by_n.values())) == n
    for r in responses:
        assert r.json()["inner"] == r["X-Request-ID"]
    lines = captured.lines()
    user_lines = [e for e in lines if e["logger"] in ("tests.logs.user", "tests.logs.thread")]
    assert len(user_lines) == 3 * n
    for entry in user_lines:
        marker = entry["message"].rsplit("n=", 1)[1]
        assert entry["request_id"] == by_n[marker], entry
    assert sorted(e["request_id"] for e in captured.requests()) == sorted(by_n.values())


def test_concurrent_threads_never_mix_ids(captured: Captured) -> None:
    def one(i: int) -> tuple[str, str]:
        r = Client().get(f"/sync-concurrent/?n={i}&d={0.001 * (i % 5)}")
        return r.json()["n"], r["X-Request-ID"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        by_n = dict(pool.map(one, range(32)))
    assert len(set(by_n.values())) == 32
    user_lines = [e for e in captured.lines() if e["logger"] == "tests.logs.user"]
    assert len(user_lines) == 64
    for entry in user_lines:
        assert entry["request_id"] == by_n[entry["message"].rsplit("n=", 1)[1]]


VALID = "req-2026.11:26=abc;01"


def test_valid_incoming_id_is_used_everywhere(captured: Captured) -> None:
    resp = Client().get("/api/posts/1/", headers={"X-Request-ID": VALID})
    assert resp["X-Request-ID"] == VALID
    assert {e["request_id"] for e in captured.lines()} == {VALID}


@pytest.mark.parametrize(
    "bad",
    [
        "BADIDMARKER" + "x" * 200,  # too long
        "BADIDMARKER<script>alert(1)</script>",  # bad characters
        "BADIDMARKER\r\nX-Injected: 1",  # CR/LF
        "BADIDMARKER" + "é" * 10,  # non-ASCII
        "BADIDMARKER " + "a" * 4000,  # django-guid logs 4 KB of this verbatim
        "BAD",  # too short (no marker fits; checked via the header below)
    ],
)
@pytest.mark.parametrize("client_cls", [Client, AsyncClient])
async def test_invalid_incoming_id_is_replaced_and_never_written(
    captured: Captured, bad: str, client_cls: type
) -> None:
    client = client_cls()
    resp = client.get("/api/posts/1/?page=1", headers={"X-Request-ID": bad})
    if client_cls is AsyncClient:
        resp = await resp
    rid = resp["X-Request-ID"]
    assert rid != bad and len(rid) == 32
    raw = captured.raw
    assert "BADIDMARKER" not in raw
    assert "X-Injected" not in raw
    assert {e["request_id"] for e in captured.lines()} == {rid}
    assert '"BAD"' not in raw


def test_untrusted_incoming_id_is_ignored(captured: Captured, settings: object) -> None:
    from django.test import override_settings

    with override_settings(OPSKIT={"TRUST_REQUEST_ID": False}):
        resp = Client().get("/api/posts/1/", headers={"X-Request-ID": VALID})
    assert resp["X-Request-ID"] != VALID
    assert VALID not in captured.raw


def test_custom_header_name(captured: Captured) -> None:
    from django.test import override_settings

    with override_settings(OPSKIT={"REQUEST_ID_HEADER": "X-Correlation-ID"}):
        resp = Client().get("/api/posts/1/", headers={"X-Correlation-ID": VALID})
    assert resp["X-Correlation-ID"] == VALID
    assert captured.request()["request_id"] == VALID


def test_streaming_generator_lines_have_the_id(captured: Captured) -> None:
    resp = Client().get("/logging-stream/")
    # The server iterates the body after the middleware returned.
    body = b"".join(resp.streaming_content)  # type: ignore[attr-defined]
    assert body == b"c" * 12
    rid = resp["X-Request-ID"]
    lines = captured.lines()
    assert [e.get("message") for e in lines[:3]] == ["chunk 0", "chunk 1", "chunk 2"]
    assert {e["request_id"] for e in lines} == {rid}
    # And nothing leaks into the context afterwards.
    import logging as _logging

    _logging.getLogger("tests.logs.user").info("after")
    assert captured.lines()[-1]["request_id"] is None


async def test_async_streaming_generator_lines_have_the_id(captured: Captured) -> None:
    resp = await AsyncClient().get("/alogging-stream/")
    body = b"".join([c async for c in resp.streaming_content])  # type: ignore[attr-defined]
    assert body == b"c" * 12
    rid = resp["X-Request-ID"]
    lines = captured.lines()
    assert [e.get("message") for e in lines[:3]] == ["achunk 0", "achunk 1", "achunk 2"]
    assert {e["request_id"] for e in lines} == {rid}
