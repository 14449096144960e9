"""Views the metrics tests drive through the real handlers."""

from __future__ import annotations

import asyncio
import os
import threading
import time

from django.http import HttpRequest, HttpResponse, JsonResponse

from opskit import context
from opskit.context import DBStats


def sync_view(request: HttpRequest, pk: int) -> HttpResponse:
    status = int(request.GET.get("status", "200"))
    return HttpResponse(b"ok", status=status)


async def async_view(request: HttpRequest, pk: int) -> HttpResponse:
    await asyncio.sleep(0)
    status = int(request.GET.get("status", "200"))
    return HttpResponse(b"ok", status=status)


def boom_view(request: HttpRequest) -> HttpResponse:
    raise KeyError("boom")


async def async_boom_view(request: HttpRequest) -> HttpResponse:
    raise LookupError("boom")


def db_view(request: HttpRequest) -> HttpResponse:
    """Fill the record's database statistics as the query monitor does."""
    record = context.current()
    assert record is not None
    db = DBStats()
    db.by_alias = {"default": [3, 0.012], "other": [1, 0.002]}
    db.count = 4
    db.duration = 0.014
    record.db = db
    return HttpResponse(b"ok")


def work_view(request: HttpRequest, pk: int) -> JsonResponse:
    time.sleep(0.02)
    return JsonResponse({"pid": os.getpid()})


def pid_view(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"pid": os.getpid()})


def hold_view(request: HttpRequest) -> JsonResponse:
    """Stay in flight (the gunicorn test kills this worker meanwhile)."""
    path = os.environ["OPSKIT_TEST_HOLD_FILE"]
    with open(path + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.replace(path + ".tmp", path)
    time.sleep(20)
    return JsonResponse({"pid": os.getpid()})


def queries_view(request: HttpRequest) -> HttpResponse:
    """Real queries: three counts, then the same lookup six times (an N+1)."""
    from tests.testapp.models import Author

    for _ in range(3):
        Author.objects.count()
    for i in range(6):
        Author.objects.filter(pk=i).first()
    return HttpResponse(b"ok")


#: ``gate_view`` waits for this; ``ARRIVED`` counts the requests waiting.
GATE = threading.Event()
ARRIVED = threading.Semaphore(0)


def gate_view(request: HttpRequest) -> HttpResponse:
    """Stay in flight, in this process, until the test opens the gate."""
    ARRIVED.release()
    GATE.wait(10)
    return HttpResponse(b"ok")


def _released() -> bool:
    return os.path.exists(os.environ["OPSKIT_TEST_GATE_FILE"])


def file_gate_view(request: HttpRequest) -> HttpResponse:
    """Stay in flight (in a server's thread) until the test creates the gate file."""
    end = time.monotonic() + 15
    while not _released() and time.monotonic() < end:
        time.sleep(0.02)
    return HttpResponse(b"ok")


async def afile_gate_view(request: HttpRequest) -> HttpResponse:
    """The same on the event loop, which stays free meanwhile."""
    end = time.monotonic() + 15
    while not _released() and time.monotonic() < end:
        await asyncio.sleep(0.02)
    return HttpResponse(b"ok")
