"""The package's shape: nothing at import time, capabilities apart, typed API.

These guard the design rules every capability was written to, so a later
change that breaks one fails here rather than in production.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import pkgutil
from pathlib import Path
from typing import Any

import pytest

import opskit

from ..support.processes import probe_json

PACKAGE = Path(opskit.__file__).parent
#: Capability packages.
CAPABILITIES = ("health", "logs", "metrics", "queries", "ratelimit", "sentry", "slow", "tasks")
#: The shared core every capability may import.
CORE = frozenset(
    {
        "apps",
        "capabilities",
        "capability",
        "checks",
        "client",
        "conf",
        "context",
        "deprecation",
        "extensions",
        "ids",
        "middleware",
        "propagation",
        "redact",
        "rediscache",
        "signals",
        "throttle",
    }
)
#: Modules whose third-party dependency reads Django settings when imported
#: (Django REST framework's ``api_settings``): imported with settings named
#: but not set up.
NEEDS_SETTINGS = frozenset({"opskit.ratelimit.drf"})

_IMPORT_PROBE = r"""
import importlib, json, logging, pkgutil, sys, threading, weakref

events = []


def audit(event, args):
    if event in ("socket.connect", "socket.bind", "subprocess.Popen", "open") and (
        event != "open" or str(args[0]).endswith((".sqlite3", ".db", ".prom"))
    ):
        events.append(f"{event} {args[:2]!r}")


sys.addaudithook(audit)

import django.conf
import prometheus_client
from django.core import signals as core_signals
from django.db.backends import signals as db_signals
from django.dispatch import Signal
from django.utils.functional import empty

metric_names = set(prometheus_client.REGISTRY._names_to_collectors)
threads = threading.active_count()
root_handlers = list(logging.getLogger().handlers)

modules = sys.argv[1:]
failed = {}
for name in modules:
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed[name] = repr(exc)

import opskit.signals

receivers = []
for sig in [
    core_signals.request_started,
    core_signals.request_finished,
    core_signals.got_request_exception,
    core_signals.setting_changed,
    db_signals.connection_created,
] + [s for s in vars(opskit.signals).values() if isinstance(s, Signal)]:
    for entry in sig.receivers:
        func = entry[1]() if isinstance(entry[1], weakref.ReferenceType) else entry[1]
        module = getattr(func, "__module__", "") or ""
        if module.startswith("opskit"):
            receivers.append(f"{module}.{getattr(func, '__qualname__', func)}")

