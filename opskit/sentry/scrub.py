"""Remove from Sentry events what opskit's logs never write.

sentry-sdk already drops cookies and a few auth headers unless
``send_default_pii`` is on, but it sends the raw query string
(``?token=...``), the ``Referer`` with its query, URLs in breadcrumbs and
spans, and any header it does not know.  This applies the log lines' rule
(:mod:`opskit.redact`, settings in ``OPSKIT["LOGGING"]``): query values by
allow-list (``ALLOW_PARAMS``), in every URL of the event; headers, form
fields and cookies by name (``REDACT_HEADERS``, ``REDACT_PARAMS``).  One
configuration decides what never leaves the process, log line or event.
Pure functions on the event dict: no sentry-sdk import.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, MutableMapping
from typing import Any

from ..redact import Redactor, get_redactor

__all__ = ["FILTERED", "scrub_event", "scrub_query_string", "scrub_text"]

#: What sentry-sdk itself writes in place of a removed value.
FILTERED = "[Filtered]"

#: Keys of breadcrumb and span data that hold a URL or its parts.
_URL_KEYS = ("url", "http.url", "url.full", "http.target", "server.address")
_QUERY_KEYS = ("http.query", "url.query", "http.fragment", "url.fragment")


def _redactor(words: Iterable[str], allow: Iterable[str], headers: Iterable[str] = ()) -> Redactor:
    return get_redactor(allow, words, headers, FILTERED)


def scrub_query_string(query: str, words: Iterable[str], allow: Iterable[str] = ()) -> str:
    """``query`` with every value replaced unless its name is in ``allow``."""
    return _redactor(words, allow).query(query)


def scrub_text(text: str, words: Iterable[str], allow: Iterable[str] = ()) -> str:
    """A message or repr: URLs' query values by ``allow``, other secret pairs by ``words``.

    For reprs and messages that embed a URL, such as a frame's ``request``
    variable (``<WSGIRequest: GET '/pay?token=...'>``).
    """
    return _redactor(words, allow).text(text)


def _strings(value: Any, r: Redactor, depth: int = 0) -> Any:
    if isinstance(value, str):
        return r.text(value)
    if depth < 6:
        if isinstance(value, dict):
            for key in list(value):
                value[key] = _strings(value[key], r, depth + 1)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                value[i] = _strings(item, r, depth + 1)
    return value


def _names(values: MutableMapping[str, Any], secret: Callable[[str], bool]) -> None:
    for key in list(values):
        if isinstance(key, str) and secret(key):
            values[key] = FILTERED


def _url_data(data: Any, r: Redactor) -> None:
    """Breadcrumb or span ``data``: URLs and query parts by the allow-list."""
    if not isinstance(data, dict):
        return
    for key in _URL_KEYS:
        if isinstance(data.get(key), str):
            data[key] = r.url(data[key])
    for key in _QUERY_KEYS:
        if isinstance(data.get(key), str):
            data[key] = r.query(data[key])
    _strings(data, r)


def _request(request: dict[str, Any], r: Redactor, cookie_header: bool) -> None:
    found = request.get("headers")
    if isinstance(found, dict):
        for key in list(found):
            if isinstance(key, str) and isinstance(found[key], str):
                found[key] = r.header(key, found[key])
            elif isinstance(key, str) and r.secret_header(key):
                found[key] = FILTERED
    cookies = request.get("cookies")
    if isinstance(cookies, dict):
        _names(cookies, (lambda k: True) if cookie_header else r.secret_name)
    elif isinstance(cookies, str) and cookies and cookie_header:
        request["cookies"] = FILTERED
    query = request.get("query_string")
    if isinstance(query, str):
        request["query_string"] = r.query(query)
    elif isinstance(query, (dict, list)):
        request["query_string"] = FILTERED
    if isinstance(request.get("url"), str):
        request["url"] = r.url(request["url"])
    data = request.get("data")
    if isinstance(data, dict):
        _names(data, r.secret_name)
    elif isinstance(data, str):
        request["data"] = r.text(data)
    env = request.get("env")
    if isinstance(env, dict):
        for key in list(env):
            if not (isinstance(key, str) and isinstance(env[key], str)):
                continue
            if key.startswith("HTTP_"):
                env[key] = r.header(key[5:], env[key])
            elif key in ("QUERY_STRING",):
                env[key] = r.query(env[key])
            elif key in ("REQUEST_URI", "RAW_URI"):
                env[key] = r.url(env[key])


def scrub_event(
    event: dict[str, Any],
    headers: Iterable[str],
    params: Iterable[str],
    allow: Iterable[str] = (),
) -> None:
    """Scrub an event (error or transaction) in place.

    ``headers`` are header names (any case, ``-`` or ``_``); ``params`` are
    words: a header, query parameter, form field or cookie whose name contains
    one is replaced; ``allow`` are the query parameters whose values may stay
    (default none).  When ``cookie`` is a redacted header every cookie value
    goes.
    """
    headers = list(headers)
    r = get_redactor(allow, params, headers, FILTERED)
    cookie_header = r.secret_header("cookie")
    request = event.get("request")
    if isinstance(request, dict):
        _request(request, r, cookie_header)
    for container in ("exception", "threads"):
        found = event.get(container)
        values = found.get("values") if isinstance(found, dict) else None
        for item in values if isinstance(values, list) else ():
            if not isinstance(item, dict):
                continue
            if isinstance(item.get("value"), str):
                item["value"] = r.text(item["value"])
            stack = item.get("stacktrace")
            frames = stack.get("frames") if isinstance(stack, dict) else None
            for frame in frames if isinstance(frames, list) else ():
                if isinstance(frame, dict) and isinstance(frame.get("vars"), dict):
                    _strings(frame["vars"], r)
    if isinstance(event.get("message"), str):
        event["message"] = r.text(event["message"])
    for key in ("logentry", "extra"):
        if isinstance(event.get(key), dict):
            _strings(event[key], r)
    crumbs = event.get("breadcrumbs")
    values = crumbs.get("values") if isinstance(crumbs, dict) else crumbs
    for crumb in values if isinstance(values, list) else ():
        if isinstance(crumb, dict):
            _url_data(crumb.get("data"), r)
            if isinstance(crumb.get("message"), str):
                crumb["message"] = r.text(crumb["message"])
    spans = event.get("spans")
    for span in spans if isinstance(spans, list) else ():
        if isinstance(span, dict):
            _url_data(span.get("data"), r)
            text = span.get("description")
            if isinstance(text, str):
                if str(span.get("op", "")).startswith("http"):
                    text = r.url(text)  # "GET https://host/path?query"
                span["description"] = r.text(text)
    contexts = event.get("contexts")
    trace = contexts.get("trace") if isinstance(contexts, dict) else None
    if isinstance(trace, dict):
        _url_data(trace.get("data"), r)
