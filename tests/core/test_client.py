from __future__ import annotations

import ipaddress

from django.test import override_settings
from hypothesis import given
from hypothesis import strategies as st

from opskit.client import client_address, mask_address, parse_networks, resolve_client_address

TRUST = parse_networks(["10.0.0.0/8", "2001:db8::/32"])


def test_remote_addr_without_trusted_proxies_ignores_spoofed_header() -> None:
    meta = {"REMOTE_ADDR": "203.0.113.9", "HTTP_X_FORWARDED_FOR": "1.2.3.4"}
    assert client_address(meta) == "203.0.113.9"


def test_trusted_proxy_chain_takes_first_untrusted_from_right() -> None:
    # client spoofs 6.6.6.6; real client 198.51.100.7; two trusted proxies
    fwd = "6.6.6.6, 198.51.100.7, 10.0.0.2"
    assert resolve_client_address("10.0.0.1", fwd, TRUST) == "198.51.100.7"


def test_untrusted_peer_header_ignored() -> None:
    assert resolve_client_address("198.51.100.1", "1.1.1.1", TRUST) == "198.51.100.1"


def test_all_hops_trusted_gives_leftmost() -> None:
    assert resolve_client_address("10.0.0.1", "10.1.1.1, 10.2.2.2", TRUST) == "10.1.1.1"


def test_ipv6_and_ports_and_mapped() -> None:
    assert resolve_client_address("2001:db8::1", "[2001:db9::5]:443", TRUST) == "2001:db9::5"
    assert resolve_client_address("10.0.0.1", "198.51.100.7:5555", TRUST) == "198.51.100.7"
    assert resolve_client_address("::ffff:192.0.2.1", None, ()) == "192.0.2.1"


def test_garbage_never_wins() -> None:
    assert resolve_client_address("10.0.0.1", "evil, <script>", TRUST) == "10.0.0.1"
    assert resolve_client_address("10.0.0.1", "", TRUST) == "10.0.0.1"
    assert resolve_client_address("10.0.0.1", "1.2.3.4," * 5000, TRUST) == "10.0.0.1"
    assert resolve_client_address("not-an-ip", "1.2.3.4", TRUST) is None
    assert resolve_client_address("10.0.0.1", "999.1.1.1", TRUST) == "10.0.0.1"


@override_settings(OPSKIT={"TRUSTED_PROXIES": ["10.0.0.0/8"]})
def test_settings_drive_client_address() -> None:
    meta = {"REMOTE_ADDR": "10.9.9.9", "HTTP_X_FORWARDED_FOR": "192.0.2.44"}
    assert client_address(meta) == "192.0.2.44"


@override_settings(OPSKIT={"TRUSTED_PROXIES": ["10.0.0.0/8"], "FORWARDED_HEADER": "X-Real-IP"})
def test_custom_forwarded_header() -> None:
    meta = {
        "REMOTE_ADDR": "10.9.9.9",
        "HTTP_X_REAL_IP": "192.0.2.45",
        "HTTP_X_FORWARDED_FOR": "1.1.1.1",
    }
    assert client_address(meta) == "192.0.2.45"


def test_mask_ipv6() -> None:
    assert mask_address("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert mask_address("192.0.2.1") == "192.0.2.1"
    assert mask_address("junk") == "junk"


@given(remote=st.text(max_size=80), fwd=st.text(max_size=300))
def test_never_raises_and_only_returns_addresses(remote: str, fwd: str) -> None:
    out = resolve_client_address(remote, fwd, TRUST)
    if out is not None:
        ipaddress.ip_address(out)  # raises if anything but an address came out


def test_cached_answers_follow_the_settings() -> None:
    """The (peer, header) cache is cleared when TRUSTED_PROXIES changes."""
    meta = {"REMOTE_ADDR": "10.9.9.9", "HTTP_X_FORWARDED_FOR": "192.0.2.46"}
    with override_settings(OPSKIT={"TRUSTED_PROXIES": ["10.0.0.0/8"]}):
        assert client_address(meta) == "192.0.2.46"
        assert client_address(meta) == "192.0.2.46"  # from the cache
    with override_settings(OPSKIT={"TRUSTED_PROXIES": []}):
        assert client_address(meta) == "10.9.9.9"
    with override_settings(OPSKIT={"TRUSTED_PROXIES": ["10.0.0.0/8"]}):
        assert client_address(meta) == "192.0.2.46"


@override_settings(OPSKIT={"TRUSTED_PROXIES": ["10.0.0.0/8"]})
def test_long_headers_are_resolved_but_never_cached() -> None:
    from opskit.client import _resolved

    # 40 trusted hops then the client: longer than the cached length (256).
    hops = ", ".join(["192.0.2.47", *[f"10.0.{i}.1" for i in range(40)]])
    assert len(hops) > 256
    meta = {"REMOTE_ADDR": "10.9.9.9", "HTTP_X_FORWARDED_FOR": hops}
    before = _resolved.cache_info().currsize
    # Only the rightmost MAX_HOPS (32) hops are walked, all trusted here:
    # the leftmost examined one is the answer, as resolve_client_address says.
    assert client_address(meta) == resolve_client_address("10.9.9.9", hops, TRUST)
    assert _resolved.cache_info().currsize == before
    meta["HTTP_X_FORWARDED_FOR"] = "x" * 5000  # oversized: the peer itself
    assert client_address(meta) == "10.9.9.9"
    assert client_address({"REMOTE_ADDR": 12345}) is None
