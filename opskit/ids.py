"""Request ids: accept a safe incoming id or make a new one."""

from __future__ import annotations

import os
import re

__all__ = ["REQUEST_ID_RE", "new_request_id", "parse_traceparent", "valid_request_id"]

#: What an incoming id may look like: safe in a header, a log line, a URL.
REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._:=;-]{8,128}")

#: Ids drawn from the OS per system call (16 random bytes each).
ID_BATCH = 64

#: Ids drawn but not yet handed out, in this process.
_pool: list[str] = []


def new_request_id() -> str:
    """32 hex characters: 16 bytes from the OS's CSPRNG (a UUID4's entropy and more).

    The bytes are read ``ID_BATCH`` ids at a time, so a request costs no
    ``getrandom`` system call: each id is still independent kernel randomness,
    as unpredictable as ``os.urandom(16)`` per call, only read ahead.
    ``list.pop`` is atomic, so threads never share an id; a forked child
    (a gunicorn worker) empties the pool it inherited, so no two processes
    hand out the same read-ahead ids.
    """
    try:
        return _pool.pop()
    except IndexError:
        return _refill()


def _refill() -> str:
    raw = os.urandom(16 * ID_BATCH).hex()
    ids = [raw[i : i + 32] for i in range(0, len(raw), 32)]
    first = ids.pop()
    _pool.extend(ids)
    return first


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_pool.clear)


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
