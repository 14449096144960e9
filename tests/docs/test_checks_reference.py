"""docs/checks.md lists exactly the system check ids the code can emit."""

from __future__ import annotations

import re

from .util import DOCS, ROOT

ID_RE = re.compile(r"opskit\.[EW]\d{3}")
ROW_RE = re.compile(r"^\|\s*`(opskit\.[EW]\d{3})`\s*\|\s*(error|warning)\s*\|", re.M)


def _code_ids() -> set[str]:
    ids: set[str] = set()
    for path in (ROOT / "opskit").rglob("*.py"):
        ids |= set(ID_RE.findall(path.read_text()))
    return ids


def _documented() -> dict[str, str]:
    rows = ROW_RE.findall((DOCS / "checks.md").read_text())
    ids = [i for i, _ in rows]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    assert not dupes, f"docs/checks.md has more than one row for {dupes}"
    return dict(rows)


def test_every_emitted_id_is_documented() -> None:
    missing = sorted(_code_ids() - _documented().keys())
    assert not missing, f"ids in opskit/ with no row in docs/checks.md: {missing}"


def test_every_documented_id_exists_in_the_code() -> None:
    stale = sorted(_documented().keys() - _code_ids())
    assert not stale, f"docs/checks.md documents ids opskit/ never emits: {stale}"


def test_level_matches_the_id_letter() -> None:
    wrong = {i: level for i, level in _documented().items() if (i[7] == "E") != (level == "error")}
    assert not wrong, f"an E id must be an error and a W id a warning: {wrong}"


def test_the_core_ids_are_found() -> None:
    """The grep itself works: the foundation's ids are there."""
    assert {"opskit.E001", "opskit.E002", "opskit.W001", "opskit.W002"} <= _code_ids()
