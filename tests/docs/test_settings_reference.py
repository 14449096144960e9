"""docs/settings.md documents every key of every section, with its real type and default.

The dataclasses in ``opskit.conf`` are the source of truth.  Failures name the
missing or wrong keys and print a ready-to-paste table row.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from typing import Any

from opskit import conf

from .util import DOCS

#: A row; a ``|`` inside a code span is written ``\|`` (GitHub needs it; the
#: site's hook renders both).
ROW_RE = re.compile(r"^\| `([A-Za-z0-9_]+)` \| `([^`]+)` \| `([^`]+)` \| (.+) \|$")
HEADING_RE = re.compile(r"^## (.+?)\s*$")
TOP = "Top level"


def _sections() -> dict[str, type[Any]]:
    """Heading -> dataclass: the top level plus one per nested section."""
    out: dict[str, type[Any]] = {TOP: conf.Settings}
    for f in dataclasses.fields(conf.Settings):
        if isinstance(f.default_factory, type) and dataclasses.is_dataclass(f.default_factory):
            out[f.name] = f.default_factory
    return out


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory()  # type: ignore[misc]


def _is_section(f: dataclasses.Field[Any]) -> bool:
    return isinstance(f.default_factory, type) and dataclasses.is_dataclass(f.default_factory)


def _documented() -> dict[str, dict[str, tuple[str, str, str]]]:
    """{heading: {key: (type, default, meaning)}} parsed from the tables."""
    out: dict[str, dict[str, tuple[str, str, str]]] = {}
    heading = None
    for line in (DOCS / "settings.md").read_text().splitlines():
        if m := HEADING_RE.match(line):
            heading = m.group(1).strip("`")
            out.setdefault(heading, {})
        elif (m := ROW_RE.match(line)) and heading is not None:
            key, tp, default, meaning = (g.replace("\\|", "|") for g in m.groups())
            assert key not in out[heading], f"{heading}.{key} is documented twice"
            out[heading][key] = (tp, default, meaning.strip())
    return out


def _row(f: dataclasses.Field[Any]) -> str:
    row = f"| `{f.name}` | `{f.type}` | `{_default(f)!r}` | ... |".replace("'", '"')
    return row.replace(" | None`", " \\| None`")


def test_every_section_has_a_heading() -> None:
    documented = _documented()
    missing = sorted(set(_sections()) - set(documented))
    assert not missing, f"docs/settings.md has no '## <SECTION>' heading for: {missing}"


def test_every_key_is_documented_and_nothing_else() -> None:
    documented = _documented()
    missing: list[str] = []
    extra: list[str] = []
    for heading, cls in _sections().items():
        fields = {f.name: f for f in dataclasses.fields(cls) if not _is_section(f)}
        rows = documented.get(heading, {})
        for name in fields.keys() - rows.keys():
            missing.append(f"  under '## {heading}': {_row(fields[name])}")
        extra += [f"{heading}.{k}" for k in sorted(rows.keys() - fields.keys())]
    assert not missing, "docs/settings.md lacks these keys (rows to add):\n" + "\n".join(
        sorted(missing)
    )
    assert not extra, f"docs/settings.md documents keys opskit.conf does not have: {extra}"


def test_types_and_defaults_match_the_code() -> None:
    documented = _documented()
    wrong: list[str] = []
    for heading, cls in _sections().items():
        rows = documented.get(heading, {})
        for f in dataclasses.fields(cls):
            if _is_section(f) or f.name not in rows:
                continue
            tp, default, meaning = rows[f.name]
            if tp != str(f.type):
                wrong.append(f"{heading}.{f.name}: type documented {tp!r}, code says {f.type!r}")
            try:
                value = ast.literal_eval(default)
            except (ValueError, SyntaxError):
                wrong.append(f"{heading}.{f.name}: default {default!r} is not a Python literal")
                continue
            if value != _default(f) or type(value) is not type(_default(f)):
                wrong.append(
                    f"{heading}.{f.name}: default documented {default}, code says {_default(f)!r}"
                )
            if len(meaning) < 10:
                wrong.append(f"{heading}.{f.name}: no meaning given")
    assert not wrong, "docs/settings.md disagrees with opskit.conf:\n" + "\n".join(wrong)


def test_documented_defaults_validate_cleanly() -> None:
    """The documented defaults, fed back as an OPSKIT dict, raise no problem."""
    raw: dict[str, Any] = {}
    sections = _sections()
    for heading, rows in _documented().items():
        if heading not in sections:
            continue
        values = {k: ast.literal_eval(d) for k, (_, d, _) in rows.items()}
        if heading == TOP:
            raw.update(values)
        else:
            raw[heading] = values
    settings, problems = conf.validate(raw)
    assert problems == []
    assert settings == conf.Settings()
