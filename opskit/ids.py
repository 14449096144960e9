"""Request ids: accept a safe incoming id or make a new one."""

from __future__ import annotations

import os
import re

__all__ = ["REQUEST_ID_RE", "new_request_id", "parse_traceparent", "valid_request_id"]

#: What an incoming id may look like: safe in a header, a log line, a URL.
REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._:=;-]{8,128}")


def new_request_id() -> str:
    """32 hex characters of randomness (a UUID4's entropy, cheaper to make)."""
    return os.urandom(16).hex()


def valid_request_id(value: object) -> str | None:
    """Return ``value`` if it is a safe id, else ``None`` (never echo it)."""
    if isinstance(value, str) and REQUEST_ID_RE.fullmatch(value):
        return value
    return None


_TRACEPARENT_RE = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")


def parse_traceparent(value: object) -> tuple[str, str] | None:
    """``(trace_id, parent span id)`` from a W3C ``traceparent``, else ``None``.

    Version ``ff`` and all-zero ids are invalid by the spec and ignored.
    """
    if not isinstance(value, str) or len(value) > 128:
        return None
    m = _TRACEPARENT_RE.match(value.strip())
    if m is None or m.group(1) == "ff":
        return None
    trace_id, span_id = m.group(2), m.group(3)
    if trace_id == "0" * 32 or span_id == "0" * 16:
        return None
    return trace_id, span_id
