"""The README's quickstart as data: the blocks a new user copies, in order.

``tests/packaging`` applies them to a fresh ``startproject`` and
``tests/docs`` checks them statically, so what the README prints is what is
tested.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
_FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.M | re.S)


@dataclass(frozen=True)
class Quickstart:
    install: str  #: the ``pip install`` line
    settings: str  #: appended to ``<project>/settings.py``
    urls: str  #: appended to ``<project>/urls.py``
    commands: list[str]  #: the ``manage.py`` lines, comments stripped


def quickstart(text: str | None = None) -> Quickstart:
    text = README.read_text() if text is None else text
    section = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    blocks = [(m.group(1), m.group(2)) for m in _FENCE.finditer(section)]
    shell = [
        line.split("#", 1)[0].strip()
        for lang, body in blocks
        if lang == "sh"
        for line in body.splitlines()
    ]
    shell = [line for line in shell if line]
    python = {body.splitlines()[0].strip(): body for lang, body in blocks if lang == "python"}
    [install] = [line for line in shell if line.startswith("pip install")]
    return Quickstart(
        install=install,
        settings=python["# settings.py"],
        urls=python["# urls.py"],
        commands=[line for line in shell if line.startswith("python manage.py")],
    )
