"""Call sites name the application's line, past any installed package between it and the ORM."""

from __future__ import annotations

import importlib
import os
import shutil
import sys
import sysconfig
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from django.test import Client, override_settings

from opskit.queries import assert_no_n_plus_one, monitor
from opskit.queries.callsite import installed_prefixes, is_installed
from tests.testapp.models import Book

from .conftest import site_of

HERE = Path(__file__)
DRF_VIEWS = HERE.with_name("drf_views.py")


def test_installed_code_comes_from_sysconfig_and_site() -> None:
    import django
    import rest_framework

    import opskit

    purelib = sysconfig.get_paths()["purelib"]
    assert os.path.join(purelib, "") in installed_prefixes()
    assert is_installed(django.__file__)
    assert is_installed(rest_framework.__file__)
    assert is_installed(os.__file__)
    assert is_installed(opskit.__file__)  # installed editable here: excluded by name
    assert is_installed("<frozen importlib._bootstrap>")
    assert not is_installed(__file__)  # tests/ is the application
    # A path merely containing "site-packages" is not installed code.
    assert not is_installed(str(HERE.parent / "site-packages" / "app.py"))


@pytest.mark.urls("tests.queries.drf_urls")
def test_drf_nested_serializer_reports_the_view_and_serializer_lines(
    library: None, events: dict[str, list[dict[str, Any]]]
) -> None:
    resp = Client().get("/drf/books/")
    assert resp.status_code == 200
    assert len(resp.json()) == 8
    sites = {e["call_site"] for e in events["n_plus_one"]}
    # book.author through the nested serializer: the view's line; book.tags
    # in a SerializerMethodField: the serializer's own line.
    assert sites == {site_of("drf_view", DRF_VIEWS), site_of("drf_method", DRF_VIEWS)}
    assert not any("site-packages" in s for s in sites)


@pytest.mark.urls("tests.queries.drf_urls")
def test_drf_call_site_in_the_test_helpers_message(library: None) -> None:
    with pytest.raises(AssertionError) as info, assert_no_n_plus_one():
        Client().get("/drf/books/")
    assert site_of("drf_view", DRF_VIEWS) in str(info.value)
    assert site_of("drf_method", DRF_VIEWS) in str(info.value)
    assert "site-packages" not in str(info.value)


@pytest.fixture
def installed_package() -> Iterator[ModuleType]:
    """A tiny package that wraps ORM access, installed into the venv's site-packages."""
    name = f"opskit_probe_{os.getpid()}"
    target = Path(sysconfig.get_paths()["purelib"]) / name
    target.mkdir()
    try:
        (target / "__init__.py").write_text(
            textwrap.dedent(
                '''
                def author_names(books):
                    """What an installed helper does: touch a relation per row."""
                    return [book.author.name for book in books]
                '''
            )
        )
        importlib.invalidate_caches()
        module = importlib.import_module(name)
        assert module.__file__ is not None and module.__file__.startswith(str(target))
        yield module
    finally:
        sys.modules.pop(name, None)
        shutil.rmtree(target, ignore_errors=True)


def _line_of(marker: str) -> str:
    return site_of(marker, HERE)


def test_an_installed_package_is_walked_past(
    library: None, installed_package: ModuleType, events: dict[str, list[dict[str, Any]]]
) -> None:
    with monitor("import-job"):
        installed_package.author_names(Book.objects.order_by("id"))  # site:pkg
    [found] = events["n_plus_one"]
    assert found["call_site"] == _line_of("pkg")


def test_app_paths_take_an_installed_package_back(
    library: None, installed_package: ModuleType, events: dict[str, list[dict[str, Any]]]
) -> None:
    package_dir = str(Path(str(installed_package.__file__)).parent)
    app_paths = {"QUERIES": {"CALL_SITE_APP_PATHS": [package_dir]}}
    with override_settings(OPSKIT=app_paths), monitor("import-job"):
        installed_package.author_names(Book.objects.order_by("id"))
    [found] = events["n_plus_one"]
    assert found["call_site"].startswith(os.path.relpath(str(installed_package.__file__)))
    assert (
        found["call_site"].endswith(" in <listcomp>") or " in author_names" in (found["call_site"])
    )


def test_library_paths_skip_vendored_code(
    library: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    events: dict[str, list[dict[str, Any]]],
) -> None:
    vendored = tmp_path / "vendor"
    vendored.mkdir()
    (vendored / "opskit_vendored_helper.py").write_text(
        "def titles(books):\n    return [b.author.name for b in books]\n"
    )
    monkeypatch.syspath_prepend(str(vendored))
    helper = importlib.import_module("opskit_vendored_helper")
    try:
        with monitor("job"):
            helper.titles(Book.objects.order_by("id"))
        library_paths = {"QUERIES": {"CALL_SITE_LIBRARY_PATHS": [str(vendored)]}}
        with override_settings(OPSKIT=library_paths), monitor("job"):
            helper.titles(Book.objects.order_by("id"))  # site:vendored
    finally:
        sys.modules.pop("opskit_vendored_helper", None)
    first, second = (e["call_site"] for e in events["n_plus_one"])
    assert "opskit_vendored_helper.py:2" in first
    assert second == _line_of("vendored")


def test_a_shown_path_follows_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each file's shown path is cached, made relative to the directory of the moment."""
    from opskit.queries.callsite import format_site

    app = tmp_path / "proj" / "app"
    app.mkdir(parents=True)
    views = str(app / "views.py")
    monkeypatch.chdir(tmp_path / "proj")
    assert format_site((views, 7, "index")) == "app/views.py:7 in index"
    assert format_site((views, 9, "detail")) == "app/views.py:9 in detail"  # the cached path
    monkeypatch.chdir(app)
    assert format_site((views, 7, "index")) == "views.py:7 in index"
    monkeypatch.chdir(tmp_path / "proj" / "..")
    assert format_site((views, 7, "index")) == "proj/app/views.py:7 in index"
    monkeypatch.chdir("/")
    elsewhere = format_site((views, 7, "index"))
    assert elsewhere == f"{views.lstrip('/')}:7 in index"
    monkeypatch.chdir(app / "..")
    sibling = str(tmp_path / "other" / "x.py")
    assert format_site((sibling, 1, "f")) == f"{sibling}:1 in f"  # outside: stays absolute
    assert format_site(None) is None

    def removed() -> str:
        raise FileNotFoundError(2, "No such file or directory")

    # A worker whose working directory was deleted (an old release) still reports.
    monkeypatch.setattr(os, "getcwd", removed)
    assert format_site((views, 7, "index")) == f"{views}:7 in index"
