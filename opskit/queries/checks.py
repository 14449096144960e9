"""System checks of the query monitor (``opskit.E4xx`` / ``W4xx``).

* ``opskit.E401`` SERVER_TIMING_IPS holds an invalid CIDR range.
* ``opskit.E402`` N_PLUS_ONE_THRESHOLD is 1 or negative.
* ``opskit.E403`` MAX_FINGERPRINTS or FINGERPRINT_CACHE_SIZE below 1.
* ``opskit.E404`` a negative time setting (SLOW_QUERY_MS, N_PLUS_ONE_MIN_MS)
  or N_PLUS_ONE_MIN_SHARE outside 0..1.
* ``opskit.W401`` SERVER_TIMING is on for every address.
* ``opskit.W402`` an ALLOW entry that is empty or matches nothing useful.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.core.checks import Error, Warning

from ..client import parse_networks
from ..conf import get_settings

__all__ = ["check_queries_settings", "register_checks"]

_HEX16 = re.compile(r"[0-9a-fA-F]{16}")


def check_queries_settings(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    s = get_settings().QUERIES
    errors: list[Any] = []
    nets: tuple[Any, ...] = ()
    try:
        nets = parse_networks(s.SERVER_TIMING_IPS)
    except ValueError as exc:
        errors.append(
            Error(
                f"OPSKIT QUERIES.SERVER_TIMING_IPS has an invalid CIDR range: {exc}.",
                hint="Use ranges such as '10.0.0.0/8'; until fixed no client gets the header.",
                id="opskit.E401",
            )
        )
    if s.N_PLUS_ONE_THRESHOLD < 0 or s.N_PLUS_ONE_THRESHOLD == 1:
        errors.append(
            Error(
                f"OPSKIT QUERIES.N_PLUS_ONE_THRESHOLD is {s.N_PLUS_ONE_THRESHOLD}: "
                "use 0 (detection off) or at least 2.",
                hint="The default, 5, finds loops and ignores a query run twice.",
                id="opskit.E402",
            )
        )
    for key in ("MAX_FINGERPRINTS", "FINGERPRINT_CACHE_SIZE"):
        value = getattr(s, key)
        if value < 1:
            errors.append(
                Error(
                    f"OPSKIT QUERIES.{key} must be at least 1, not {value}.",
                    id="opskit.E403",
                )
            )
    bad = [
        k
        for k in ("SLOW_QUERY_MS", "N_PLUS_ONE_MIN_MS")
        if getattr(s, k) is not None and getattr(s, k) < 0
    ]
    if not 0.0 <= s.N_PLUS_ONE_MIN_SHARE <= 1.0:
        bad.append("N_PLUS_ONE_MIN_SHARE")
    for key in bad:
        errors.append(
            Error(
                f"OPSKIT QUERIES.{key} is out of range ({getattr(s, key)!r}).",
                hint="Times are milliseconds >= 0; the share is between 0 and 1.",
                id="opskit.E404",
            )
        )
    if s.SERVER_TIMING and any(n.prefixlen == 0 for n in nets):
        errors.append(
            Warning(
                "OPSKIT QUERIES.SERVER_TIMING is on for every client address: "
                "database timings help an attacker time queries.",
                hint="Limit SERVER_TIMING_IPS to your office or VPN ranges.",
                id="opskit.W401",
            )
        )
    for entry in s.ALLOW:
        text = entry.strip()
        if not text or (not _HEX16.fullmatch(text) and text.startswith(":")):
            errors.append(
                Warning(
                    f"OPSKIT QUERIES.ALLOW entry {entry!r} matches nothing and is ignored.",
                    hint="Use a 16-hex fingerprint or a call site 'path.py' / 'path.py:42'.",
                    id="opskit.W402",
                )
            )
    return errors


def register_checks(register: Callable[..., Any]) -> None:
    register(check_queries_settings, "opskit")
