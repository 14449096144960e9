"""A capability plugs in through one descriptor and one line of the list."""

from __future__ import annotations

import types
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.checks.registry import CheckRegistry
from django.test import Client, override_settings
from django.urls import clear_url_caches, include, path, reverse

from opskit import capabilities
from opskit.capability import Capability
from opskit.conf import get_section, reload_settings
from opskit.extensions import get_extensions

from . import toycap


@pytest.fixture
def with_toy(monkeypatch: pytest.MonkeyPatch) -> Iterator[Capability]:
    """``BUILTIN`` plus the toy: the one line a new capability adds."""
    monkeypatch.setattr(capabilities, "BUILTIN", (*capabilities.BUILTIN, "tests.core.toycap"))
    reload_settings()
    clear_url_caches()
    yield toycap.CAPABILITY
    monkeypatch.undo()
    reload_settings()
    clear_url_caches()


def test_the_builtin_list_is_every_capability_once() -> None:
    names = [c.name for c in capabilities.installed()]
    assert names == [p.rsplit(".", 1)[1] for p in capabilities.BUILTIN]
    assert len(set(names)) == len(names)


def test_extensions_run_in_their_order() -> None:
    sections = [section for section, _ in capabilities.extension_paths()]
    assert sections == ["SENTRY", "QUERIES", "SLOW_REQUESTS", "METRICS", "HEALTH", "LOGGING"]


def test_task_receivers_connect_in_finish_order() -> None:
    """task_finished runs its receivers in connection order: statistics,
    metrics, Sentry, then the log line."""
    hooks = [h for c in capabilities.installed() for h in c.ready if h.endswith("tasks.connect")]
    assert hooks == [
        "opskit.queries.tasks.connect",
        "opskit.metrics.tasks.connect",
        "opskit.sentry.tasks.connect",
        "opskit.tasks.connect",
        "opskit.logs.tasks.connect",
    ]


def test_toy_settings_section_is_parsed_and_checked(with_toy: Capability) -> None:
    assert get_section("TOY").GREETING == "hello"
    with override_settings(OPSKIT={"TOY": {"GREETING": "hi"}}):
        assert get_section("TOY").GREETING == "hi"
    with override_settings(OPSKIT={"TOY": {"GRETING": "hi"}}):
        from opskit.checks import check_settings

        messages = [(m.id, m.msg) for m in check_settings()]
        assert (
            "opskit.E001",
            "Unknown OPSKIT key 'TOY.GRETING'. Did you mean 'TOY.GREETING'?",
        ) in (messages)


def test_toy_checks_and_ready_hook_are_plugged_in(with_toy: Capability) -> None:
    registry = CheckRegistry()
    toycap.READY_CALLS.clear()
    capabilities.plug_in([with_toy], registry.register)
    assert toycap.READY_CALLS == ["connected"]
    assert registry.run_checks(tags=["opskit"]) == []
    with override_settings(OPSKIT={"TOY": {"GREETING": ""}}):
        assert [m.id for m in registry.run_checks(tags=["opskit"])] == ["toy.W001"]


def _fresh_urlconf() -> types.ModuleType:
    """A root URLconf built now: ``include()`` makes its resolver once, so the
    project's own ``opskit.urls`` resolver has cached the built-in patterns."""
    urlconf = types.ModuleType("toy_urls")
    urlconf.urlpatterns = [path("", include("opskit.urls"))]  # type: ignore[attr-defined]
    return urlconf


@pytest.mark.usefixtures("with_toy")
def test_toy_extension_and_url_serve_requests(settings: Any) -> None:
    settings.ROOT_URLCONF = _fresh_urlconf()
    assert any(path.endswith("ToyExtension") for _, path in capabilities.extension_paths())
    assert reverse("opskit:toy") == "/toy"
    response = Client().get("/toy")
    assert response.status_code == 200
    assert response.content == b"toy"
    assert response["X-Toy"] == "hello"
    with override_settings(OPSKIT={"TOY": {"ENABLED": False}}):
        assert "X-Toy" not in Client().get("/toy")
        assert all(type(e).__name__ != "ToyExtension" for e in get_extensions().extensions)


def test_toy_is_not_plugged_in_without_its_line() -> None:
    assert get_section("TOY") is None
    assert "toy" not in [c.name for c in capabilities.installed()]
