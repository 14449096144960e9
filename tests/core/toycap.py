"""A toy capability that plugs into the core through its descriptor alone.

Used by ``test_capability.py``: its settings section, system check, ready
hook, request extension and URL are all named by ``CAPABILITY`` and nothing
else in opskit mentions it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.checks import Warning
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.urls import URLPattern, path

from opskit.capability import Capability
from opskit.conf import get_section
from opskit.context import RequestRecord
from opskit.extensions import Extension

#: What the ready hook did (the test reads it).
READY_CALLS: list[str] = []


@dataclass(frozen=True)
class ToySettings:
    ENABLED: bool = True
    GREETING: str = "hello"


def check_toy(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    if get_section("TOY").GREETING == "":
        return [Warning("OPSKIT TOY.GREETING is empty.", id="toy.W001")]
    return []


def register_checks(register: Any) -> None:
    register(check_toy, "opskit")


def connect() -> None:
    READY_CALLS.append("connected")


class ToyExtension(Extension):
    def process_response(
        self, record: RequestRecord, request: HttpRequest, response: HttpResponseBase
    ) -> None:
        response["X-Toy"] = get_section("TOY").GREETING


def toy_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse("toy")


def url_patterns() -> list[URLPattern]:
    return [path("toy", toy_view, name="toy")]


CAPABILITY = Capability(
    name="toy",
    section="TOY",
    settings="tests.core.toycap.ToySettings",
    checks=("tests.core.toycap.register_checks",),
    ready=("tests.core.toycap.connect",),
    extension="tests.core.toycap.ToyExtension",
    extension_order=60,
    urls="tests.core.toycap.url_patterns",
)
