"""Source rules of the package: no issue-tracker comments, no private names
crossing modules (a name another module needs is public in its own)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import opskit

PACKAGE = Path(opskit.__file__).parent
ISSUE_COMMENT = re.compile(r"#.*\(issue \d+\)|#.*\bissue #?\d+\b", re.IGNORECASE)


def _modules() -> list[tuple[Path, str]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found.append((path, ".".join(parts)))
    return found


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base[: len(base) - node.level + (1 if is_package else 0)]
    return ".".join(base + ([node.module] if node.module else []))


def private_crossings(path: Path, module: str) -> list[str]:
    """``from opskit.x import _name`` and ``x._name`` on an imported opskit module."""
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    wrong: list[str] = []
    modules: set[str] = set()  # local names bound to opskit modules
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            source = _absolute(node, module, is_package)
            if not source.startswith("opskit"):
                continue
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    wrong.append(f"{module}:{node.lineno} imports {source}.{alias.name}")
                elif alias.name.islower():
                    modules.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("opskit"):
                    modules.add(alias.asname or alias.name.split(".")[0])
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in modules
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            wrong.append(f"{module}:{node.lineno} uses {node.value.id}.{node.attr}")
    return wrong


def test_no_private_name_crosses_modules() -> None:
    wrong = [w for path, module in _modules() for w in private_crossings(path, module)]
    assert wrong == []


def test_the_rule_sees_both_forms(tmp_path: Path) -> None:
    source = tmp_path / "hook.py"
    source.write_text(
        "from ..context import _record, current\nfrom .. import client\n"
        "client._in(1)\nclient.proven_in(1)\n"
    )
    assert private_crossings(source, "opskit.queries.hook") == [
        "opskit.queries.hook:1 imports opskit.context._record",
        "opskit.queries.hook:3 uses client._in",
    ]


def test_no_issue_number_comments() -> None:
    wrong = [
        f"{path.relative_to(PACKAGE.parent)}:{number}"
        for path, _ in _modules()
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if ISSUE_COMMENT.search(line)
    ]
    assert wrong == []


def test_sentry_integration_and_lean_do_not_import_each_other() -> None:
    from .test_structure import _imported_opskit_modules

    lean = _imported_opskit_modules(PACKAGE / "sentry" / "lean.py", "opskit.sentry")
    integration = _imported_opskit_modules(PACKAGE / "sentry" / "integration.py", "opskit.sentry")
    assert "opskit.sentry.state" in lean & integration
    assert "opskit.sentry.integration" not in lean  # integration imports lean, not back
