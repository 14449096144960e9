"""A JSON formatter that writes one valid JSON object per line, whatever it is given.

Log pipelines split on newlines and drop what does not parse, so a single
bad record (a surrogate from an undecodable path, a 100 KB header, a
``%``-format mistake, an object whose ``__str__`` raises) must not produce a
broken line, two lines, or an exception in the request that logged it.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from itertools import islice
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonEncoder
from pythonjsonlogger.json import JsonFormatter as _BaseJsonFormatter

__all__ = ["REQUEST_LINE_MARK", "JsonFormatter"]

#: Record attributes never copied into the line: the standard ``LogRecord``
#: ones, plus Django's ``request`` extra (its ``repr`` holds the full URL with
#: the query string, i.e. possibly a secret; ``request_id`` correlates instead).
SKIPPED_ATTRS = frozenset([*RESERVED_ATTRS, "taskName", "request"])

#: What a value turns into when it cannot be rendered at all.
UNRENDERABLE = "<unrenderable>"

#: Record attribute of opskit's request line, its last: ``(the position of
#: its first field, the number of attributes)``.  Its message only repeats
#: those fields, so the JSON leaves it out; and while nothing has added or
#: removed an attribute since, the line is built from the fields directly
#: instead of from a scan of every record attribute.
REQUEST_LINE_MARK = "_opskit_line"


#: ``.000Z`` to ``.999Z`` by whole milliseconds, plus one more ``.999Z`` as
#: a guard at the top (a fraction below 1 times 1000 stays below 1000.0).
_MILLIS: tuple[str, ...] = (*(f".{ms:03d}Z" for ms in range(1000)), ".999Z")


def _ascii_json_default(obj: Any) -> Any:
    """Like python-json-logger's encoder fallback, but never raises."""
    try:
        return JsonEncoder().default(obj)
    except Exception:
        return UNRENDERABLE


