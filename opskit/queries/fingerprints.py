"""SQL fingerprints: one stable id per query shape, never any parameter.

Two queries have the same fingerprint when they differ only in literals,
placeholders, the length of an ``IN (...)`` or ``VALUES`` list, a savepoint
name or comments.  Normalising costs a few regular-expression passes, so the
result is cached by the raw SQL in a bounded LRU (``functools.lru_cache``, C
implemented): ORM queries repeat their SQL text exactly, and a hit is one
dictionary probe.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from functools import lru_cache

from ..conf import get_settings, on_reload

__all__ = ["Fingerprint", "fingerprint", "normalize"]

#: Characters of normalised SQL kept as the sample.
SAMPLE_LENGTH = 300
#: Longer SQL (bulk inserts) is normalised every time instead of being a
#: cache key, so the cache's memory stays bounded by its entry count.
MAX_CACHED_SQL = 8192

# Strings and comments in one pass, so "--" inside a string or a quote
# inside a comment cannot derail either.
_COMMENT_RE = re.compile(r"'(?:[^']|'')*'|/\*.*?\*/|--[^\n]*", re.S)
_SAVEPOINT_RE = re.compile(
    r"\b(SAVEPOINT|RELEASE\s+SAVEPOINT|ROLLBACK\s+TO\s+SAVEPOINT)\s+(\"[^\"]*\"|`[^`]*`|\w+)",
    re.I,
)
# Each pattern starts with a literal or a character class so the regex
# engine skips to candidates quickly; guards skip whole passes.  A number is
# a digit run not glued to an identifier ("T3", "s1_x2" stay).
_STRING_RE = re.compile(r"'(?:[^']|'')*'")
_NUMBER_RE = re.compile(r"[0-9](?<![\w.\"][0-9])[0-9]*(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?(?![\w\"])")
_NAMED_RE = re.compile(r"%\(\w+\)s")
_DOLLAR_RE = re.compile(r"\$\d+")
_COLON_RE = re.compile(r":(?<![:\w]:)[A-Za-z_]\w*")
_IN_RE = re.compile(r"IN \(\?(?:, ?\?)*\)")
_IN_LOWER_RE = re.compile(r"\b[Ii][Nn] ?\( ?\?(?: ?, ?\?)* ?\)")
_VALUES_RE = re.compile(r"VALUES ?\([^()]*\)(?: ?, ?\([^()]*\))*", re.I)
_TRANSACTION_RE = re.compile(
    r"(?:BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|START\s+TRANSACTION|END)\b", re.I
)
_WRITE_RE = re.compile(r"(?:INSERT|UPDATE|DELETE|REPLACE|MERGE)\b", re.I)
_ORDER_BY_RE = re.compile(r"ORDER BY ([\w\".`]+)", re.I)
_RANGE_RE = re.compile(r"([\w\".`]+) [<>]=? \?")


class Fingerprint:
    """A normalised query shape: a 16-hex ``key``, a short ``sample``, flags.

    ``transaction`` marks BEGIN/COMMIT/ROLLBACK/SAVEPOINT statements (never an
    N+1, never counted by the test helpers); ``pagination`` marks keyset or
    offset page walking (not reported as N+1 when the setting allows);
    ``write`` marks INSERT/UPDATE/DELETE (checked for a bulk call's batches).
    """

    __slots__ = ("key", "pagination", "sample", "transaction", "write")

    def __init__(
        self, key: str, sample: str, transaction: bool, pagination: bool, write: bool = False
    ) -> None:
        self.key = key
        self.sample = sample
        self.transaction = transaction
        self.pagination = pagination
        self.write = write

    def __repr__(self) -> str:
        return f"<Fingerprint {self.key} {self.sample[:60]!r}>"


def _comment_or_string(m: re.Match[str]) -> str:
    return "?" if m.group().startswith("'") else " "


def normalize(sql: str) -> str:
    """The query's shape: literals and placeholders as ``?``, lists folded."""
    if "--" in sql or "/*" in sql:
        sql = _COMMENT_RE.sub(_comment_or_string, sql)
    if "AVEPOINT" in sql or "avepoint" in sql:
        sql = _SAVEPOINT_RE.sub(r"\1 ?", sql)
    if "'" in sql:
        sql = _STRING_RE.sub("?", sql)
    if "%" in sql:
        sql = sql.replace("%s", "?")
        if "%(" in sql:
            sql = _NAMED_RE.sub("?", sql)
    if "$" in sql:
        sql = _DOLLAR_RE.sub("?", sql)
    if ":" in sql:
        sql = _COLON_RE.sub("?", sql)
    sql = _NUMBER_RE.sub("?", sql)
    if (
        "  " in sql
        or "\n" in sql
        or "\t" in sql
        or "\r" in sql
        or sql[:1] == " "
        or sql[-1:] == " "
    ):
        sql = " ".join(sql.split())
    if "IN (?" in sql:
        sql = _IN_RE.sub("IN (...)", sql)
    if " in (" in sql or " in(" in sql or " IN(" in sql:
        sql = _IN_LOWER_RE.sub("IN (...)", sql)
    if "VALUES" in sql or "values" in sql:
        sql = _VALUES_RE.sub("VALUES (...)", sql)
    return sql


def _same_column(a: str, b: str) -> bool:
    a = a.replace('"', "").replace("`", "").lower()
    b = b.replace('"', "").replace("`", "").lower()
    return a == b or a.endswith("." + b) or b.endswith("." + a)


def _is_pagination(norm: str) -> bool:
    """Keyset (``WHERE k > ? ORDER BY k LIMIT ?``) or offset page walking."""
    upper = norm.upper()
    if "LIMIT ?" not in upper or "ORDER BY " not in upper:
        return False
    if upper.endswith("LIMIT ? OFFSET ?"):
        return True
    if "<" not in norm and ">" not in norm:
        return False
    order = _ORDER_BY_RE.search(norm)
    if order is None:
        return False
    where = norm[: order.start()]
    return any(_same_column(m.group(1), order.group(1)) for m in _RANGE_RE.finditer(where))


def compute(sql: str) -> Fingerprint:
    """Fingerprint ``sql`` without the cache (long statements, tests)."""
    norm = normalize(sql)
    key = hashlib.blake2b(norm.encode("utf-8", "replace"), digest_size=8).hexdigest()
    transaction = _TRANSACTION_RE.match(norm) is not None
    pagination = False
    if not transaction and ("LIMIT ?" in norm or "limit ?" in norm):
        pagination = _is_pagination(norm)
    write = not transaction and _WRITE_RE.match(norm) is not None
    return Fingerprint(key, norm[:SAMPLE_LENGTH], transaction, pagination, write)


def _make_cache() -> Callable[[str], Fingerprint]:
    try:
        size = max(16, get_settings().QUERIES.FINGERPRINT_CACHE_SIZE)
    except Exception:  # settings not configured (a script): a sane default
        size = 4096
    return lru_cache(maxsize=size)(compute)


#: The cache :func:`get_cache` built (``None`` until first use); the hot path
#: reads it directly to skip a call.
current_cache: Callable[[str], Fingerprint] | None = None


def fingerprint(sql: str) -> Fingerprint:
    """The cached fingerprint of ``sql`` (the hot path calls the cache directly)."""
    if not isinstance(sql, str):  # psycopg sql.Composed and friends
        sql = str(sql)
    if len(sql) > MAX_CACHED_SQL:
        return compute(sql)
    return get_cache()(sql)


def get_cache() -> Callable[[str], Fingerprint]:
    """The LRU-cached fingerprint function, built on first use."""
    global current_cache
    cache = current_cache
    if cache is None:
        cache = current_cache = _make_cache()
    return cache


def _reset() -> None:
    global current_cache
    current_cache = None


on_reload(_reset)
