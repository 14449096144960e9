"""How opskit reads a django-redis alias: one reading for the limiter, the probe and the checks."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from opskit.rediscache import SentinelLocationError, locations, sentinel_master, uses_sentinel

SENTINEL_OPTIONS = {"SENTINELS": [("127.0.0.1", 26379)]}


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("redis://mymaster/0", ("mymaster", 0)),
        ("redis://mymaster/3", ("mymaster", 3)),
        ("redis://mymaster", ("mymaster", 0)),
        ("redis://:secret@mymaster/2", ("mymaster", 2)),
        ("rediss://mymaster/1", ("mymaster", 1)),
        (["redis://first/1", "redis://second/2"], ("first", 1)),
        ("mymaster/4", ("mymaster", 4)),
    ],
)
def test_sentinel_master_reads_the_service_and_database(
    location: object, expected: tuple[str, int]
) -> None:
    assert sentinel_master({"LOCATION": location, "OPTIONS": SENTINEL_OPTIONS}) == expected


@pytest.mark.parametrize(
    ("location", "says"),
    [
        ("redis:///0", "'redis:///0' names none"),
        ("redis://", "'redis://' names none"),
        ("", "LOCATION is empty"),
        ([], "LOCATION is empty"),
        ("redis://mymaster/zero", "the database 'zero' is not a number"),
    ],
)
def test_a_sentinel_location_without_a_service_is_a_clear_error(
    location: object, says: str
) -> None:
    with pytest.raises(SentinelLocationError) as caught:
        sentinel_master({"LOCATION": location, "OPTIONS": SENTINEL_OPTIONS})
    message = str(caught.value)
    assert says in message and "redis://<service>/<db>" in message
    # Django's own misconfiguration error, and a ValueError for older callers.
    assert isinstance(caught.value, ImproperlyConfigured)
    assert isinstance(caught.value, ValueError)


def test_uses_sentinel_follows_django_redis_settings() -> None:
    assert uses_sentinel({"OPTIONS": SENTINEL_OPTIONS})
    assert uses_sentinel({"OPTIONS": {"CLIENT_CLASS": "django_redis.client.SentinelClient"}})
    factory = {"CONNECTION_FACTORY": "django_redis.pool.SentinelConnectionFactory"}
    assert uses_sentinel({"OPTIONS": factory})
    assert not uses_sentinel({"LOCATION": "redis://127.0.0.1:6379/0"})
    assert not uses_sentinel({"OPTIONS": {"SENTINELS": []}})


def test_locations_split_a_comma_separated_string() -> None:
    assert locations({"LOCATION": " redis://a:1/0 , redis://b:2/0,"}) == [
        "redis://a:1/0",
        "redis://b:2/0",
    ]
    assert locations({}) == []
