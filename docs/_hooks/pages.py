"""MkDocs hook: the capability pages land on separate branches.

Pages listed in ``extra.optional_pages`` of ``mkdocs.yml`` are left out of
the nav, and links to them become plain text, while they do not exist yet, so
the strict build passes at every step of the integration.  Any other missing
page or broken link still fails the strict build.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

log = logging.getLogger("mkdocs.hooks.opskit")
_missing: set[str] = set()


def _prune(nav: Any, docs_dir: Path, optional: set[str]) -> Any:
    out = []
    for item in nav:
        if isinstance(item, dict):
            (title, value), *_ = item.items()
            if isinstance(value, list):
                children = _prune(value, docs_dir, optional)
                if children:
                    out.append({title: children})
                continue
            if isinstance(value, str) and value in optional and not (docs_dir / value).exists():
                _missing.add(value)
                log.info("opskit docs: %s is not written yet; left out of the nav", value)
                continue
        out.append(item)
    return out


def on_config(config: Any) -> Any:
    optional = set(config["extra"].get("optional_pages") or [])
    _missing.clear()
    config["nav"] = _prune(config["nav"], Path(config["docs_dir"]), optional)
    return config


_CODE_SPAN = re.compile(r"`[^`\n]*`")


def _unescape_pipes(line: str) -> str:
    """``\\|`` inside a code span in a table row would render with its backslash.

    Python-Markdown's tables already keep a plain ``|`` inside a code span in
    its cell, so the escape is not needed there; GitHub needs it.  Dropping
    it lets one Markdown source render right in both places.
    """
    if not line.lstrip().startswith("|") or "\\|" not in line:
        return line
    return _CODE_SPAN.sub(lambda m: m.group(0).replace("\\|", "|"), line)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    markdown = "\n".join(_unescape_pipes(line) for line in markdown.split("\n"))
    if not _missing:
        return markdown
    names = "|".join(re.escape(m) for m in sorted(_missing))
    link = re.compile(r"\[([^\]]+)\]\((?:\.\./)?(?:" + names + r")(?:#[^)]*)?\)")
    return link.sub(r"\1", markdown)
