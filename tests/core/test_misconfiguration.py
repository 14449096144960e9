"""Misconfiguration is loud: under any server, with the check id, with a hint.

The middleware without the app and a bad setting under a real gunicorn are
also exercised end to end on an installed wheel in ``tests/packaging``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from django.core.checks import run_checks
from django.test import override_settings

from opskit.conf import HealthSettings, did_you_mean, validate
from opskit.health.registry import SpecError, build_one

MIDDLEWARE = "opskit.middleware.OpsKitMiddleware"


def _messages(**overrides: Any) -> list[Any]:
    with override_settings(**overrides):
        return [m for m in run_checks() if m.id and m.id.startswith("opskit.")]


def _middleware_messages(**overrides: Any) -> list[Any]:
    return [m for m in _messages(**overrides) if m.id in ("opskit.E005", "opskit.W001")]


def test_e005_app_without_the_middleware_loses_the_request_data() -> None:
    [message] = _middleware_messages(MIDDLEWARE=["django.middleware.common.CommonMiddleware"])
    assert message.id == "opskit.E005" and message.is_serious()
    assert "request logging, metrics and the query monitor record nothing" in message.msg
    assert f"[{MIDDLEWARE!r}, *MIDDLEWARE]" in message.hint


def test_e005_names_only_what_is_on() -> None:
    off = {"ENABLED": False}
    [message] = _middleware_messages(MIDDLEWARE=[], OPSKIT={"LOGGING": off, "QUERIES": off})
    assert message.id == "opskit.E005"
    assert ": metrics record nothing" in message.msg


@pytest.mark.parametrize(
    ("raw", "suggestion"),
    [
        ({"trusted_proxies": []}, "TRUSTED_PROXIES"),
        ({"Trusted_Proxy": []}, "TRUSTED_PROXIES"),
        ({"logging": {}}, "LOGGING"),
        ({"LOGGING": {"sample_rate": 1.0}}, "LOGGING.SAMPLE_RATE"),
        ({"HEALTH": {"dedline": 1.0}}, "HEALTH.DEADLINE"),
    ],
)
def test_did_you_mean_ignores_case(raw: dict[str, Any], suggestion: str) -> None:
    _, problems = validate(raw)
    [(cid, message)] = problems
    assert cid == "opskit.E001" and f"Did you mean {suggestion!r}?" in message


def test_did_you_mean_has_no_wild_guesses() -> None:
    assert did_you_mean("zzz", ["TRUSTED_PROXIES", "LOGGING"]) is None
    _, [(_, message)] = validate({"COMPLETELY_UNRELATED": 1})
    assert "Did you mean" not in message


@pytest.mark.parametrize(
    ("spec", "suggestion"),
    [
        ("databse:default", "database:default"),
        ("Database:default", "database:default"),
        ("memroy", "memory"),
        ("REDIS:cache", "redis:cache"),
    ],
)
def test_did_you_mean_covers_health_check_names(spec: str, suggestion: str) -> None:
    with pytest.raises(SpecError, match=f"did you mean {suggestion!r}"):
        build_one(spec, HealthSettings())
    [message] = [
        m for m in _messages(OPSKIT={"HEALTH": {"CHECKS": [spec]}}) if m.id == "opskit.E501"
    ]
    assert message.id == "opskit.E501" and f"did you mean {suggestion!r}" in message.msg


def test_every_error_has_a_hint() -> None:
    """Errors from every capability, including those whose check gives no hint."""
    bad = {
        "REQUEST_ID_HEDER": "x",
        "TRUSTED_PROXIES": ["10.0.0.0/33"],
        "FORWARDED_HEADER": "X Forwarded",
        "METRICS": 3,
        "RATELIMIT": {"HEADERS": "sometimes", "IPV6_PREFIX": 0, "BREAKER_THRESHOLD": 0},
        "HEALTH": {"TTL": 0, "DETAILS": "maybe", "CHECKS": ["databse:default"]},
        "QUERIES": {"N_PLUS_ONE_THRESHOLD": -1, "SLOW_QUERY_LOG_LIMIT": -1},
        "LOGGING": {"SAMPLE_RATE": 2.0},
    }
    errors = [m for m in _messages(OPSKIT=bad, MIDDLEWARE=[]) if m.is_serious()]
    ids = {m.id for m in errors}
    assert {"opskit.E001", "opskit.E002", "opskit.E003", "opskit.E004"} <= ids
    assert {"opskit.E005", "opskit.E304", "opskit.E501", "opskit.E504"} <= ids
    assert [m.id for m in errors if not m.hint] == []


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


_CONFIGURE = """
import django, logging, sys
from django.conf import settings
settings.configure(
    INSTALLED_APPS={apps!r}, MIDDLEWARE=[{mw!r}], ROOT_URLCONF="tests.urls",
    DATABASES={{"default": {{"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}}},
    OPSKIT={opskit!r},
    LOGGING={{"version": 1, "handlers": {{"out": {{"class": "logging.StreamHandler",
        "stream": "ext://sys.stdout"}}}}, "root": {{"handlers": ["out"], "level": "INFO"}}}},
)
"""


@pytest.mark.parametrize("handler", ["wsgi", "asgi"])
def test_middleware_without_the_app_stops_the_server_at_startup(handler: str) -> None:
    code = _CONFIGURE.format(apps=["django.contrib.contenttypes"], mw=MIDDLEWARE, opskit={})
    code += f"from django.core.{handler} import get_{handler}_application\n"
    code += f"get_{handler}_application()\nprint('served')\n"
    result = _python(code)
    assert result.returncode != 0 and "served" not in result.stdout
    assert "django.core.exceptions.ImproperlyConfigured" in result.stderr
    assert "'opskit' is not in INSTALLED_APPS" in result.stderr
    assert 'INSTALLED_APPS += ["opskit"]' in result.stderr


def test_ready_logs_error_level_problems_once_with_their_ids() -> None:
    code = _CONFIGURE.format(
        apps=["django.contrib.contenttypes", "opskit"],
        mw=MIDDLEWARE,
        opskit={"TRUSTED_PROXIES": ["10.0.0.0/33"], "HEALTH": {"DETAILS": "always"}},
    )
    code += "django.setup()\n"
    code += "from django.core.wsgi import get_wsgi_application\nget_wsgi_application()\n"
    # The URLconf waits for the first request: ready() must not import it
    # (admin.autodiscover() of a later app would not have run yet).
    code += "import json; print(json.dumps('tests.urls' in sys.modules))\n"
    result = _python(code)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    errors = [line for line in lines if "opskit.E" in line]
    assert len(errors) == 1, lines
    assert errors[0].startswith("opskit.E003: OPSKIT TRUSTED_PROXIES has an invalid CIDR range")
    assert "HINT: Use ranges such as '10.0.0.0/8'" in errors[0]
    assert "opskit.W502" not in result.stdout  # warnings are for `manage.py check`
    assert json.loads(lines[-1]) is False


def test_query_assertions_without_the_app_fail_loudly() -> None:
    code = _CONFIGURE.format(apps=["django.contrib.contenttypes"], mw=MIDDLEWARE, opskit={})
    code += "django.setup()\nfrom opskit.queries import assert_max_queries, assert_no_n_plus_one\n"
    code += "from django.db import connection\n"
    code += "for helper in (assert_max_queries(0), assert_no_n_plus_one()):\n"
    code += "    try:\n        with helper:\n            connection.cursor().execute('SELECT 1')\n"
    code += "    except Exception as exc:\n        print(type(exc).__name__, exc)\n"
    result = _python(code)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and all(line.startswith("ImproperlyConfigured") for line in lines)
    assert "assert_max_queries is used but 'opskit' is not in INSTALLED_APPS" in lines[0]
    assert lines[1].endswith('Fix: INSTALLED_APPS += ["opskit"] in your settings.')
