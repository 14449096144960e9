"""What may leave the process: one rule for log lines and Sentry events.

Query strings are redacted by **allow-list**: a parameter's value is written
only when its name is in ``LOGGING.ALLOW_PARAMS`` (and contains no
``REDACT_PARAMS`` word); every other value is replaced, its name kept.  A
deny-list misses the next secret's name (``pwd``, ``sig``,
``X-Amz-Credential``...); an allow-list fails closed.  The same rule covers
every URL that is written: ``Referer`` and other logged headers, Sentry's
``request.url``, breadcrumbs and spans, and URLs inside messages.

Headers are redacted by name: those in ``REDACT_HEADERS``, and any whose
name contains a ``REDACT_PARAMS`` word.

Pure functions of strings, built once per settings load; no Django or
sentry-sdk import.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import unquote_plus

__all__ = ["Redactor", "get_redactor"]

#: ``name=value`` pairs in free text (messages, reprs).
_PAIR_RE = re.compile(r"([A-Za-z0-9_.\-\[\]]+)=([^&\s'\"#;,)>]*)")
#: The query (and fragment) of a URL inside free text.
_TEXT_QUERY_RE = re.compile(r"([?#])([^\s'\"<>`]*)")
#: ``scheme://user:password@``.
_USERINFO_RE = re.compile(r"(//[^/@:?#\s]*):([^/@?#\s]*)@")


def _decoded(name: str) -> str:
    try:
        return unquote_plus(name).strip().lower()
    except Exception:  # pragma: no cover - unquote_plus takes any str
        return name.lower()


class Redactor:
    """The redaction rule for one configuration.

    ``allow``: parameter names (case-insensitive, exact) whose values may be
    written; ``words``: a name containing one is secret even when allowed
    (and marks secret headers, form fields and cookies); ``headers``: header
    names always redacted; ``mask``: what replaces a value.
    """

    __slots__ = ("_allow", "_headers", "_words", "mask")

    def __init__(
        self, allow: Iterable[str], words: Iterable[str], headers: Iterable[str], mask: str
    ) -> None:
        self._words = tuple(w.lower() for w in words if w)
        self._allow = frozenset(
            a.strip().lower() for a in allow if a.strip() and not self.secret_name(a)
        )
        self._headers = frozenset(h.strip().lower().replace("_", "-") for h in headers)
        self.mask = mask

    # -- names ---------------------------------------------------------------

    def secret_name(self, name: str) -> bool:
        """Whether a parameter, field or cookie name contains a secret word."""
        lowered = name.lower()
        return any(w in lowered for w in self._words)

    def secret_header(self, name: str) -> bool:
        """Whether a header (``X-Api-Key``, ``x_api_key``...) is never written."""
        normal = name.strip().lower().replace("_", "-")
        return normal in self._headers or self.secret_name(normal)

    def value_allowed(self, name: str) -> bool:
        """Whether a query parameter's value may be written."""
        return bool(self._allow) and _decoded(name) in self._allow

    # -- strings -------------------------------------------------------------

    def query(self, query: str) -> str:
        """``query`` with every value replaced unless its name is allowed."""
        if not query:
            return query
        parts = query.split("&")
        for i, part in enumerate(parts):
            name, eq, value = part.partition("=")
            if eq and value and not self.value_allowed(name):
                parts[i] = f"{name}={self.mask}"
        return "&".join(parts)

    def url(self, url: str) -> str:
        """``url`` with its query (and a ``name=value`` fragment) redacted, and its password."""
        if "@" in url:
            url = _USERINFO_RE.sub(rf"\1:{self.mask}@", url)
        base, hash_, fragment = url.partition("#")
        if fragment and "=" in fragment:
            fragment = self.query(fragment)
        base, mark, query = base.partition("?")
        if query:
            query = self.query(query)
        return f"{base}{mark}{query}{hash_}{fragment}"

    def header(self, name: str, value: str) -> str:
        """A header value as it may be written (``Referer`` loses its query values)."""
        return self.mask if self.secret_header(name) else self.header_value(value)

    def header_value(self, value: str) -> str:
        """A value of a header that is not secret by name: any URL in it redacted."""
        if "?" in value or "#" in value or "@" in value:
            return self.url(value)
        return value

    def text(self, text: str) -> str:
        """Free text (a message, a repr): URLs by the allow-list, then secret pairs."""
        if "=" not in text:
            return text
        if "?" in text or "#" in text:
            text = _TEXT_QUERY_RE.sub(lambda m: m.group(1) + self.query(m.group(2)), text)
        if not self._words:
            return text
        return _PAIR_RE.sub(
            lambda m: f"{m.group(1)}={self.mask}" if self.secret_name(m.group(1)) else m.group(0),
            text,
        )


@lru_cache(maxsize=8)
def _build(
    allow: tuple[str, ...], words: tuple[str, ...], headers: tuple[str, ...], mask: str
) -> Redactor:
    return Redactor(allow, words, headers, mask)


def get_redactor(
    allow: Iterable[str], words: Iterable[str], headers: Iterable[str], mask: str
) -> Redactor:
    """A :class:`Redactor`, shared between calls with the same lists."""
    return _build(tuple(allow), tuple(words), tuple(headers), mask)