class JsonFormatter(_BaseJsonFormatter):
    """python-json-logger's formatter, hardened and tuned for one line per record.

    Every line has ``time`` (UTC, ISO 8601, milliseconds), ``level``,
    ``logger`` and ``message`` (omitted when empty), then the record's extra attributes (such as
    ``request_id`` from :class:`~opskit.logs.RequestIdFilter` or the request
    line's fields).  The output is pure ASCII (``\\u`` escapes), so no stream
    encoding can fail on it; lone surrogates become U+FFFD, strings longer
    than ``max_value_length`` are cut (tracebacks get ``max_traceback_length``),
    and a line that would still exceed ``max_line_length`` is replaced by a
    short one that says so.  ``format()`` never raises: a record that cannot
    be formatted yields a minimal line with ``formatter_error`` set.

    opskit's request line has a readable message (``GET /api/posts/ 200
    11.4 ms``) for consoles, pytest and Sentry breadcrumbs; every part of it
    is a field of the line, so it is left out of the JSON unless
    ``request_message`` is true (about 40 bytes more per line).

    Lines are serialised with orjson when it is installed (``django-opskit[orjson]``,
    the serialiser of python-json-logger's ``OrjsonFormatter``, several
    times faster than the standard library's), else with the standard
    library's C encoder; both give the same ASCII line.

    Accepts python-json-logger's arguments (``fmt`` field lists,
    ``rename_fields``, ``static_fields``, ``defaults``...).
    """

    def __init__(
        self,
        *args: Any,
        max_value_length: int = 8192,
        max_traceback_length: int = 32768,
        max_line_length: int = 65536,
        request_message: bool = False,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("reserved_attrs", SKIPPED_ATTRS)
        super().__init__(*args, **kwargs)
        self.max_value_length = max(int(max_value_length), 64)
        self.max_traceback_length = max(int(max_traceback_length), self.max_value_length)
        self.max_line_length = max(int(max_line_length), 1024)
        self._skip = frozenset(self._skip_fields)
        # Reused for every line: json.dumps would build an encoder per call.
        self._encoder = json.JSONEncoder(
            ensure_ascii=True,
            allow_nan=False,
            separators=(",", ":"),
            default=_ascii_json_default,
        )
        self._std_encode = _fast_encoder() or self._encoder.encode
        self._orjson = _orjson_encoder()
        self.request_message = bool(request_message)
        # (second, its text), replaced as one tuple so threads never pair a
        # second with another second's text.
        self._sec_cache: tuple[int, str] = (-1, "")
        # The request line's direct path, when nothing about this formatter
        # (options, a subclass's overrides) could change what it writes.
        cls = type(self)
        self._direct = (
            not self.request_message
            and all(name == "message" for name in self._required_fields)
            and self._skip == SKIPPED_ATTRS | {"message"}
            and not getattr(self, "static_fields", None)
            and not getattr(self, "rename_fields", None)
            and not getattr(self, "defaults", None)
            and not getattr(self, "prefix", "")
            and not getattr(self, "timestamp", False)
            and cls.add_fields is JsonFormatter.add_fields
            and cls.process_log_record is _BaseJsonFormatter.process_log_record
            and cls.serialize_log_record is _BaseJsonFormatter.serialize_log_record
            and cls.jsonify_log_record is JsonFormatter.jsonify_log_record
            and cls.formatTime is JsonFormatter.formatTime
        )

    # -- formatting ----------------------------------------------------------

    def format(self, record: logging.LogRecord) -> str:
        try:
            if self._direct:
                mark = record.__dict__.get(REQUEST_LINE_MARK)
                if mark is not None:
                    line = self._request_line(record, mark)
                    if line is not None:
                        return line
            return super().format(record)
        except Exception as exc:
            return self._fallback(record, exc)

    def _request_line(self, record: logging.LogRecord, mark: Any) -> str | None:
        """The request line from its own fields; None: take the general path.

        Gives exactly what the general path would: the record has the
        attributes it was made with (a filter that adds or removes one sends
        it down the general path), so its extra attributes are the line's
        fields, read from the record (a filter may have rewritten a value).
        """
        attrs = record.__dict__
        start, count = mark
        get = attrs.get
        if (
            len(attrs) != count
            or next(reversed(attrs)) != REQUEST_LINE_MARK
            or get("exc_info")
            or get("exc_text")
            or get("stack_info")
        ):
            return None
        log_data = {
            "time": self.formatTime(record, self.datefmt),
            "level": get("levelname"),
            "logger": get("name"),
        }
        log_data.update(islice(attrs.items(), start, count - 1))
        return self.jsonify_log_record(log_data)

    def request_line(
        self, created: float, levelname: str, name: str, fields: dict[str, Any]
    ) -> str:
        """The request line of ``fields``, as :meth:`format` writes it for its record.

        For :mod:`opskit.logs.direct`, which calls it only when ``_direct``
        holds (no option or override changes the line).
        """
        log_data = {"time": self._time_text(created), "level": levelname, "logger": name}
        log_data.update(fields)
        return self.jsonify_log_record(log_data)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt:
            return super().formatTime(record, datefmt)
        return self._time_text(record.created)

    def _time_text(self, created: float) -> str:
        sec = int(created)
        cached = self._sec_cache
        if cached[0] != sec:  # one strftime per second, not per line
            cached = (sec, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)))
            self._sec_cache = cached
        # A table, not ``:03d``: formatting the milliseconds cost more
        # than the rest of the line's time text.
        return cached[1] + _MILLIS[int((created - sec) * 1000)]

    def add_fields(
        self,
        log_data: dict[str, Any],
        record: logging.LogRecord,
        message_dict: dict[str, Any],
    ) -> None:
        log_data["time"] = self.formatTime(record, self.datefmt)
        log_data["level"] = record.levelname
        log_data["logger"] = record.name
        if record.message and (
            self.request_message or REQUEST_LINE_MARK not in record.__dict__
        ):  # a record with nothing to say omits it; the request line's repeats its fields
            log_data["message"] = record.message
        defaults = getattr(self, "defaults", None)  # python-json-logger >= 3.2
        if defaults:
            for key, value in defaults.items():
                log_data.setdefault(key, value)
        for name in self._required_fields:  # fields named in ``fmt``
            if name != "message" and name not in log_data:
                log_data[name] = record.__dict__.get(name)
        if self.static_fields:
            log_data.update(self.static_fields)
        if message_dict:
            log_data.update(message_dict)
        skip = self._skip
        log_data.update(
            {
                k: v
                for k, v in record.__dict__.items()
                if k not in skip and (k[:1] != "_" if k.__class__ is str else True)
            }
        )
        if self.rename_fields:
            for old, new in self.rename_fields.items():
                if old in log_data:
                    log_data[new] = log_data.pop(old)

    def jsonify_log_record(self, log_data: dict[str, Any]) -> str:
        try:
            text = None
            if self._orjson is not None:
                text = self._orjson(log_data)
                if text is not None and len(text) <= self.max_value_length:
                    return text  # nothing can be over-long; orjson refuses surrogates
            if text is None:
                text = self._std_encode(log_data)
        except Exception:
            # Non-finite floats, circular references, odd keys: rebuild.
            return self._encoder.encode(self._sanitize(log_data, 0))
        if len(text) <= self.max_value_length and "\\ud" not in text:
            return text  # nothing can be over-long, no surrogate escape: done
        text = self._encoder.encode(self._sanitize(log_data, 0))
        if len(text) > self.max_line_length:
            text = self._encoder.encode(self._too_long(log_data, len(text)))
        return text

    # -- the slow paths --------------------------------------------------------

    def _sanitize(self, value: Any, depth: int, key: Any = None) -> Any:
        """A JSON-safe copy: bounded strings, no surrogates, no NaN, str keys."""
        if isinstance(value, str):
            limit = (
                self.max_traceback_length
                if key in ("exc_info", "stack_info")
                else self.max_value_length
            )
            return _clean_str(value, limit)
        if value is None or isinstance(value, (bool, int)):
            return value
        if isinstance(value, float):
            return value if math.isfinite(value) else str(value)
        if depth > 8:
            return UNRENDERABLE
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            for i, (k, v) in enumerate(value.items()):
                if i >= 256:
                    out["<truncated>"] = len(value) - i
                    break
                name = _clean_str(k if isinstance(k, str) else _safe_str(k), 256)
                out[name] = self._sanitize(v, depth + 1, k)
            return out
        if isinstance(value, (list, tuple, set, frozenset)):
            items = list(value)[:256]
            return [self._sanitize(v, depth + 1) for v in items]
        return _clean_str(_safe_str(_ascii_json_default(value)), self.max_value_length)

    def _too_long(self, log_data: dict[str, Any], length: int) -> dict[str, Any]:
        keep = ("time", "level", "logger", "request_id", "trace_id", "span_id")
        out = {k: self._sanitize(log_data[k], 1) for k in keep if k in log_data}
        out["message"] = _clean_str(_safe_str(log_data.get("message", "")), 1024)
        out["truncated"] = True
        out["original_length"] = length
        return out

    def _fallback(self, record: logging.LogRecord, exc: BaseException) -> str:
        """The line for a record that could not be formatted (never raises)."""
        try:
            data: dict[str, Any] = {
                "time": self.formatTime(record),
                "level": _safe_str(getattr(record, "levelname", "")),
                "logger": _safe_str(getattr(record, "name", "")),
                "message": _clean_str(_safe_str(getattr(record, "msg", "")), 1024),
                "formatter_error": type(exc).__name__,
            }
            request_id = getattr(record, "request_id", None)
            if request_id is not None:
                data["request_id"] = _clean_str(_safe_str(request_id), 128)
            return self._encoder.encode(data)
        except Exception:
            return '{"message":"<unformattable log record>","formatter_error":"fallback"}'


