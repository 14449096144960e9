"""Remove from Sentry events the secrets opskit's logs redact.

sentry-sdk already drops cookies and a few auth headers unless
``send_default_pii`` is on, but it sends the raw query string
(``?token=...``) and any header it does not know (``X-Api-Key`` variants,
your own).  This uses the lists in ``OPSKIT["LOGGING"]`` (``REDACT_HEADERS``,
``REDACT_PARAMS``) so one configuration decides what never leaves the
process, whether it is a log line or a Sentry event.  Pure functions on the
event dict: no sentry-sdk import.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

__all__ = ["FILTERED", "scrub_event", "scrub_query_string", "scrub_text"]

_PAIR_RE = re.compile(r"([A-Za-z0-9_.\-\[\]]+)=([^&\s'\"#;,)>]*)")

#: What sentry-sdk itself writes in place of a removed value.
FILTERED = "[Filtered]"


def _param_secret(name: str, words: tuple[str, ...]) -> bool:
    lowered = name.lower()
    return any(w in lowered for w in words)


def scrub_query_string(query: str, words: Iterable[str]) -> str:
    """``query`` with the value of every parameter named like a secret replaced."""
    words = tuple(w.lower() for w in words if w)
    if not query or not words:
        return query
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any(_param_secret(k, words) for k, _ in pairs):
        return query
    return urlencode([(k, FILTERED if _param_secret(k, words) else v) for k, v in pairs])


def scrub_text(text: str, words: Iterable[str]) -> str:
    """Replace the value of every ``name=value`` pair named like a secret.

    For reprs and messages that embed a URL, such as a frame's ``request``
    variable (``<WSGIRequest: GET '/pay?token=...'>``).
    """
    if "=" not in text:
        return text
    words = tuple(w.lower() for w in words if w)

    def sub(m: re.Match[str]) -> str:
        return f"{m.group(1)}={FILTERED}" if _param_secret(m.group(1), words) else m.group(0)

    return _PAIR_RE.sub(sub, text)


def _scrub_strings(value: Any, words: tuple[str, ...], depth: int = 0) -> Any:
    if isinstance(value, str):
        return scrub_text(value, words)
    if depth < 6:
        if isinstance(value, dict):
            for key in list(value):
                value[key] = _scrub_strings(value[key], words, depth + 1)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                value[i] = _scrub_strings(item, words, depth + 1)
    return value


def _scrub_mapping(values: MutableMapping[str, Any], secret: Any) -> None:
    for key in list(values):
        if isinstance(key, str) and secret(key):
            values[key] = FILTERED


def scrub_event(event: dict[str, Any], headers: Iterable[str], params: Iterable[str]) -> None:
    """Scrub ``event["request"]`` (and HTTP breadcrumbs) in place.

    ``headers`` are header names (any case, ``-`` or ``_``); ``params`` are
    words: a query parameter, form field or cookie whose name contains one is
    replaced.  When ``cookie`` is a redacted header every cookie value goes.
    """
    header_names = {h.lower().replace("_", "-") for h in headers}
    words = tuple(w.lower() for w in params if w)
    request = event.get("request")
    if isinstance(request, dict):
        found = request.get("headers")
        if isinstance(found, dict):
            _scrub_mapping(found, lambda k: k.lower().replace("_", "-") in header_names)
        cookies = request.get("cookies")
        if isinstance(cookies, dict):
            if "cookie" in header_names:
                _scrub_mapping(cookies, lambda k: True)
            else:
                _scrub_mapping(cookies, lambda k: _param_secret(k, words))
        elif isinstance(cookies, str) and cookies and "cookie" in header_names:
            request["cookies"] = FILTERED
        query = request.get("query_string")
        if isinstance(query, str):
            request["query_string"] = scrub_query_string(query, words)
        data = request.get("data")
        if isinstance(data, dict):
            _scrub_mapping(data, lambda k: _param_secret(k, words))
        env = request.get("env")
        if isinstance(env, dict):
            _scrub_mapping(
                env,
                lambda k: k.startswith("HTTP_") and k[5:].lower().replace("_", "-") in header_names,
            )
    for container in ("exception", "threads"):
        found = event.get(container)
        values = found.get("values") if isinstance(found, dict) else None
        for item in values if isinstance(values, list) else ():
            if not isinstance(item, dict):
                continue
            if isinstance(item.get("value"), str):
                item["value"] = scrub_text(item["value"], words)
            stack = item.get("stacktrace")
            frames = stack.get("frames") if isinstance(stack, dict) else None
            for frame in frames if isinstance(frames, list) else ():
                if isinstance(frame, dict) and isinstance(frame.get("vars"), dict):
                    _scrub_strings(frame["vars"], words)
    if isinstance(event.get("message"), str):
        event["message"] = scrub_text(event["message"], words)
    entry = event.get("logentry")
    if isinstance(entry, dict):
        _scrub_strings(entry, words)
    crumbs = event.get("breadcrumbs")
    values = crumbs.get("values") if isinstance(crumbs, dict) else crumbs
    if isinstance(values, list):
        for crumb in values:
            data = crumb.get("data") if isinstance(crumb, dict) else None
            if isinstance(data, dict) and isinstance(data.get("http.query"), str):
                data["http.query"] = scrub_query_string(data["http.query"], words)
            if isinstance(crumb, dict) and isinstance(crumb.get("message"), str):
                crumb["message"] = scrub_text(crumb["message"], words)
