from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import connections
from django.test import override_settings

from opskit.health.runner import get_runner, reset_runner

from .faults import FreezableProxy, HungListener, SwitchableProxy


@pytest.fixture
def health(settings: Any) -> Iterator[Callable[..., None]]:
    """Apply ``OPSKIT["HEALTH"]`` options for one test (fresh runner)."""
    stack: list[Any] = []

    def configure(**options: Any) -> None:
        while stack:
            stack.pop().disable()
        cfg = {**settings.OPSKIT, "HEALTH": options}
        ov = override_settings(OPSKIT=cfg)
        ov.enable()
        stack.append(ov)

    yield configure
    while stack:
        stack.pop().disable()
    reset_runner()


@pytest.fixture
def db_access(django_db_setup: Any, django_db_blocker: Any) -> Iterator[None]:
    """The test databases exist and any thread (the health workers) may use them."""
    with django_db_blocker.unblock():
        yield


def pg_alias() -> str:
    for alias, cfg in connections.settings.items():
        if "postgresql" in cfg["ENGINE"]:
            return str(alias)
    raise AssertionError("no PostgreSQL alias configured")


@pytest.fixture
def extra_alias(monkeypatch: pytest.MonkeyPatch) -> Callable[[str, int], str]:
    """Add a database alias: the PostgreSQL alias's settings, another port."""

    def add(name: str, port: int) -> str:
        cfg = copy.deepcopy(connections.settings[pg_alias()])
        cfg.update(HOST="127.0.0.1", PORT=str(port))
        monkeypatch.setitem(connections.settings, name, cfg)
        return name

    return add


@pytest.fixture
def hung_listener() -> Iterator[HungListener]:
    listener = HungListener()
    yield listener
    listener.close()


@pytest.fixture
def pg_proxy() -> Iterator[FreezableProxy]:
    cfg = connections.settings[pg_alias()]
    proxy = FreezableProxy(cfg["HOST"] or "127.0.0.1", int(cfg["PORT"] or 5432))
    yield proxy
    proxy.close()


def slot_check(name: str) -> Any:
    return get_runner().slots[name].check


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


@pytest.fixture
def switch_proxy() -> Iterator[Callable[[int], SwitchableProxy]]:
    """Switchable proxies (forward / blackhole / close) to loopback ports."""
    made: list[SwitchableProxy] = []

    def make(port: int) -> SwitchableProxy:
        proxy = SwitchableProxy("127.0.0.1", port)
        made.append(proxy)
        return proxy

    yield make
    for proxy in made:
        proxy.close()