def _fast_encoder() -> Callable[[Any], str] | None:
    """CPython's C encoder, built once (``JSONEncoder.encode`` builds one per call).

    Without a markers dict it keeps no state, so one instance serves every
    thread; a circular structure raises ``RecursionError``, which sends the
    record down the sanitising path like any other encoding failure.
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - no C speedups (PyPy)
        return None
    chunks = make(
        None,
        _ascii_json_default,
        json.encoder.encode_basestring_ascii,
        None,
        ":",
        ",",
        False,
        False,
        False,
    )

    def encode(data: Any) -> str:
        return "".join(chunks(data, 0))

    return encode


def _orjson_encoder() -> Callable[[Any], str | None] | None:
    """orjson's line, or None where the standard encoder must write it.

    None (the function) when orjson is not installed.  orjson writes
    non-ASCII characters as UTF-8 and non-finite floats as ``null``, where
    this formatter promises ``\\u`` escapes and ``"nan"``: for a line with
    either (any ``null``, rarely written) the function returns None and the
    standard encoder, which escapes, writes it.  Lone surrogates, integers
    beyond 64 bits and non-string keys make orjson raise, which takes the
    sanitising path as a failure of the standard encoder would.
    """
    try:
        import orjson
    except ImportError:
        return None
    dumps = orjson.dumps
    unsupported = orjson.JSONEncodeError

    def encode(data: Any) -> str | None:
        # Without ``default`` first: passing it costs as much again as the
        # encoding of a request line, whose values orjson always supports.
        try:
            raw = dumps(data)
        except unsupported:
            raw = dumps(data, default=_ascii_json_default)
        # ``find``, not ``in``: ``bytes.__contains__`` tries its argument as
        # an integer first and builds a TypeError for every line.
        if raw.isascii() and raw.find(b"null") < 0:
            return raw.decode()
        return None

    return encode


def _safe_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return str(value)
    except Exception:
        try:
            return repr(value)
        except Exception:
            return UNRENDERABLE


def _clean_str(value: str, limit: int) -> str:
    if len(value) > limit:
        value = value[:limit] + "…[truncated]"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates (surrogateescape'd bytes): strict JSON parsers
        # reject their escapes, so replace them.
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value
