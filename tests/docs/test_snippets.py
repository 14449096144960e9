"""The code in the docs runs against the code in opskit/, so the two cannot drift.

Every ```python block compiles; every ``OPSKIT = {...}`` in one validates
with no problem; every ``import`` of opskit in one imports; every ```yaml and
```json block parses.  Use a ```text fence for a deliberate fragment.
"""

from __future__ import annotations

import ast
import doctest
import importlib
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import yaml
from django.utils.module_loading import import_string

from opskit import conf

from .util import ROOT, code_blocks

Block = tuple[Path, int, str]


def _compiles(block: Block) -> str | None:
    page, line, source = block
    try:
        compile(source, f"{page}:{line}", "exec")
    except SyntaxError as exc:
        return f"{page}:{line + (exc.lineno or 1)}: {exc.msg} (use ```text for a fragment)"
    return None


def _python() -> list[Block]:
    return [b for b in code_blocks("python") if _compiles(b) is None]


def test_every_python_block_compiles() -> None:
    blocks = code_blocks("python")
    assert len(blocks) >= 10, "the docs lost their Python examples"
    errors = [e for b in blocks if (e := _compiles(b))]
    assert not errors, "\n".join(errors)


def _opskit_values(source: str) -> list[ast.expr]:
    return [
        node.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "OPSKIT" for t in node.targets)
    ]


def test_every_opskit_example_validates(monkeypatch: Any) -> None:
    # Examples read secrets from the environment; give them something.
    monkeypatch.setenv("SENTRY_DSN", "https://key@sentry.example.invalid/1")
    monkeypatch.setenv("OPSKIT_METRICS_TOKEN", "a-long-random-token-for-the-docs-test")
    monkeypatch.setenv("OPSKIT_HEALTH_TOKEN", "another-long-random-token-for-the-test")
    checked = 0
    errors: list[str] = []
    for page, line, source in _python():
        for value in _opskit_values(source):
            try:
                raw = eval(compile(ast.Expression(value), str(page), "eval"), {"os": os})
            except Exception as exc:
                errors.append(f"{page}:{line + value.lineno - 1}: cannot evaluate: {exc!r}")
                continue
            _, problems = conf.validate(raw)
            checked += 1
            if problems:
                errors.append(f"{page}:{line + value.lineno - 1}: {problems}")
    assert checked >= 3, "the docs lost their OPSKIT examples"
    assert not errors, "OPSKIT examples in the docs that opskit.conf rejects:\n" + "\n".join(errors)


def _is_opskit_import(node: ast.AST) -> bool:
    if isinstance(node, ast.ImportFrom):
        return (node.module or "").split(".")[0] == "opskit"
    if isinstance(node, ast.Import):
        return any(a.name.split(".")[0] == "opskit" for a in node.names)
    return False


def test_every_opskit_import_in_the_docs_works() -> None:
    statements = [
        (page, line + node.lineno - 1, ast.unparse(node))
        for page, line, source in _python()
        for node in ast.walk(ast.parse(source))
        if _is_opskit_import(node)
    ]
    assert statements, "the docs lost their opskit imports"
    errors = []
    for page, line, source in statements:
        try:
            exec(compile(source, f"{page}:{line}", "exec"), {})
        except ImportError as exc:
            errors.append(f"{page}:{line}: {source!r}: {exc}")
    assert not errors, "imports in the docs that fail:\n" + "\n".join(errors)


DOTTED_RE = re.compile(r"opskit(?:\.[A-Za-z_][A-Za-z0-9_]*)+")


def _logger_names() -> set[str]:
    """Logger names opskit uses: they look like dotted paths but are not."""
    names = {"opskit"}
    for path in (ROOT / "opskit").rglob("*.py"):
        names |= set(re.findall(r'getLogger\(\s*"(opskit[\w.]*)"', path.read_text()))
    settings = conf.Settings()
    names |= {section.LOGGER for section in vars(settings).values() if hasattr(section, "LOGGER")}
    return names


def test_logger_names_in_the_docs_are_real() -> None:
    """Every `opskit.*` logger named in a table of log-fields.md is one opskit uses."""
    text = (ROOT / "docs" / "log-fields.md").read_text()
    named = set(
        re.findall(r"^\| `(opskit(?:\.[a-z_]+)*)` \| (?:DEBUG|INFO|WARNING|ERROR) \|", text, re.M)
    )
    assert named, "log-fields.md lost its table of loggers"
    assert named - _logger_names() == set()


def test_every_opskit_dotted_path_in_the_docs_resolves() -> None:
    """Strings such as "opskit.middleware.OpsKitMiddleware" name something real."""
    paths = {
        (page, node.value)
        for page, _, source in _python()
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and DOTTED_RE.fullmatch(node.value)
    }
    assert paths, "the docs lost their dotted paths"
    errors = []
    loggers = _logger_names()
    for page, path in sorted(paths):
        if path in loggers:
            continue
        try:
            importlib.import_module(path)
        except ImportError:
            try:
                import_string(path)
            except ImportError as exc:
                errors.append(f"{page}: {path!r}: {exc}")
    assert not errors, "dotted paths in the docs that do not resolve:\n" + "\n".join(errors)


