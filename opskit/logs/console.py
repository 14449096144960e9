"""A readable one-line-per-record format for a developer's terminal.

The same fields as the JSON line (it reuses :class:`~opskit.logs.JsonFormatter`
to collect and bound them), written as ``time LEVEL logger message
key=value ...``; a traceback follows on its own lines.  Colours only on a
terminal, unless forced: ``NO_COLOR`` turns them off and ``FORCE_COLOR`` on
(https://no-color.org), as most command-line tools do.  JSON stays the
production format: this one is for people, not pipelines.
"""

from __future__ import annotations

import json
import os
from typing import IO, Any

from .formatter import JsonFormatter

__all__ = ["ConsoleFormatter"]

_RESET = "\x1b[0m"
_DIM = "\x1b[2m"
_BOLD = "\x1b[1m"
_CYAN = "\x1b[36m"
LEVEL_COLORS = {
    "DEBUG": "\x1b[34m",
    "INFO": "\x1b[32m",
    "WARNING": "\x1b[33m",
    "ERROR": "\x1b[31m",
    "CRITICAL": "\x1b[1;31m",
}
#: Fields shown in the line's head rather than as ``key=value``.
_HEAD = ("time", "level", "logger", "message")
#: Multi-line fields written after the line.
_TAIL = ("exc_info", "stack_info")
_PLAIN_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:@+<>[]()*,;~%#!?&^$|"
)

#: C0 controls and DEL as visible escapes (``\n`` -> ``\\n``, ESC -> ``\\x1b``).
_CONTROL_ESCAPES = {
    c: json.dumps(chr(c))[1:-1] if c in (9, 10, 13) else f"\\x{c:02x}" for c in (*range(32), 127)
}


def wants_colors(stream: IO[str] | None, colors: bool | None = None) -> bool:
    """``colors`` if given, else ``NO_COLOR`` / ``FORCE_COLOR``, else whether ``stream`` is a TTY."""
    if colors is not None:
        return colors
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if isatty is not None else False
    except (OSError, ValueError):  # a closed or detached stream
        return False


def _value(value: Any) -> str:
    if isinstance(value, str):
        if value and all(c in _PLAIN_CHARS for c in value):
            return value
        return json.dumps(value)  # quotes, escapes CR/LF: still one line
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(value, separators=(",", ":"), default=str)


class ConsoleFormatter(JsonFormatter):
    """``12:00:01.123 INFO    opskit.request GET /api/posts/ 200 11.4 ms  request_id=... duration_ms=11.4``.

    ``colors``: ``True``/``False`` forces them; ``None`` (the default)
    decides from ``stream`` (the handler's stream: colours on a TTY only)
    and the ``NO_COLOR`` / ``FORCE_COLOR`` environment variables.  Takes
    :class:`~opskit.logs.JsonFormatter`'s arguments; values are bounded and
    cleaned the same way, and ``format()`` never raises either.
    """

    def __init__(
        self, *args: Any, colors: bool | None = None, stream: IO[str] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.colors = wants_colors(stream, colors)

    def jsonify_log_record(self, log_data: dict[str, Any]) -> str:
        data = self._sanitize(log_data, 0)
        colors = self.colors
        level = str(data.get("level", ""))
        clock = str(data.get("time", ""))[11:23]  # HH:MM:SS.mmm (UTC)
        logger = str(data.get("logger", ""))
        # One line per record, and no terminal escapes from a logged path:
        # control characters in the message are written as escapes.
        message = str(data.get("message", "")).translate(_CONTROL_ESCAPES)
        fields = [(k, _value(v)) for k, v in data.items() if k not in _HEAD and k not in _TAIL]
        if colors:
            head = (
                f"{_DIM}{clock}{_RESET} {LEVEL_COLORS.get(level, '')}{level:<8}{_RESET}"
                f"{_CYAN}{logger}{_RESET}"
            )
            if message:
                head += f" {_BOLD}{message}{_RESET}"
            tail = "".join(f" {_DIM}{k}={_RESET}{v}" for k, v in fields)
        else:
            head = f"{clock} {level:<8}{logger}"
            if message:
                head += f" {message}"
            tail = "".join(f" {k}={v}" for k, v in fields)
        line = f"{head} {tail}" if tail else head
        for key in _TAIL:
            text = data.get(key)
            if text:
                line += "\n" + str(text)
        return line
