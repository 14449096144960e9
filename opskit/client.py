"""The client address, one function for every capability.

``REMOTE_ADDR`` is the peer that opened the connection and is the answer
unless that peer is a trusted proxy.  Only then is the forwarding header
read, right to left, skipping trusted hops: the first untrusted address is
the client.  Everything left of it was written by the client and proves
nothing, so a client sending its own ``X-Forwarded-For`` gains nothing.
Malformed, empty or oversized values never raise and never win.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from .conf import get_settings, on_reload

__all__ = ["client_address", "mask_address", "parse_networks", "resolve_client_address"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Longest forwarding header considered (a longer one is not parsed at all).
MAX_HEADER_LENGTH = 4096
#: Hops examined from the right.
MAX_HOPS = 32


def parse_networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    """Parse CIDR strings; raises ``ValueError`` on a bad one (checks use it)."""
    return tuple(ipaddress.ip_network(c.strip(), strict=False) for c in cidrs)


@lru_cache(maxsize=1)
def _trusted() -> tuple[tuple[Network, ...], str]:
    s = get_settings()
    try:
        nets = parse_networks(s.TRUSTED_PROXIES)
    except ValueError:
        nets = ()  # reported by system check opskit.E003; trust nothing
    meta_key = "HTTP_" + s.FORWARDED_HEADER.upper().replace("-", "_")
    return nets, meta_key


on_reload(_trusted.cache_clear)


@lru_cache(maxsize=8192)
def _parse_ip(value: str) -> Address | None:
    """Parse one address (cached: the same few addresses repeat all day)."""
    value = value.strip()
    if not value or len(value) > 64:
        return None
    if value.startswith("["):  # "[v6]:port"
        end = value.find("]")
        if end == -1:
            return None
        value = value[1:end]
    elif value.count(":") == 1:  # "v4:port"
        value = value.split(":", 1)[0]
    try:
        addr = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def _in(addr: Address, networks: tuple[Network, ...]) -> bool:
    return any(addr.version == n.version and addr in n for n in networks)


def resolve_client_address(
    remote_addr: str | None, forwarded: str | None, trusted: tuple[Network, ...]
) -> str | None:
    """The pure algorithm behind :func:`client_address` (exposed for tests)."""
    peer = _parse_ip(remote_addr) if remote_addr else None
    if peer is None:
        return None
    if not trusted or not forwarded or not _in(peer, trusted):
        return str(peer)
    if len(forwarded) > MAX_HEADER_LENGTH:
        return str(peer)
    client = peer
    for hop in reversed(forwarded.split(",")[-MAX_HOPS:]):
        addr = _parse_ip(hop)
        if addr is None:
            # A garbage hop was written by someone untrusted; stop here and
            # keep the last address a trusted proxy vouched for.
            break
        client = addr
        if not _in(addr, trusted):
            break
    return str(client)


#: Forwarding headers up to this length have their answer cached.
_CACHED_HEADER_LENGTH = 256


@lru_cache(maxsize=4096)
def _resolved(remote: str, forwarded: str | None) -> str | None:
    """:func:`resolve_client_address` under the settings' trusted proxies, cached.

    The same (peer, header) pairs repeat all day; the bound (4,096 entries of
    at most ``_CACHED_HEADER_LENGTH`` characters) caps what varied headers
    from hostile clients can make it hold.
    """
    return resolve_client_address(remote, forwarded, _trusted()[0])


on_reload(_resolved.cache_clear)


def client_address(request_or_meta: Any) -> str | None:
    """The client's address for a request (or its ``META``), or ``None``."""
    meta: Mapping[str, Any] = getattr(request_or_meta, "META", request_or_meta)
    trusted, key = _trusted()
    remote = meta.get("REMOTE_ADDR")
    if not isinstance(remote, str):
        return None
    if not trusted:
        return _resolved(remote, None)  # nothing to walk; still normalised
    forwarded = meta.get(key)
    if not isinstance(forwarded, str) or len(forwarded) > MAX_HEADER_LENGTH:
        forwarded = None  # unreadable or oversized: the peer's address
    elif len(forwarded) > _CACHED_HEADER_LENGTH:
        return resolve_client_address(remote, forwarded, trusted)
    return _resolved(remote, forwarded)


def mask_address(address: str, ipv6_prefix: int = 64) -> str:
    """Group an IPv6 address by its /``ipv6_prefix`` (one user, many addresses)."""
    try:
        addr = ipaddress.ip_address(address)
    except ValueError:
        return address
    if addr.version == 6:
        return str(ipaddress.ip_network(f"{addr}/{ipv6_prefix}", strict=False))
    return str(addr)
