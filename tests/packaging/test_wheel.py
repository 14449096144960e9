"""The wheel a user installs, in a project a user creates, set up as the README says.

One module-scoped build: the sdist and the wheel with the standard frontend
(``python -m build``: the wheel is built from the sdist, so a file missing
from the sdist shows), ``twine check``, then the wheel (not editable) with
its ``all`` extra in a fresh venv, ``django-admin startproject``, and the
README's quickstart blocks appended to its files exactly as printed.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.packaging.quickstart import ROOT, quickstart
from tools.services import free_port

DIST = "django-opskit"


@dataclass
class Project:
    venv: Path
    root: Path  # the directory holding manage.py
    wheel: Path

    @property
    def python(self) -> str:
        return str(self.venv / "bin" / "python")

    @property
    def settings(self) -> Path:
        return self.root / "mysite" / "settings.py"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "OPSKIT_"))}
        env.pop("PYTHONPATH", None)
        return {**env, "PYTHONUNBUFFERED": "1", "PATH": f"{self.venv / 'bin'}:{env['PATH']}"}

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            args,
            cwd=self.root,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"{result.args}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    tmp = tmp_path_factory.mktemp("packaging")
    dist = tmp / "dist"
    _ok(
        subprocess.run(
            [sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    )
    [sdist] = dist.glob("*.tar.gz")
    [wheel] = dist.glob("*.whl")
    _ok(
        subprocess.run(
            [sys.executable, "-m", "twine", "check", "--strict", str(sdist), str(wheel)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    )
    venv = tmp / "venv"
    # No pip of its own (ensurepip costs seconds): this interpreter's pip
    # installs into it (`pip --python`).
    _ok(
        subprocess.run(
            [sys.executable, "-m", "venv", "--without-pip", str(venv)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    )
    q = quickstart()
    # The README's line, with the wheel in place of the index's name.
    assert re.fullmatch(r'pip install "django-opskit\[all\]"', q.install), q.install
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python")]
    pip += ["--disable-pip-version-check", "-q"]
    _ok(
        subprocess.run(
            [*pip, "install", f"{wheel}[all]", "gunicorn", "uvicorn"],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    )
    root = tmp / "site"
    root.mkdir()
    p = Project(venv, root, wheel)
    _ok(p.run(str(venv / "bin" / "django-admin"), "startproject", "mysite", "."))
    with p.settings.open("a") as f:
        f.write("\n" + q.settings)
    with (root / "mysite" / "urls.py").open("a") as f:
        f.write("\n" + q.urls)
    return p


def test_the_wheel_is_django_opskit(project: Project) -> None:
    with zipfile.ZipFile(project.wheel) as whl:
        [meta] = [n for n in whl.namelist() if n.endswith(".dist-info/METADATA")]
        text = whl.read(meta).decode()
        names = whl.namelist()
    assert re.search(r"^Name: django-opskit$", text, re.M)
    assert re.search(r"^Provides-Extra: all$", text, re.M)
    assert "Project-URL: Documentation, " in text and "License-Expression: MIT" in text
    assert "opskit/py.typed" in names and "opskit/apps.py" in names
    assert not [n for n in names if n.startswith(("tests/", "demo_project/", "bench/"))]
    # Installed as itself, not editable: the import comes from site-packages.
    out = _ok(
        project.run(
            project.python,
            "-c",
            "import opskit, importlib.metadata as m; "
            "print(opskit.__file__); print(m.version('django-opskit'))",
        )
    )
    where, version = out.split()
    assert "site-packages" in where and str(ROOT) not in where
    assert version in project.wheel.name


@dataclass
class Server:
    process: subprocess.Popen[str]
    port: int
    log: Path

    def get(self, path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def output(self) -> str:
        return self.log.read_text()

    def wait(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"the server exited:\n{self.output()}"
            try:
                if self.get("/livez")[0] == 200:
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"no answer on /livez in {timeout} s:\n{self.output()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _start(project: Project, *command: str, name: str, port: int = 0) -> Server:
    log = project.root / f"{name}.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            command,
            cwd=project.root,
            env=project.env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    if not port:  # runserver and gunicorn: the last argument is host:port
        port = int(command[-1].rsplit(":", 1)[1])
    return Server(process, port, log)


def _runserver(project: Project) -> Server:
    port = free_port()
    return _start(
        project,
        project.python,
        "manage.py",
        "runserver",
        "--noreload",
        f"127.0.0.1:{port}",
        name="runserver",
    )


def _gunicorn(project: Project) -> Server:
    port = free_port()
    return _start(
        project,
        str(project.venv / "bin" / "gunicorn"),
        "--workers",
        "1",
        "mysite.wsgi",
        "--bind",
        f"127.0.0.1:{port}",
        name="gunicorn",
    )


@pytest.fixture
def served(project: Project) -> Iterator[Server]:
    q = quickstart()
    # The README's commands, in order: `check`, then the server.
    assert q.commands == ["python manage.py check", "python manage.py runserver"]
    checked = project.run(project.python, "manage.py", "check")
    assert checked.returncode == 0, checked.stderr
    assert "System check identified no issues" in checked.stdout
    _ok(project.run(project.python, "manage.py", "migrate", "--noinput", "-v", "0"))
    server = _runserver(project)
    try:
        server.wait()
        yield server
    finally:
        server.stop()


def _json_lines(text: str) -> list[dict[str, object]]:
    out = []
    for line in text.splitlines():
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def test_the_readme_quickstart_serves_logs_probes_and_metrics(served: Server) -> None:
    status, headers, body = served.get("/admin/login/", **{"X-Request-ID": "readme-check-0001"})
    assert status == 200 and b"Django" in body
    assert headers["X-Request-ID"] == "readme-check-0001"
    status, _, body = served.get("/livez")
    assert status == 200 and json.loads(body)["status"] == "pass"
    status, _, body = served.get("/readyz")
    assert status == 200 and json.loads(body)["status"] in ("pass", "warn")
    status, _, body = served.get("/metrics")
    assert status == 200 and b"http_server_request_duration_seconds_count{" in body
    assert b'http_route="admin/login/"' in body
    deadline = time.monotonic() + 10
    while True:
        lines = [
            line
            for line in _json_lines(served.output())
            if line.get("request_id") == "readme-check-0001"
        ]
        if lines or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    [line] = lines
    assert line["logger"] == "opskit.request"
    assert line["http.response.status_code"] == 200 and line["url.path"] == "/admin/login/"
    assert line["http.route"] == "admin/login/"


def _append_settings(project: Project, text: str) -> str:
    before = project.settings.read_text()
    project.settings.write_text(before + "\n" + text + "\n")
    return before


def _fails_at_startup(server: Server) -> str:
    try:
        server.process.wait(30)
    except subprocess.TimeoutExpired:
        server.stop()
        raise AssertionError(f"the server started:\n{server.output()}") from None
    assert server.process.returncode != 0
    return server.output()


def test_middleware_without_the_app_stops_every_server(project: Project) -> None:
    before = _append_settings(project, 'INSTALLED_APPS.remove("opskit")')
    try:
        for start in (_runserver, _gunicorn):
            output = _fails_at_startup(start(project))
            assert "ImproperlyConfigured" in output, output
            assert "'opskit' is not in INSTALLED_APPS" in output
            assert 'Fix: INSTALLED_APPS += ["opskit"]' in output
    finally:
        project.settings.write_text(before)


def _uvicorn(project: Project) -> Server:
    port = free_port()
    return _start(
        project,
        str(project.venv / "bin" / "uvicorn"),
        "mysite.asgi:application",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        name="uvicorn",
        port=port,
    )


@pytest.mark.parametrize("start", [_gunicorn, _uvicorn], ids=["gunicorn", "uvicorn"])
def test_a_bad_setting_is_logged_at_startup_with_its_id(project: Project, start: Any) -> None:
    before = _append_settings(project, 'OPSKIT = {"TRUSTED_PROXIES": ["10.0.0.0/33"]}')
    server = start(project)
    try:
        server.wait()
        errors = [
            line
            for line in _json_lines(server.output())
            if line.get("level") == "ERROR" and line.get("logger") == "opskit.checks"
        ]
    finally:
        server.stop()
        project.settings.write_text(before)
    [error] = errors
    assert str(error["message"]).startswith("opskit.E003: OPSKIT TRUSTED_PROXIES")
    assert "10.0.0.0/33" in str(error["message"]) and "HINT:" in str(error["message"])


def test_the_docs_test_helper_example_runs_as_printed(tmp_path: Path) -> None:
    """docs/queries.md's pytest example, run by pytest-django as a user would."""
    from tests.docs.util import code_blocks

    [(page, line, source)] = [
        b
        for b in code_blocks("python")
        if "def test_book_list" in b[2] and "assert_max_queries" in b[2]
    ]
    (tmp_path / "test_books.py").write_text(source)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "OPSKIT_TEST_DB": "sqlite",
        # pytest-django only: the suite's other plugins cost seconds to load.
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "pytest_django.plugin",
            "-c",
            os.devnull,
            "--rootdir",
            str(tmp_path),
            str(tmp_path / "test_books.py"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, f"{page}:{line}:\n{result.stdout}\n{result.stderr}"
    assert "1 passed" in result.stdout
