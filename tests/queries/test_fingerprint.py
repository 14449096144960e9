"""Fingerprints: literals, placeholders, lists, savepoints, comments; never parameters."""

from __future__ import annotations

import pytest
from django.test import override_settings
from hypothesis import given
from hypothesis import strategies as st

from opskit.queries import fingerprint, normalize
from opskit.queries import fingerprints as fp_mod


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("SELECT * FROM t WHERE id = 1", "SELECT * FROM t WHERE id = 22"),
        ("SELECT * FROM t WHERE n = 'a'", "SELECT * FROM t WHERE n = 'it''s'"),
        ("SELECT * FROM t WHERE id = %s", "SELECT * FROM t WHERE id = 7"),
        ("SELECT * FROM t WHERE id = %(id)s", "SELECT * FROM t WHERE id = $1"),
        ("SELECT * FROM t WHERE id = ?", "SELECT * FROM t WHERE id = :ident"),
        ("SELECT * FROM t WHERE id IN (%s)", "SELECT * FROM t WHERE id IN (%s, %s, %s)"),
        ("SELECT * FROM t WHERE id in (1,2)", "SELECT * FROM t WHERE id IN (%s, %s, %s, %s)"),
        ("INSERT INTO t (a) VALUES (%s)", "INSERT INTO t (a) VALUES (%s), (%s), (%s)"),
        ('SAVEPOINT "s1403_x1"', 'SAVEPOINT "s99_x12"'),
        ('RELEASE SAVEPOINT "s1_x1"', 'RELEASE SAVEPOINT "s2_x9"'),
        ("SELECT 1 /* controller=x */", "SELECT 2 -- trailing\n"),
        ("SELECT  *\n FROM t", "SELECT * FROM t"),
        ("SELECT 1.5e3, -4", "SELECT 2, -1"),
    ],
)
def test_same_shape_same_fingerprint(a: str, b: str) -> None:
    assert fingerprint(a).key == fingerprint(b).key


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("SELECT * FROM t WHERE id = 1", "SELECT * FROM u WHERE id = 1"),
        ('SELECT "T3"."id" FROM t', 'SELECT "T4"."id" FROM t'),
        ("SELECT x::integer FROM t", "SELECT x::text FROM t"),
        ("SELECT * FROM t WHERE a = 1", "SELECT * FROM t WHERE b = 1"),
    ],
)
def test_different_shapes_differ(a: str, b: str) -> None:
    assert fingerprint(a).key != fingerprint(b).key


def test_sample_and_flags() -> None:
    fp = fingerprint("SELECT * FROM t WHERE id IN (%s, %s) AND name = 'secret'")
    assert fp.sample == "SELECT * FROM t WHERE id IN (...) AND name = ?"
    assert len(fp.key) == 16 and int(fp.key, 16) >= 0
    for sql in ("BEGIN", "COMMIT", "ROLLBACK", 'SAVEPOINT "s1"', 'ROLLBACK TO SAVEPOINT "s1"'):
        assert fingerprint(sql).transaction, sql
    assert not fingerprint("SELECT 1").transaction
    assert fingerprint(
        'SELECT "t"."id" FROM "t" WHERE "t"."id" > %s ORDER BY "t"."id" LIMIT 50'
    ).pagination
    assert fingerprint("SELECT * FROM t ORDER BY id LIMIT 10 OFFSET 20").pagination
    assert not fingerprint(
        'SELECT * FROM "t" WHERE "t"."a_id" = %s ORDER BY "t"."id" LIMIT 1'
    ).pagination
    assert not fingerprint(
        'SELECT * FROM "t" WHERE "t"."n" > %s ORDER BY "t"."id" LIMIT 1'
    ).pagination
    assert not fingerprint('SELECT * FROM "t" WHERE "t"."id" > %s ORDER BY "t"."id"').pagination


def test_comments_and_whitespace_normalised() -> None:
    assert normalize("SELECT /* a */ 1 -- b\n FROM\tt") == "SELECT ? FROM t"
    assert normalize("SELECT '--x' /* it's */ FROM t -- c") == "SELECT ? FROM t"


@given(
    st.one_of(
        st.integers(min_value=0, max_value=10**12),
        st.text(alphabet=st.sampled_from("ab-/*'% 1:$?"), min_size=3, max_size=20),
    )
)
def test_literal_values_never_reach_the_sample(value: object) -> None:
    # A valid SQL literal: quotes doubled.
    literal = str(value) if isinstance(value, int) else "'" + str(value).replace("'", "''") + "'"
    fp = fp_mod.compute(f"SELECT * FROM t WHERE a = {literal} AND b IN ({literal}, {literal})")
    assert fp.sample == "SELECT * FROM t WHERE a = ? AND b IN (...)"


def test_cache_is_bounded_and_rebuilt_on_settings_change() -> None:
    with override_settings(OPSKIT={"QUERIES": {"FINGERPRINT_CACHE_SIZE": 32}}):
        cache = fp_mod.get_cache()
        for i in range(100):
            fingerprint(f"SELECT c{i} FROM t")
        info = cache.cache_info()  # type: ignore[attr-defined]
        assert info.maxsize == 32 and info.currsize == 32
        fingerprint("SELECT c99 FROM t")
        assert cache.cache_info().hits == 1  # type: ignore[attr-defined]
    assert fp_mod.get_cache() is not cache


def test_long_statements_are_not_cached() -> None:
    sql = "INSERT INTO t (a) VALUES " + ", ".join(["(%s)"] * 3000)
    before = fp_mod.get_cache().cache_info().currsize  # type: ignore[attr-defined]
    assert fingerprint(sql).sample == "INSERT INTO t (a) VALUES (...)"
    assert fp_mod.get_cache().cache_info().currsize == before  # type: ignore[attr-defined]