print(json.dumps({
    "failed": failed,
    "events": events,
    "metrics": sorted(set(prometheus_client.REGISTRY._names_to_collectors) - metric_names),
    "settings_loaded": django.conf.settings._wrapped is not empty,
    "new_threads": threading.active_count() - threads,
    "root_handlers_changed": logging.getLogger().handlers != root_handlers,
    "receivers": receivers,
}))
"""


def _all_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages([str(PACKAGE)], "opskit."))


def _probe(modules: list[str], settings_module: str | None) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    if settings_module:
        env["DJANGO_SETTINGS_MODULE"] = settings_module
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return probe_json(_IMPORT_PROBE, modules, env, PACKAGE.parent)


def test_every_module_is_probed() -> None:
    modules = _all_modules()
    assert len(modules) > 40
    for cap in CAPABILITIES:
        assert any(m == f"opskit.{cap}" or m.startswith(f"opskit.{cap}.") for m in modules)
    assert set(modules) >= NEEDS_SETTINGS


def test_importing_every_module_without_settings_does_nothing() -> None:
    """No settings read, metric registered, connection, thread or receiver on import."""
    result = _probe([m for m in _all_modules() if m not in NEEDS_SETTINGS], None)
    assert result == {
        "failed": {},
        "events": [],
        "metrics": [],
        "settings_loaded": False,
        "new_threads": 0,
        "root_handlers_changed": False,
        "receivers": [],
    }


def test_importing_with_settings_named_does_not_set_up_django() -> None:
    """With settings named (not set up), importing still leaves everything alone."""
    result = _probe(_all_modules(), "tests.settings")
    # DRF itself reads REST_FRAMEWORK when ``rest_framework.throttling`` is
    # imported; apart from that nothing may load the settings.
    assert result["failed"] == {}
    assert result["events"] == []
    assert result["metrics"] == []
    assert result["new_threads"] == 0
    assert result["root_handlers_changed"] is False
    assert result["receivers"] == []


def _imported_opskit_modules(path: Path, package: str) -> set[str]:
    """Every ``opskit.*`` module a file imports, anywhere in it (relative too)."""
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("opskit"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if not module.startswith("opskit"):
                continue
            if node.module is None or module in ("opskit",):
                found.update(f"{module}.{a.name}" for a in node.names)
            else:
                found.add(module)
    return found


def _capability_files(cap: str) -> list[tuple[Path, str]]:
    single = PACKAGE / f"{cap}.py"
    if single.exists():
        return [(single, "opskit")]
    return [(p, f"opskit.{cap}") for p in sorted((PACKAGE / cap).rglob("*.py"))]


@pytest.mark.parametrize("cap", CAPABILITIES)
def test_capabilities_import_only_the_core(cap: str) -> None:
    """Capabilities talk through signals and the record, never each other."""
    files = _capability_files(cap)
    assert files
    wrong: list[str] = []
    for path, package in files:
        for module in sorted(_imported_opskit_modules(path, package)):
            parts = module.split(".")
            top = parts[1] if len(parts) > 1 else ""
            if module == "opskit" or top == cap or top in CORE:
                continue
            wrong.append(f"{path.relative_to(PACKAGE.parent)} imports {module}")
    assert wrong == []


def test_import_parser_sees_relative_and_absolute_imports(tmp_path: Path) -> None:
    source = tmp_path / "mod.py"
    source.write_text(
        "from .. import context\nfrom ..metrics import views\nfrom . import core\n"
        "import opskit.logs.config\n\ndef f():\n    from opskit.sentry import setup\n"
    )
    assert _imported_opskit_modules(source, "opskit.ratelimit") == {
        "opskit.context",
        "opskit.metrics",
        "opskit.ratelimit.core",
        "opskit.logs.config",
        "opskit.sentry",
    }


def _untyped(obj: Any) -> list[str]:
    """Parameters and returns of ``obj`` (a function or a class) without annotations."""
    if inspect.isclass(obj):
        missing: list[str] = []
        for name, member in vars(obj).items():
            if name.startswith("_") and name != "__init__":
                continue
            func = member.__func__ if isinstance(member, (staticmethod, classmethod)) else member
            if isinstance(func, property):
                func = func.fget
            if inspect.isfunction(func):
                missing += [f"{obj.__name__}.{m}" for m in _untyped(func)]
        return missing
    if not inspect.isfunction(obj):
        return []
    missing = []
    for param in inspect.signature(obj).parameters.values():
        if param.name in ("self", "cls"):
            continue
        if param.annotation is inspect.Parameter.empty:
            missing.append(f"{obj.__qualname__}({param.name})")
    if obj.__annotations__.get("return", inspect.Parameter.empty) is inspect.Parameter.empty:
        missing.append(f"{obj.__qualname__} -> ?")
    return missing


@pytest.mark.parametrize("cap", CAPABILITIES)
def test_public_api_is_listed_and_typed(cap: str) -> None:
    module = importlib.import_module(f"opskit.{cap}")
    names = getattr(module, "__all__", None)
    assert names, f"opskit.{cap} has no __all__"
    assert len(set(names)) == len(names)
    missing = [n for n in names if not hasattr(module, n)]
    assert missing == []
    untyped = [u for n in names for u in _untyped(getattr(module, n))]
    assert untyped == []


def _logger_names_in_source() -> set[str]:
    """Logger names opskit passes to ``getLogger`` as literals, and the defaults."""
    from opskit.conf import LoggingSettings, SlowRequestSettings

    names = {LoggingSettings().LOGGER, SlowRequestSettings().LOGGER}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "getLogger"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                names.add(node.args[0].value)
    return names


def test_every_logger_is_named_opskit_and_documented() -> None:
    names = _logger_names_in_source()
    assert {"opskit.request", "opskit.internal", "opskit.queries"} <= names
    assert sorted(n for n in names if not n.startswith("opskit.")) == []
    page = (PACKAGE.parent / "docs" / "logging.md").read_text()
    table = page.split("### opskit's loggers", 1)[1].split("\n## ", 1)[0]
    documented = {
        line.split("`")[1] for line in table.splitlines() if line.startswith("| `opskit.")
    }
    assert documented == names
