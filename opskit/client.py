"""The client address, one function for every capability.

``REMOTE_ADDR`` is the peer that opened the connection.  When that peer is a
trusted proxy, the forwarding header is read right to left, skipping trusted
hops: the first untrusted address is the client.  Every hop examined up to it
was written by a trusted proxy, and everything left of it was written by the
client and proves nothing, so a client sending its own ``X-Forwarded-For``
gains nothing.

Each answer carries whether the chain *proves* it (:class:`Client`).
Privileged decisions (``/metrics``, health details, ``Server-Timing``,
rate-limit exemptions) use only a proven address, through
:func:`proven_in`.  Not proven:

* a header the trusted chain cannot resolve: a hop that is not an address
  (free text, a zone id, ``unknown``), more than ``MAX_HOPS`` trusted hops,
  or a window of ``MAX_HEADER_LENGTH`` characters holding trusted hops only.
  The address is then the right-most hop left of the stop that is neither a
  trusted proxy, nor loopback, nor in an address allow-list (``None`` when
  there is none): never the proxy itself, never a privileged-looking address
  the real chain does not show;
* a forwarding header from a peer that is not a trusted proxy: an undeclared
  proxy stands between the client and the app (a reverse proxy on the same
  host with ``TRUSTED_PROXIES`` unset makes everyone loopback).  The address
  is the peer's, as before, but it opens nothing.

Only the right-most ``MAX_HEADER_LENGTH`` characters are read, so a long
header costs no more than a short one and its left part (client-written)
changes nothing.  Malformed values never raise.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import sys
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any, NamedTuple

from .conf import get_settings, on_reload

__all__ = [
    "Client",
    "bearer_token_matches",
    "client_address",
    "client_of",
    "loopback",
    "mask_address",
    "networks",
    "parse_networks",
    "proven_in",
    "resolve_client",
    "resolve_client_address",
    "server_rewrites_peer",
]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Characters of the forwarding header read, from the right.
MAX_HEADER_LENGTH = 4096
#: Hops examined from the right.
MAX_HOPS = 32

logger = logging.getLogger("opskit.internal")


class Client(NamedTuple):
    """A resolved client: its address, and whether the peer chain proves it."""

    address: str | None
    proven: bool


_UNKNOWN = Client(None, False)


def parse_networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    """Parse CIDR strings; raises ``ValueError`` on a bad one (checks use it)."""
    return tuple(ipaddress.ip_network(c.strip(), strict=False) for c in cidrs)


def networks(cidrs: Iterable[str], *, grant: bool = True) -> tuple[Network, ...]:
    """The ranges of a settings list, parsed once per distinct list.

    Each capability's system check reports an invalid range; until it is
    fixed, a list that *grants* something (``/metrics``, ``Server-Timing``,
    rate-limit exemptions) grants nothing (``grant=True``), and a list that
    *guards* keeps its valid ranges (``grant=False``).
    """
    return _parsed(tuple(cidrs), grant)


@lru_cache(maxsize=64)
def _parsed(cidrs: tuple[str, ...], grant: bool) -> tuple[Network, ...]:
    nets: list[Network] = []
    for cidr in cidrs:
        try:
            nets.extend(parse_networks([cidr]))
        except (ValueError, TypeError, AttributeError):
            if grant:
                return ()
    return tuple(nets)


class _Trust(NamedTuple):
    trusted: tuple[Network, ...]
    #: Ranges an unproven address must never fall in (loopback, allow-lists).
    guarded: tuple[Network, ...]
    meta_key: str


@lru_cache(maxsize=1)
def _trust() -> _Trust:
    s = get_settings()
    nets = networks(s.TRUSTED_PROXIES)  # one invalid range (E003): trust nothing
    guarded = networks(
        [
            "127.0.0.0/8",
            "::1/128",
            *s.METRICS.ALLOWED_IPS,
            *s.RATELIMIT.ALLOW_LIST,
            *s.QUERIES.SERVER_TIMING_IPS,
        ]
    )
    _warn_if_server_rewrites_peer()
    meta_key = "HTTP_" + s.FORWARDED_HEADER.upper().replace("-", "_")
    return _Trust(nets, tuple(guarded), meta_key)


on_reload(_trust.cache_clear)


def _port_ok(port: str) -> bool:
    return 0 < len(port) <= 5 and port.isascii() and port.isdigit()


def _parse_ip(value: str) -> Address | None:
    """One address, optionally with a port; anything else (zone ids too) is None."""
    # Long hops never reach the cache: 8,192 hostile 4 KB keys would be 32 MB.
    return _parse_short(value) if len(value) <= 72 else None


@lru_cache(maxsize=8192)
def _parse_short(value: str) -> Address | None:
    """:func:`_parse_ip`, cached: the same few addresses repeat all day."""
    value = value.strip(" \t")
    if not value or len(value) > 64 or "%" in value:
        return None
    if value.startswith("["):  # "[v6]" or "[v6]:port"
        end = value.find("]")
        rest = value[end + 1 :]
        if end == -1 or (rest and not (rest[0] == ":" and _port_ok(rest[1:]))):
            return None
        value = value[1:end]
    elif value.count(":") == 1:  # "v4:port"
        value, _, port = value.partition(":")
        if not _port_ok(port):
            return None
    try:
        addr = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.scope_id is not None:  # belt and braces: "%" is refused above
            return None
        if addr.ipv4_mapped is not None:
            return addr.ipv4_mapped
    return addr


def _in(addr: Address, networks: tuple[Network, ...]) -> bool:
    return any(addr.version == n.version and addr in n for n in networks)


def resolve_client(
    remote_addr: str | None,
    forwarded: str | None,
    trusted: tuple[Network, ...],
    guarded: tuple[Network, ...] = (),
) -> Client:
    """The pure algorithm behind :func:`client_of` (exposed for tests).

    ``forwarded`` is ``None`` when the request has no forwarding header at
    all; ``guarded`` are the ranges an unproven address must not fall in
    (loopback is always guarded).
    """
    peer = _parse_ip(remote_addr) if isinstance(remote_addr, str) else None
    if peer is None:
        return _UNKNOWN
    if forwarded is None:
        return Client(str(peer), True)
    if not _in(peer, trusted):
        return Client(str(peer), False)
    cut = len(forwarded) > MAX_HEADER_LENGTH
    hops = forwarded[-MAX_HEADER_LENGTH:].split(",")
    if cut:
        hops = hops[1:]  # the left-most piece may be part of a hop
    examined = hops[-MAX_HOPS:]
    more = cut or len(hops) > MAX_HOPS
    stop = 0
    last: Address | None = None
    for stop in range(len(examined) - 1, -1, -1):
        addr = _parse_ip(examined[stop])
        if addr is None:
            break
        if not _in(addr, trusted):
            return Client(str(addr), True)
        last = addr
    else:
        if last is not None and not more:
            # Every hop is a trusted proxy: the chain really ends at one.
            return Client(str(last), True)
        stop = 0
    for hop in reversed(examined[:stop]):
        addr = _parse_ip(hop)
        if (
            addr is not None
            and not addr.is_loopback
            and not _in(addr, trusted)
            and not _in(addr, guarded)
        ):
            return Client(str(addr), False)
    return _UNKNOWN


def resolve_client_address(
    remote_addr: str | None,
    forwarded: str | None,
    trusted: tuple[Network, ...],
    guarded: tuple[Network, ...] = (),
) -> str | None:
    """The address :func:`resolve_client` finds, proven or not."""
    return resolve_client(remote_addr, forwarded, trusted, guarded).address


#: Forwarding headers up to this length have their answer cached.
_CACHED_HEADER_LENGTH = 256


@lru_cache(maxsize=4096)
def _resolved(remote: str, forwarded: str | None) -> Client:
    """:func:`resolve_client` under the settings, cached.

    The same (peer, header) pairs repeat all day; the bound (4,096 entries of
    at most ``_CACHED_HEADER_LENGTH`` characters) caps what varied headers
    from hostile clients can make it hold.
    """
    trust = _trust()
    return resolve_client(remote, forwarded, trust.trusted, trust.guarded)


on_reload(_resolved.cache_clear)


def client_of(request_or_meta: Any) -> Client:
    """The client of a request (or its ``META``): address and whether it is proven."""
    meta: Mapping[str, Any] = getattr(request_or_meta, "META", request_or_meta)
    remote = meta.get("REMOTE_ADDR")
    if not isinstance(remote, str):
        return _UNKNOWN
    trust = _trust()
    forwarded = meta.get(trust.meta_key)
    if not isinstance(forwarded, str):
        forwarded = None
    elif len(forwarded) > _CACHED_HEADER_LENGTH:
        return resolve_client(remote, forwarded, trust.trusted, trust.guarded)
    return _resolved(remote, forwarded)


def client_address(request_or_meta: Any) -> str | None:
    """The client's address for a request (or its ``META``), or ``None``.

    Fit for logs and rate-limit keys.  Privileged decisions use
    :func:`proven_in`, which also asks whether the chain proves it.
    """
    return client_of(request_or_meta).address


def proven_in(request: Any, networks: tuple[Network, ...]) -> bool:
    """Whether the request's client is proven by the peer chain and in ``networks``.

    ``request`` is a request, its ``META`` or its record.  Reads the core
    middleware's record when there is one (resolved once per request);
    otherwise resolves from ``request.META``.
    """
    if not networks:
        return False
    record = request if hasattr(request, "client_proven") else getattr(request, "opskit", None)
    if record is not None and hasattr(record, "client_proven"):
        address, proven = record.client_address, record.client_proven
    else:
        address, proven = client_of(request)
    if not proven or address is None:
        return False
    addr = _parse_ip(address)
    return addr is not None and _in(addr, networks)


@lru_cache(maxsize=1)
def loopback() -> tuple[Network, ...]:
    """The loopback ranges (a proven loopback client is the host itself)."""
    return parse_networks(["127.0.0.0/8", "::1/128"])


def bearer_token_matches(request: Any, expected: str | None) -> bool:
    """Whether ``Authorization: Bearer <expected>`` came with the request.

    One check for every token opskit accepts (``/metrics``, health details):
    the scheme is case-insensitive (RFC 9110), the token is compared in
    constant time, and no token configured means no match.
    """
    if not expected:
        return False
    meta: Mapping[str, Any] = getattr(request, "META", request)
    header = meta.get("HTTP_AUTHORIZATION")
    if not isinstance(header, str):
        return False
    scheme, _, presented = header.strip().partition(" ")
    presented = presented.strip()
    if scheme.lower() != "bearer" or not presented:
        return False
    try:
        return hmac.compare_digest(presented.encode(), expected.encode())
    except UnicodeEncodeError:  # a lone surrogate: no token matches it
        return False


# -- the server's own proxy-header handling ----------------------------------


def _argv_value(argv: list[str], flag: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg == flag and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(flag + "="):
            return arg[len(flag) + 1 :]
    return None


def server_rewrites_peer(
    argv: list[str] | None = None,
    environ: Mapping[str, str] | None = None,
    modules: Iterable[str] | None = None,
) -> str | None:
    """Why the server probably rewrites ``REMOTE_ADDR`` from ``X-Forwarded-For``, or None.

    uvicorn (``--proxy-headers`` is its default) and gunicorn's uvicorn worker
    replace the peer with an ``X-Forwarded-For`` hop for peers in
    ``--forwarded-allow-ips`` (default ``127.0.0.1,::1``, or
    ``$FORWARDED_ALLOW_IPS``) before Django sees the request, so
    ``TRUSTED_PROXIES`` no longer decides.  What can be told from inside the
    process: uvicorn's command line (``uvicorn`` or ``python -m uvicorn``),
    uvicorn's gunicorn worker being loaded, and the environment variable.  A
    ``uvicorn.run()`` call from your own code is not detected.
    """
    argv = list(sys.argv if argv is None else argv)
    environ = os.environ if environ is None else environ
    loaded = set(sys.modules if modules is None else modules)
    allow = _argv_value(argv, "--forwarded-allow-ips")
    if allow is None:
        allow = environ.get("FORWARDED_ALLOW_IPS")
    if allow is not None and not allow.strip():
        return None  # trusts nobody: nothing is rewritten
    program = argv[0].replace("\\", "/") if argv else ""
    if program.endswith(("/uvicorn", "/uvicorn/__main__.py")) or program == "uvicorn":
        if "--no-proxy-headers" in argv:
            return None
        return f"uvicorn applies X-Forwarded-For from {allow or '127.0.0.1,::1'}"
    if "uvicorn.workers" in loaded or "uvicorn_worker" in loaded:
        return f"gunicorn's uvicorn worker applies X-Forwarded-For from {allow or '127.0.0.1,::1'}"
    if allow is not None:
        return f"FORWARDED_ALLOW_IPS={allow!r} asks the server to apply X-Forwarded-For"
    return None


@lru_cache(maxsize=1)
def _warn_if_server_rewrites_peer() -> None:
    """Once per process, on the first request: settings reloads do not repeat it."""
    try:
        reason = server_rewrites_peer()
    except Exception:  # a strange argv must not cost a request
        return
    if reason is not None:
        logger.warning(
            "opskit: %s before opskit sees the request, so TRUSTED_PROXIES does not "
            "decide the client address. Run uvicorn with --no-proxy-headers (or "
            "--forwarded-allow-ips=''); under gunicorn's uvicorn worker pass "
            "--forwarded-allow-ips=''. See docs/operations/proxies.md.",
            reason,
        )


def mask_address(address: str, ipv6_prefix: int = 64) -> str:
    """Group an IPv6 address by its /``ipv6_prefix`` (one user, many addresses)."""
    try:
        addr = ipaddress.ip_address(address)
    except ValueError:
        return address
    if addr.version == 6:
        return str(ipaddress.ip_network(f"{addr}/{ipv6_prefix}", strict=False))
    return str(addr)
