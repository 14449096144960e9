"""opskit's own, lighter Django integration for errors-only Sentry.

With tracing off, sentry-sdk's ``DjangoIntegration`` still pays on every
request for machinery that only tracing needs: a wrapper around every
middleware method and every view, a second URL resolution, an eager copy of
the request into an event processor, a hook on every SQL query (+39 µs per
query, measured) and a release-health session.  opskit already measures
each request once, so for errors only it does the few things that matter:

* a fresh Sentry isolation scope per request (tags, breadcrumbs and user
  never leak between requests), entered in ``request_started`` and left in
  ``request_finished``;
* unhandled view exceptions captured from Django's ``got_request_exception``
  (mechanism ``django``, unhandled), as the SDK does;
* the request (URL, method, query string, headers, and cookies, form data,
  user and client address only with PII on) and the transaction name (the
  route) added when an event is captured, read from the record.

What it does not do: SQL breadcrumbs, template frames, transactions.  Set
``INTEGRATION = "django"`` for the SDK's integration.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from django.core.signals import got_request_exception
from django.utils.functional import SimpleLazyObject

from ..context import queries_hidden
from ..extensions import report_internal_error
from .state import state

if TYPE_CHECKING:
    from django.http import HttpRequest

    from ..context import RequestRecord

__all__ = ["add_request_data", "install", "uninstall"]

#: Headers that identify a person or carry a credential: sent only with PII on.
_PII_HEADERS = frozenset(
    {
        "COOKIE",
        "SET_COOKIE",
        "AUTHORIZATION",
        "PROXY_AUTHORIZATION",
        "X_API_KEY",
        "X_FORWARDED_FOR",
        "X_REAL_IP",
        "FORWARDED",
    }
)
#: Key under which the request rides on the record.
REQUEST_KEY = "sentry.request"


def _on_exception(sender: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
    if not state.lean:
        return
    try:
        import sentry_sdk
        from sentry_sdk.utils import event_from_exception

        exc_info = sys.exc_info()
        if exc_info[1] is None:
            return
        # Building the event (frame variables, the request) is not the
        # application's work: its queries stay out of the monitor.
        with queries_hidden():
            event, hint = event_from_exception(
                exc_info,
                client_options=sentry_sdk.get_client().options,
                mechanism={"type": "django", "handled": False},
            )
            sentry_sdk.capture_event(event, hint=hint)
    except Exception as exc:
        report_internal_error("sentry capture", exc)


def install() -> None:
    """Connect the exception receiver; silence the loggers Django reports 500s to."""
    from sentry_sdk.integrations.logging import ignore_logger

    # Django logs every 500 to django.request: without this the logging
    # integration would send each error twice.
    ignore_logger("django.request")
    ignore_logger("django.server")
    got_request_exception.connect(_on_exception, dispatch_uid="opskit.sentry.exception")


def uninstall() -> None:
    got_request_exception.disconnect(dispatch_uid="opskit.sentry.exception")


def _header_name(key: str) -> str:
    return "-".join(part.capitalize() for part in key.split("_"))


def add_request_data(event: dict[str, Any], record: RequestRecord, send_pii: bool) -> None:
    """Describe the request on ``event`` (at capture time; never raises)."""
    ref = record.extra.get(REQUEST_KEY)
    request: HttpRequest | None = ref() if ref is not None else None
    if request is None:
        return
    if record.route is not None and not event.get("transaction"):
        event["transaction"] = record.route
        event["transaction_info"] = {"source": "route"}
    if "request" in event:
        return
    meta = request.META
    info: dict[str, Any] = {}
    event["request"] = info
    try:
        host = request.get_host()
    except Exception:  # DisallowedHost: still describe the request
        host = meta.get("SERVER_NAME", "")
    info["url"] = f"{request.scheme}://{host}{request.path}"
    info["method"] = request.method
    info["query_string"] = meta.get("QUERY_STRING", "")
    headers = {}
    for key, value in meta.items():
        if key.startswith("HTTP_"):
            name = key[5:]
            if send_pii or name not in _PII_HEADERS:
                headers[_header_name(name)] = value
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if meta.get(key):
            headers[_header_name(key)] = meta[key]
    info["headers"] = headers
    env: dict[str, Any] = {k: meta[k] for k in ("SERVER_NAME", "SERVER_PORT") if k in meta}
    if send_pii:
        if "REMOTE_ADDR" in meta:
            env["REMOTE_ADDR"] = meta["REMOTE_ADDR"]
        info["cookies"] = dict(request.COOKIES)
        post = request.__dict__.get("_post")  # only a body Django already parsed
        if post is not None:
            info["data"] = {k: post.get(k) for k in post}
        user = request.__dict__.get("_cached_user")
        if user is None:
            # login() assigns request.user directly; a lazy one not yet
            # evaluated is left alone (no query in an error path).
            assigned = request.__dict__.get("user")
            if assigned is not None and not isinstance(assigned, SimpleLazyObject):
                user = assigned
        if user is not None and getattr(user, "is_authenticated", False):
            found = event.setdefault("user", {})
            try:
                found.setdefault("id", str(user.pk))
            except Exception:
                pass
        if record.client_address:
            event.setdefault("user", {}).setdefault("ip_address", record.client_address)
    info["env"] = env
