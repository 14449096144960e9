"""Who is being limited: key functions and exemptions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import SynchronousOnlyOperation
from django.http import HttpRequest
from django.utils.module_loading import import_string

from ..client import client_address, mask_address, networks, proven_in
from ..conf import get_settings

__all__ = ["KeyFunc", "KeySpec", "allow_listed", "client_ip", "request_user", "resolve_key"]

#: ``request -> str`` (or ``None``: this request is not limited).
KeyFunc = Callable[[HttpRequest], "str | None"]
KeySpec = str | KeyFunc


def client_ip(request: HttpRequest) -> str:
    """The proxy-aware client address, IPv6 grouped by ``IPV6_PREFIX``."""
    record = getattr(request, "opskit", None)
    address = getattr(record, "client_address", None) or client_address(request)
    if address is None:
        return "unknown"
    if ":" in address:
        prefix = get_settings().RATELIMIT.IPV6_PREFIX
        # A bad setting (opskit.E304) must not turn requests into 500s.
        return mask_address(address, prefix if 0 < prefix <= 128 else 64)
    return address


def _ip_key(request: HttpRequest) -> str:
    return "ip:" + client_ip(request)


def request_user(request: HttpRequest) -> Any:
    """``request.user``, or ``None`` where it cannot be loaded here.

    In an async view the lazy user would query the database synchronously
    and raise ``SynchronousOnlyOperation``; ``adecide`` resolves it first
    with ``request.auser()`` (Django 5+).  Without that the request is keyed
    as anonymous rather than failing.
    """
    try:
        user = getattr(request, "user", None)
        if user is not None:
            user.is_authenticated  # noqa: B018 - evaluates the lazy object
        return user
    except SynchronousOnlyOperation:
        return None


def _user_key(request: HttpRequest) -> str:
    user = request_user(request)
    if user is not None and user.is_authenticated:
        return f"u:{user.pk}"
    # Anonymous requests share one bucket: "user" never means "unlimited".
    return "u:anonymous"


def _user_or_ip_key(request: HttpRequest) -> str:
    user = request_user(request)
    if user is not None and user.is_authenticated:
        return f"u:{user.pk}"
    return "ip:" + client_ip(request)


def _header_key(name: str) -> KeyFunc:
    meta_key = name.upper().replace("-", "_")
    if meta_key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        meta_key = "HTTP_" + meta_key

    def key(request: HttpRequest) -> str:
        value = request.META.get(meta_key, "")
        return "h:" + (value if isinstance(value, str) else "")[:1024]

    key.__name__ = f"header_{name}"
    return key


_BUILTINS: dict[str, KeyFunc] = {
    "ip": _ip_key,
    "user": _user_key,
    "user_or_ip": _user_or_ip_key,
}


def resolve_key(spec: KeySpec) -> KeyFunc:
    """Turn a key spec into a function; raise ``ValueError`` if it cannot."""
    if callable(spec):
        return spec
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"invalid ratelimit key {spec!r}")
    if spec in _BUILTINS:
        return _BUILTINS[spec]
    if spec.startswith("header:"):
        name = spec[7:].strip()
        if not name or not all(c.isalnum() or c in "-_" for c in name):
            raise ValueError(f"invalid ratelimit key {spec!r}: 'header:<name>'")
        return _header_key(name)
    if "." in spec:
        try:
            func = import_string(spec)
        except ImportError as exc:
            raise ValueError(f"ratelimit key {spec!r} cannot be imported: {exc}") from None
        if not callable(func):
            raise ValueError(f"ratelimit key {spec!r} is not callable")
        return func  # type: ignore[no-any-return]
    raise ValueError(
        f"unknown ratelimit key {spec!r}: use 'ip', 'user', 'user_or_ip', "
        "'header:<name>', a callable or a dotted path to one"
    )


def allow_listed(request: HttpRequest) -> bool:
    """Exempt only an address the peer chain proves (never an unresolved header)."""
    return proven_in(request, networks(get_settings().RATELIMIT.ALLOW_LIST))
