"""JsonFormatter: one valid JSON object per line for any record; never raises."""

from __future__ import annotations

import io
import json
import logging
import sys
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from opskit.logs import JsonFormatter


def emit(formatter: JsonFormatter | None = None, *args: Any, **kwargs: Any) -> str:
    """Log through a real logger and handler into a StringIO; return the raw output."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter or JsonFormatter())
    logger = logging.getLogger("tests.logs.formatter")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    try:
        logger.info(*args, **kwargs)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    return stream.getvalue()


def one_line(raw: str) -> dict[str, Any]:
    assert raw.endswith("\n") and raw.count("\n") == 1, raw[:200]
    raw.encode("ascii")
    data = json.loads(raw)
    assert isinstance(data, dict)

    def strict(v: Any) -> None:  # no lone surrogates left anywhere
        if isinstance(v, str):
            v.encode("utf-8")
        elif isinstance(v, dict):
            for k, x in v.items():
                strict(k)
                strict(x)
        elif isinstance(v, list):
            for x in v:
                strict(x)

    strict(data)
    return data


def test_basic_shape() -> None:
    data = one_line(emit(None, "hello %s", "world", extra={"user.id": "7", "n": 3}))
    assert data["message"] == "hello world"
    assert data["level"] == "INFO" and data["logger"] == "tests.logs.formatter"
    assert data["time"].endswith("Z") and len(data["time"]) == 24
    assert data["user.id"] == "7" and data["n"] == 3
    for reserved in ("args", "msg", "pathname", "process", "thread", "created"):
        assert reserved not in data


def test_crlf_and_controls_stay_on_one_line() -> None:
    data = one_line(emit(None, "a\r\nb\x00c\u2028d\x85e", extra={"v": "\n\n{}\n"}))
    assert data["message"] == "a\r\nb\x00c\u2028d\x85e"
    assert data["v"] == "\n\n{}\n"


def test_surrogates_and_bytes() -> None:
    data = one_line(emit(None, "bad \udcff path", extra={"b": b"\xff\xfe", "k": "\ud800"}))
    assert data["message"] == "bad ? path"
    assert data["k"] == "?"
    assert isinstance(data["b"], str)


def test_astral_characters_survive() -> None:
    assert one_line(emit(None, "ok 😀 한국"))["message"] == "ok 😀 한국"


def test_non_finite_floats() -> None:
    data = one_line(emit(None, "x", extra={"a": float("nan"), "b": float("inf"), "c": 1.5}))
    assert data["a"] == "nan" and data["b"] == "inf" and data["c"] == 1.5


def test_huge_values_are_bounded() -> None:
    formatter = JsonFormatter(max_value_length=1000, max_line_length=10_000)
    data = one_line(emit(formatter, "m" * 50_000, extra={"big": "b" * 50_000}))
    assert len(data["message"]) < 1100 and data["message"].endswith("[truncated]")
    assert len(data["big"]) < 1100
    many = {f"f{i}": "v" * 900 for i in range(100)}
    raw = emit(formatter, "wide", extra=many)
    data = one_line(raw)
    assert len(raw) <= 10_000
    assert data["truncated"] is True and data["message"] == "wide"


def test_circular_and_unprintable_values() -> None:
    loop: list[Any] = []
    loop.append(loop)

    class NoStr:
        def __str__(self) -> str:
            raise RuntimeError("no")

        def __repr__(self) -> str:
            raise RuntimeError("no")

    data = one_line(emit(None, "x", extra={"loop": loop, "nostr": NoStr(), "d": {(1, 2): 3}}))
    assert data["message"] == "x"
    assert isinstance(data["nostr"], str)
    assert data["d"] == {"(1, 2)": 3}


def test_bad_format_args_never_raise() -> None:
    data = one_line(emit(None, "%s %s %d", "only-one"))
    assert data["formatter_error"] == "TypeError"
    assert data["message"] == "%s %s %d"


def test_exception_and_stack() -> None:
    try:
        raise ValueError("kaput\nsecond line")
    except ValueError:
        exc = sys.exc_info()
    data = one_line(emit(None, "failed", exc_info=exc))
    assert "ValueError: kaput" in data["exc_info"]
    assert "Traceback (most recent call last)" in data["exc_info"]


def test_python_json_logger_options() -> None:
    formatter = JsonFormatter(
        "%(levelname)s %(lineno)d",
        rename_fields={"level": "severity"},
        static_fields={"svc": "api"},
    )
    data = one_line(emit(formatter, "hi"))
    assert data["severity"] == "INFO" and "level" not in data
    assert data["svc"] == "api" and isinstance(data["lineno"], int)


def test_dict_message() -> None:
    data = one_line(emit(None, {"event": "thing", "count": 2}))
    assert data["event"] == "thing" and data["count"] == 2 and "message" not in data


def test_django_request_extra_is_dropped() -> None:
    class Req:
        def __repr__(self) -> str:
            return "<WSGIRequest: GET '/x?token=SECRET'>"

    raw = emit(None, "Not Found: /x", extra={"request": Req(), "status_code": 404})
    assert "SECRET" not in raw and one_line(raw)["status_code"] == 404


values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text()
    | st.binary(max_size=20)
    | st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    msg=st.text() | st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
    extra=st.dictionaries(
        st.text(min_size=1, max_size=12).filter(
            lambda k: (
                k not in logging.LogRecord("", 0, "", 0, "", (), None).__dict__
                and k not in ("message", "asctime")
            )
        ),
        values,
        max_size=5,
    ),
)
def test_any_record_is_one_json_line(msg: str, extra: dict[str, Any]) -> None:
    one_line(emit(JsonFormatter(max_value_length=200), msg, extra=extra))
