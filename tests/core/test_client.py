from __future__ import annotations

import ipaddress
import logging
from typing import Any

import pytest
from django.test import Client, override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opskit.client import (
    MAX_HEADER_LENGTH,
    MAX_HOPS,
    bearer_token_matches,
    client_address,
    client_of,
    mask_address,
    parse_networks,
    resolve_client,
    resolve_client_address,
    server_rewrites_peer,
)

TRUST = parse_networks(["10.0.0.0/8", "2001:db8::/32"])
#: A reverse proxy on the same host: loopback is the trusted proxy.
SAME_HOST = parse_networks(["127.0.0.0/8", "::1/128"])


def test_remote_addr_without_trusted_proxies_ignores_spoofed_header() -> None:
    meta = {"REMOTE_ADDR": "203.0.113.9", "HTTP_X_FORWARDED_FOR": "1.2.3.4"}
    assert client_address(meta) == "203.0.113.9"
    # ... and an undeclared proxy in front proves nothing.
    assert client_of(meta) == ("203.0.113.9", False)
    assert client_of({"REMOTE_ADDR": "203.0.113.9"}) == ("203.0.113.9", True)


def test_trusted_proxy_chain_takes_first_untrusted_from_right() -> None:
    # client spoofs 6.6.6.6; real client 198.51.100.7; two trusted proxies
    fwd = "6.6.6.6, 198.51.100.7, 10.0.0.2"
    assert resolve_client("10.0.0.1", fwd, TRUST) == ("198.51.100.7", True)


def test_untrusted_peer_header_ignored() -> None:
    assert resolve_client("198.51.100.1", "1.1.1.1", TRUST) == ("198.51.100.1", False)


def test_all_hops_trusted_gives_leftmost() -> None:
    assert resolve_client("10.0.0.1", "10.1.1.1, 10.2.2.2", TRUST) == ("10.1.1.1", True)


def test_ipv6_and_ports_and_mapped() -> None:
    assert resolve_client_address("2001:db8::1", "[2001:db9::5]:443", TRUST) == "2001:db9::5"
    assert resolve_client_address("10.0.0.1", "198.51.100.7:5555", TRUST) == "198.51.100.7"
    assert resolve_client_address("::ffff:192.0.2.1", None, ()) == "192.0.2.1"


@pytest.mark.parametrize(
    "hop",
    [
        "fe80::1%INJECT",
        "fe80::1%eth0",
        "[fe80::1%25x]:80",
        "192.0.2.1:port",
        "192.0.2.1:",
        "192.0.2.1:123456",
        "[2001:db9::5]x",
        "[2001:db9::5]:",
        "unknown",
        "_hidden",
        "192.0.2.1 evil",
        "1.2.3.4\n",
    ],
)
def test_zone_ids_and_free_text_are_not_addresses(hop: str) -> None:
    # A trusted peer vouches for nothing it did not write as an address.
    client = resolve_client("10.0.0.1", hop, TRUST)
    assert client == (None, False)
    assert resolve_client(hop, None, TRUST) == (None, False)


def test_an_unresolved_header_never_names_the_proxy() -> None:
    # The garbage hop stops the walk; the client is the right-most address
    # left of it that is not a proxy, loopback or allow-listed: unproven.
    assert resolve_client("10.0.0.1", "evil, <script>", TRUST) == (None, False)
    assert resolve_client("10.0.0.1", "", TRUST) == (None, False)
    assert resolve_client("10.0.0.1", "999.1.1.1", TRUST) == (None, False)
    assert resolve_client("10.0.0.1", "198.51.100.4, junk, 10.0.0.6", TRUST) == (
        "198.51.100.4",
        False,
    )
    guarded = parse_networks(["192.0.2.0/24"])
    assert resolve_client("10.0.0.1", "192.0.2.9, 127.0.0.1, 10.9.9.9, junk", TRUST, guarded) == (
        None,
        False,
    )
    # More trusted hops than are walked: the chain is not resolved.
    many = ", ".join(["198.51.100.1", *["10.0.0.2"] * MAX_HOPS])
    assert resolve_client("10.0.0.1", many, TRUST) == (None, False)


def test_the_oversized_header_of_the_audit() -> None:
    """Only the right end is read: junk to the left changes nothing."""
    junk = "x" * 4100
    # Behind a proxy on the same host, which appends the real peer.
    header = f"{junk}, 203.0.113.7"
    assert resolve_client("127.0.0.1", header, SAME_HOST) == ("203.0.113.7", True)
    # A window of trusted hops only, with more to the left: unresolved.
    header = "198.51.100.1, " + ", ".join(["127.0.0.1"] * 1000)
    assert len(header) > MAX_HEADER_LENGTH
    assert resolve_client("127.0.0.1", header, SAME_HOST) == (None, False)
    # The junk itself right of the proxy's hop: never loopback.
    assert resolve_client("127.0.0.1", f"127.0.0.1, {junk}", SAME_HOST) == (None, False)