def test_every_yaml_and_json_block_parses() -> None:
    blocks = [("yaml", b) for b in code_blocks("yaml")] + [("json", b) for b in code_blocks("json")]
    assert blocks, "the docs lost their YAML examples"
    errors = []
    for lang, (page, line, source) in blocks:
        try:
            docs = [json.loads(source)] if lang == "json" else list(yaml.safe_load_all(source))
        except Exception as exc:
            errors.append(f"{page}:{line}: {exc}")
            continue
        if not docs or any(d is None for d in docs):
            errors.append(f"{page}:{line}: an empty {lang} document")
    assert not errors, "\n".join(errors)


def test_every_pycon_example_runs() -> None:
    """```pycon blocks are doctests: their output is what opskit prints today."""
    blocks = code_blocks("pycon")
    assert blocks, "the docs lost their interactive examples"
    parser = doctest.DocTestParser()
    failures = []
    for page, line, source in blocks:
        test = parser.get_doctest(source, {}, str(page), str(page), line)
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
        out: list[str] = []
        result = runner.run(test, out=out.append)
        assert result.attempted, f"{page}:{line}: a pycon block with no example"
        if result.failed:
            failures.append("".join(out))
    assert not failures, "\n".join(failures)


def test_every_shell_block_is_valid_bash(tmp_path: Path) -> None:
    """```sh blocks at least parse (`bash -n`): no unbalanced quotes or heredocs."""
    blocks = code_blocks("sh")
    assert len(blocks) >= 5, "the docs lost their shell examples"
    errors = []
    for i, (page, line, source) in enumerate(blocks):
        script = tmp_path / f"block{i}.sh"
        script.write_text(source + "\n")
        result = subprocess.run(
            ["bash", "-n", str(script)], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            errors.append(f"{page}:{line}: {result.stderr.strip()}")
    assert not errors, "\n".join(errors)


# -- pasting the docs into a project (issue 15) ----------------------------------

_PAGES_FOR_USERS = [ROOT / "README.md", ROOT / "demo_project" / "README.md"]


def _every_page() -> list[Path]:
    from .util import doc_pages

    return [*doc_pages(), *_PAGES_FOR_USERS]


def test_every_install_command_names_the_distribution() -> None:
    """`opskit` on PyPI is somebody else's CLI: pip must be told `django-opskit`."""
    wrong = re.compile(r"""pip install (?:-\S+ )*["']?opskit\b|(?<![\w-])["']?opskit\[""")
    errors = [
        f"{page.relative_to(ROOT)}:{n}: {line.strip()}"
        for page in [*_every_page(), ROOT / "Dockerfile"]
        for n, line in enumerate(page.read_text().splitlines(), 1)
        if wrong.search(line)
    ]
    assert not errors, "install the distribution, django-opskit:\n" + "\n".join(errors)
    text = "\n".join(p.read_text() for p in _every_page())
    assert text.count('pip install "django-opskit[all]"') >= 4


def _list_assignments(source: str) -> list[tuple[int, str, ast.AST]]:
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id in _USER_LISTS:
                    out.append((node.lineno, target.id, node.value))
    return out


_USER_LISTS = {"INSTALLED_APPS", "MIDDLEWARE", "urlpatterns"}


def test_settings_snippets_extend_the_users_lists() -> None:
    """A snippet never replaces INSTALLED_APPS, MIDDLEWARE or urlpatterns.

    Pasted over a `startproject` file, a complete list drops the admin (check
    fails: admin.E409) or XFrameOptionsMiddleware.  `+=`, `[..., *MIDDLEWARE]`
    or the `[..., "opskit"]` shorthand keep what the project has.
    """
    errors = []
    blocks = _python() + [
        (ROOT / "README.md", 0, body)
        for body in re.findall(
            r"^```python\n(.*?)^```", (ROOT / "README.md").read_text(), re.M | re.S
        )
    ]
    for page, line, source in blocks:
        for lineno, name, value in _list_assignments(source):
            keeps = isinstance(value, ast.List) and any(
                isinstance(e, ast.Starred) or (isinstance(e, ast.Constant) and e.value is Ellipsis)
                for e in value.elts
            )
            if not keeps:
                errors.append(f"{page}:{line + lineno}: {name} = [...] replaces the user's list")
    assert not errors, "\n".join(errors)


def test_the_readme_quickstart_is_complete() -> None:
    from tests.packaging.quickstart import quickstart

    q = quickstart()
    assert q.install.startswith('pip install "django-opskit[all]"')
    tree = ast.parse(q.settings)
    assigned = {
        t.id
        for node in ast.walk(tree)
        if isinstance(node, (ast.Assign, ast.AugAssign))
        for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(t, ast.Name)
    }
    # LOGGING too: without it the README's promised request line never appears.
    assert {"INSTALLED_APPS", "MIDDLEWARE", "OPSKIT", "LOGGING"} <= assigned
    assert 'include("opskit.urls")' in q.urls
    assert "python manage.py check" in q.commands


def test_the_request_id_rule_is_stated_where_ids_are_introduced() -> None:
    from opskit.ids import REQUEST_ID_RE

    assert REQUEST_ID_RE.pattern == r"[A-Za-z0-9._:=;-]{8,128}", "update the docs with the rule"
    for page in ("README.md", "docs/quickstart.md", "docs/logging.md", "docs/log-fields.md"):
        text = (ROOT / page).read_text()
        assert "[A-Za-z0-9._:=;-]" in text, page
        assert "8–128" in text or "{8,128}" in text, page