@override_settings(OPSKIT={"TRUSTED_PROXIES": ["10.0.0.0/8"]})
def test_settings_drive_client_address() -> None:
    meta = {"REMOTE_ADDR": "10.9.9.9", "HTTP_X_FORWARDED_FOR": "192.0.2.44"}
    assert client_address(meta) == "192.0.2.44"
    assert client_of(meta).proven


@override_settings(OPSKIT={"TRUSTED_PROXIES": ["10.0.0.0/8"], "FORWARDED_HEADER": "X-Real-IP"})
def test_custom_forwarded_header() -> None:
    meta = {
        "REMOTE_ADDR": "10.9.9.9",
        "HTTP_X_REAL_IP": "192.0.2.45",
        "HTTP_X_FORWARDED_FOR": "1.1.1.1",
    }
    assert client_address(meta) == "192.0.2.45"


@override_settings(
    OPSKIT={
        "TRUSTED_PROXIES": ["10.0.0.0/8"],
        "METRICS": {"ALLOWED_IPS": ["192.0.2.0/24"]},
        "RATELIMIT": {"ALLOW_LIST": ["198.51.100.0/24"]},
    }
)
def test_allow_lists_are_never_an_unproven_answer() -> None:
    for spoof in ("192.0.2.1", "198.51.100.1", "127.0.0.1", "::1"):
        meta = {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": f"{spoof}, junk"}
        assert client_of(meta) == (None, False), spoof
    meta = {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.5, junk"}
    assert client_of(meta) == ("203.0.113.5", False)


def test_mask_ipv6() -> None:
    assert mask_address("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert mask_address("192.0.2.1") == "192.0.2.1"
    assert mask_address("junk") == "junk"


@given(remote=st.text(max_size=80), fwd=st.text(max_size=300))
def test_never_raises_and_only_returns_addresses(remote: str, fwd: str) -> None:
    out = resolve_client_address(remote, fwd, TRUST)
    if out is not None:
        assert "%" not in out
        ipaddress.ip_address(out)  # raises if anything but an address came out


def test_cached_answers_follow_the_settings() -> None:
    """The (peer, header) cache is cleared when TRUSTED_PROXIES changes."""
    meta = {"REMOTE_ADDR": "10.9.9.9", "HTTP_X_FORWARDED_FOR": "192.0.2.46"}
    with override_settings(OPSKIT={"TRUSTED_PROXIES": ["10.0.0.0/8"]}):
        assert client_of(meta) == ("192.0.2.46", True)
        assert client_of(meta) == ("192.0.2.46", True)  # from the cache
    with override_settings(OPSKIT={"TRUSTED_PROXIES": []}):
        assert client_of(meta) == ("10.9.9.9", False)
    with override_settings(OPSKIT={"TRUSTED_PROXIES": ["10.0.0.0/8"]}):
        assert client_of(meta) == ("192.0.2.46", True)


@override_settings(OPSKIT={"TRUSTED_PROXIES": ["10.0.0.0/8"]})
def test_long_headers_are_resolved_but_never_cached() -> None:
    from opskit.client import _resolved

    # 40 trusted hops then the client: longer than the cached length (256).
    hops = ", ".join(["192.0.2.47", *[f"10.0.{i}.1" for i in range(40)]])
    assert len(hops) > 256
    meta = {"REMOTE_ADDR": "10.9.9.9", "HTTP_X_FORWARDED_FOR": hops}
    before = _resolved.cache_info().currsize
    # Only the rightmost MAX_HOPS (32) hops are walked, all trusted here.
    assert client_of(meta) == (None, False)
    assert _resolved.cache_info().currsize == before
    meta["HTTP_X_FORWARDED_FOR"] = "x" * 5000 + ", 192.0.2.48"
    assert client_of(meta) == ("192.0.2.48", True)
    assert client_address({"REMOTE_ADDR": 12345}) is None


def test_one_bearer_token_check() -> None:
    token = "t0ken-of-some-length"
    ok = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    assert bearer_token_matches(ok, token)
    assert bearer_token_matches({"HTTP_AUTHORIZATION": f"bearer  {token} "}, token)
    for bad in (f"Basic {token}", token, "Bearer ", f"Bearer {token}x", "Bearer \udcff", 7):
        assert not bearer_token_matches({"HTTP_AUTHORIZATION": bad}, token), bad
    assert not bearer_token_matches(ok, None) and not bearer_token_matches(ok, "")
    assert not bearer_token_matches({}, token)


def test_server_proxy_header_handling_is_detected() -> None:
    uv = ["/usr/bin/uvicorn", "app:application"]
    assert "uvicorn applies" in (server_rewrites_peer(uv, {}, ()) or "")
    assert server_rewrites_peer([*uv, "--no-proxy-headers"], {}, ()) is None
    assert server_rewrites_peer([*uv, "--forwarded-allow-ips="], {}, ()) is None
    assert server_rewrites_peer(uv, {"FORWARDED_ALLOW_IPS": ""}, ()) is None
    main = ["/x/site-packages/uvicorn/__main__.py", "app:application"]
    assert "10.0.0.0/8" in (
        server_rewrites_peer(main, {"FORWARDED_ALLOW_IPS": "10.0.0.0/8"}, ()) or ""
    )
    worker = server_rewrites_peer(["gunicorn"], {}, ["uvicorn.workers"])
    assert worker is not None and "gunicorn" in worker
    assert (
        server_rewrites_peer(["gunicorn", "--forwarded-allow-ips", ""], {}, ["uvicorn.workers"])
        is None
    )
    assert server_rewrites_peer(["gunicorn"], {}, ["gunicorn.workers.sync"]) is None
    assert server_rewrites_peer(["manage.py"], {"FORWARDED_ALLOW_IPS": "*"}, ()) is not None


def test_the_startup_warning_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    from opskit import client

    client._warn_if_server_rewrites_peer.cache_clear()
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr("sys.argv", ["/usr/bin/uvicorn", "app:application"])
            mp.delenv("FORWARDED_ALLOW_IPS", raising=False)
            with caplog.at_level(logging.WARNING, logger="opskit.internal"):
                client._warn_if_server_rewrites_peer()
                client._warn_if_server_rewrites_peer()
        lines = [r.getMessage() for r in caplog.records if "TRUSTED_PROXIES" in r.getMessage()]
        assert len(lines) == 1 and "--no-proxy-headers" in lines[0]
    finally:
        client._warn_if_server_rewrites_peer.cache_clear()


# -- the property: hostile forwarding headers never raise privilege -----------

PROXIES = ["127.0.0.1", "::1", "10.0.0.1", "10.200.3.4"]
OUTSIDE = ["203.0.113.7", "198.51.100.22", "2001:db9::5", "192.0.2.1"]
HOPS = st.one_of(
    st.sampled_from([*PROXIES, *OUTSIDE, "127.0.0.2", "[::1]:80", "127.0.0.1:8080"]),
    st.sampled_from(["fe80::1%INJECT", "unknown", "", " ", "999.1.1.1", "_x", "::ffff:127.0.0.1"]),
    st.text(max_size=12),
)
HEADERS = st.one_of(
    st.none(),
    st.text(max_size=64),
    st.lists(HOPS, max_size=40).map(", ".join),
    st.tuples(st.integers(0, 9000), st.lists(HOPS, max_size=4)).map(
        lambda t: ", ".join(["j" * t[0], *t[1]])
    ),
)
TRUSTED_SETS = st.sampled_from([SAME_HOST, parse_networks(["10.0.0.0/8", "127.0.0.0/8"]), ()])


def _strict(hop: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An independent reading of one hop: an address, optionally with a port."""
    hop = hop.strip(" \t")
    if "%" in hop:
        return None
    if hop.startswith("[") and "]" in hop:
        host, _, port = hop[1:].partition("]")
        if port and not (port.startswith(":") and port[1:].isdigit() and len(port) <= 6):
            return None
        hop = host
    elif hop.count(":") == 1:
        hop, _, port = hop.partition(":")
        if not (port.isdigit() and len(port) <= 5):
            return None
    try:
        addr = ipaddress.ip_address(hop)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def _in(addr: ipaddress.IPv4Address | ipaddress.IPv6Address, nets: tuple[Any, ...]) -> bool:
    return any(addr.version == n.version and addr in n for n in nets)


def _chain_ends_at(peer: str, header: str | None, trusted: tuple[Any, ...]) -> str | None:
    """Where the real chain ends: the first hop from the right no proxy vouches for.

    Each trusted proxy writes its own peer as the right-most hop; the walk
    reads whole hops within the right-most ``MAX_HEADER_LENGTH`` characters.
    ``None``: the chain does not say (a hop that is not an address, or the
    window or hop limit reached on trusted hops only).
    """
    p = _strict(peer)
    if p is None:
        return None
    if header is None or not _in(p, trusted):
        return str(p)  # no header, or an undeclared proxy (then not proven)
    pieces = header[-MAX_HEADER_LENGTH:].split(",")
    if len(header) > MAX_HEADER_LENGTH:
        pieces = pieces[1:]
    for depth, piece in enumerate(reversed(pieces)):
        if depth == MAX_HOPS:
            return None
        hop = _strict(piece)
        if hop is None:
            return None
        if not _in(hop, trusted):
            return str(hop)
    if len(header) > MAX_HEADER_LENGTH or len(pieces) > MAX_HOPS or not pieces:
        return None
    return str(_strict(pieces[0]))


@settings(max_examples=300, deadline=None)
@given(peer=st.sampled_from([*PROXIES, *OUTSIDE]), header=HEADERS, trusted=TRUSTED_SETS)
def test_a_proxy_or_loopback_is_the_client_only_where_the_chain_ends(
    peer: str, header: str | None, trusted: tuple[Any, ...]
) -> None:
    client = resolve_client(peer, header, trusted)
    if client.address is None:
        assert not client.proven
        return
    addr = ipaddress.ip_address(client.address)
    end = _chain_ends_at(peer, header, trusted)
    if addr.is_loopback or _in(addr, trusted):
        assert client.address == end, (peer, header)
    if client.proven:
        assert client.address == end, (peer, header)
        assert header is None or _in(ipaddress.ip_address(peer), trusted)


PRIVILEGE = {
    "TRUSTED_PROXIES": ["127.0.0.0/8", "::1/128"],
    "HEALTH": {"CHECKS": [{"check": "tests.health.checks_for_tests.Switch", "name": "db.default"}]},
    "QUERIES": {"SERVER_TIMING": True},
    "RATELIMIT": {"ALLOW_LIST": ["127.0.0.0/8", "::1/128"]},
}


@override_settings(OPSKIT=PRIVILEGE)
@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(peer=st.sampled_from([*PROXIES, *OUTSIDE]), header=HEADERS)
def test_a_header_the_chain_does_not_prove_grants_nothing(peer: str, header: str | None) -> None:
    """/metrics, a check's status and Server-Timing, behind a same-host proxy."""
    extra = {"REMOTE_ADDR": peer}
    if header is not None:
        extra["HTTP_X_FORWARDED_FOR"] = header
    end = _chain_ends_at(peer, header, SAME_HOST)
    granted = (
        end is not None
        and ipaddress.ip_address(end).is_loopback
        and (header is None or _in(ipaddress.ip_address(peer), SAME_HOST))
    )
    c = Client()
    metrics = c.get("/metrics", **extra)
    timing = c.get("/record/", **extra)
    verbose = c.get("/readyz?verbose", **extra)
    # Details need the token whatever readiness says (a starved host may fail a
    # check's deadline: 503 is an answer too, details are not).
    assert verbose.status_code in (200, 503) and b"checks" not in verbose.content
    if granted:
        assert metrics.status_code == 200
        assert timing.has_header("Server-Timing")
        assert c.get("/readyz/db.default", **extra).status_code in (200, 503)  # not 404
        return
    assert metrics.status_code == 403, (peer, header)
    assert not timing.has_header("Server-Timing"), (peer, header)
    real = c.get("/readyz/db.default", **extra)
    made_up = c.get("/readyz/no.such.check", **extra)
    assert real.status_code == made_up.status_code == 404
    assert real.content == made_up.content == b'{"status":"fail"}'


@override_settings(
    OPSKIT={"TRUSTED_PROXIES": ["127.0.0.0/8"], "RATELIMIT": {"ALLOW_LIST": ["127.0.0.0/8"]}}
)
def test_rate_limit_exemption_and_bucket_need_the_chain() -> None:
    """The audit: an unresolved header joined the proxy's bucket, or its exemption."""
    from django.test import RequestFactory

    from opskit.ratelimit.keys import allow_listed, client_ip

    rf = RequestFactory()
    assert allow_listed(rf.get("/", REMOTE_ADDR="127.0.0.1"))
    for header in ("j" * 4100 + ", 203.0.113.7", "127.0.0.1, junk", "fe80::1%x", "j" * 5000):
        request = rf.get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=header)
        assert not allow_listed(request), header
        assert client_ip(request) != "127.0.0.1", header


def test_networks_parsed_once_per_list_and_failing_closed() -> None:
    """One parser for every settings list of ranges (metrics, Server-Timing,
    rate-limit exemptions, trusted proxies)."""
    import ipaddress

    from opskit.client import networks

    first = networks(["10.0.0.0/8", "::1"])
    assert first == (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1/128"))
    assert networks(["10.0.0.0/8", "::1"]) is first  # parsed once, whatever list holds it
    # A list that grants access grants nothing while one range is invalid
    # (its system check says which); a list that guards keeps the valid ones.
    assert networks(["10.0.0.0/8", "10.0.0.0/33"]) == ()
    assert networks(["10.0.0.0/8", "10.0.0.0/33"], grant=False) == (
        ipaddress.ip_network("10.0.0.0/8"),
    )
