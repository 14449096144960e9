"""The call site of a query: the first frame of the application's own code.

A frame is *installed code* when its file lies under the standard library,
any site-packages / dist-packages directory, the virtualenv's or the base
interpreter's prefix (all read from :mod:`sysconfig`, :mod:`site` and
:mod:`sys`, never guessed from path fragments), or opskit itself; every
other file is the application's.  ``QUERIES.CALL_SITE_LIBRARY_PATHS`` adds
prefixes (vendored code, a monorepo's shared packages) and
``QUERIES.CALL_SITE_APP_PATHS`` takes prefixes back (your own package
installed non-editable); the longest matching prefix decides.  So Django
REST framework, nplusone, sentry-sdk's wrappers or any other package between
the ORM and your code are walked past, and logs, Sentry and the test
helpers' messages all name the same line.

Computed only when something is reported (a slow query, a repeat reaching
the N+1 threshold), by walking ``sys._getframe()``; the verdict is cached
per code object's file, so a walk costs a dictionary probe per frame.
"""

from __future__ import annotations

import os
import site
import sys
import sysconfig
from types import CodeType, FrameType
from typing import Any

from ..conf import get_settings, on_reload

__all__ = [
    "CallSite",
    "call_site",
    "format_site",
    "in_error_reporter",
    "installed_prefixes",
    "is_installed",
]

#: (filename, line number, function name)
CallSite = tuple[str, int, str]

_skip_cache: dict[str, bool] = {}
#: (prefix with a trailing separator, is installed code), longest first.
_rules: tuple[tuple[str, bool], ...] | None = None


def _dir(path: str) -> str:
    """A directory with its trailing separator (a file stays a file)."""
    path = os.path.abspath(path)
    return path if os.path.isfile(path) else os.path.join(path, "")


def installed_prefixes() -> set[str]:
    """Directories whose files are never the application's (with a trailing separator)."""
    import opskit

    dirs: set[str] = {os.path.dirname(opskit.__file__), os.path.dirname(os.__file__)}
    paths = sysconfig.get_paths()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        if paths.get(key):
            dirs.add(paths[key])
    try:
        dirs.update(site.getsitepackages())
    except AttributeError:  # pragma: no cover - very old virtualenv's site.py
        pass
    user_site = site.getusersitepackages()
    if user_site:
        dirs.add(user_site)
    dirs.update(p for p in {sys.prefix, sys.base_prefix, sys.exec_prefix} if p)
    out = set()
    for d in dirs:
        out.add(_dir(d))
        out.add(_dir(os.path.realpath(d)))
    return out


def _build_rules() -> tuple[tuple[str, bool], ...]:
    try:
        s = get_settings().QUERIES
        library, app = s.CALL_SITE_LIBRARY_PATHS, s.CALL_SITE_APP_PATHS
    except Exception:  # settings not configured (a script)
        library, app = [], []
    rules: dict[str, bool] = dict.fromkeys(installed_prefixes(), True)
    for paths, installed in ((library, True), (app, False)):
        for p in paths:
            if p:
                rules[_dir(p)] = installed
                rules[_dir(os.path.realpath(p))] = installed
    return tuple(sorted(rules.items(), key=lambda r: -len(r[0])))


def is_installed(filename: str) -> bool:
    """Whether ``filename`` is installed code (not the application's)."""
    global _rules
    if filename.startswith("<"):  # <frozen ...>, <string>
        return True
    rules = _rules
    if rules is None:
        rules = _rules = _build_rules()
    path = filename if os.path.isabs(filename) else os.path.abspath(filename)
    for prefix, installed in rules:  # longest first: the most specific wins
        if path.startswith(prefix):
            return installed
    return False


def _reset() -> None:
    global _rules
    _rules = None
    _skip_cache.clear()
    _shown.clear()


on_reload(_reset)


#: (sentry-sdk imported?, code objects), rebuilt once sentry-sdk is imported.
_reporter_codes: tuple[bool, frozenset[CodeType]] | None = None


def _reporters() -> frozenset[CodeType]:
    """Code objects of error reporters building a report from frame variables.

    Django's ``ExceptionReporter`` (the DEBUG 500 page, and the admin e-mail
    whose text Django 4.2 builds on every error even without ``ADMINS``) and,
    once it is imported, sentry-sdk's event building.
    """
    global _reporter_codes
    sentry = "sentry_sdk" in sys.modules
    cached = _reporter_codes
    if cached is not None and cached[0] is sentry:
        return cached[1]
    from django.views.debug import ExceptionReporter

    found: list[Any] = [ExceptionReporter.get_traceback_data]
    if sentry:
        try:
            import sentry_sdk
            from sentry_sdk.serializer import serialize
            from sentry_sdk.utils import event_from_exception

            found += [sentry_sdk.Client.capture_event, serialize, event_from_exception]
        except Exception:  # another sentry-sdk layout: nothing more to recognise
            pass
    codes = frozenset(f.__code__ for f in found if hasattr(f, "__code__"))
    _reporter_codes = (sentry, codes)
    return codes


def in_error_reporter(start: int = 1) -> bool:
    """Is an error reporter (sentry-sdk building an event, Django's) on the stack?

    Its queries (``repr()`` of frame variables, a lazy user) are not the
    application's.  sentry-sdk's wrappers around the view (tracing) are not
    event building and do not count.
    """
    codes = _reporters()
    if not codes:
        return False
    try:
        frame: FrameType | None = sys._getframe(start + 1)
    except ValueError:
        return False
    while frame is not None:
        if frame.f_code in codes:
            return True
        frame = frame.f_back
    return False


def call_site(start: int = 1) -> CallSite | None:
    """The innermost frame that belongs to the application, or ``None``."""
    try:
        frame: FrameType | None = sys._getframe(start + 1)
    except ValueError:
        return None
    cache = _skip_cache
    while frame is not None:
        code = frame.f_code
        filename = code.co_filename
        skip = cache.get(filename)
        if skip is None:
            skip = is_installed(filename)
            if len(cache) < 4096:
                cache[filename] = skip
        if not skip:
            return (filename, frame.f_lineno, code.co_name)
        frame = frame.f_back
    return None


#: Each file's path as reports show it, with the working directory it was
#: made relative to (``os.path.relpath`` is most of a report's call site).
_shown: dict[str, tuple[str, str]] = {}


def format_site(site: CallSite | None) -> str | None:
    """``path:line in function``, the path relative to the working directory."""
    if site is None:
        return None
    filename, lineno, func = site
    try:
        cwd = os.getcwd()
    except OSError:  # the directory was removed (an old release's workers)
        return f"{filename}:{lineno} in {func}"
    cached = _shown.get(filename)
    if cached is not None and cached[0] == cwd:
        return f"{cached[1]}:{lineno} in {func}"
    shown = filename
    try:
        rel = os.path.relpath(filename, cwd)
        if not rel.startswith(".."):
            shown = rel
    except ValueError:  # another drive on Windows
        pass
    if len(_shown) >= 4096:
        _shown.clear()
    _shown[filename] = (cwd, shown)
    return f"{shown}:{lineno} in {func}"


def site_matches(site: CallSite | None, entry: str) -> bool:
    """Does an ALLOW entry (``"path.py"`` or ``"path.py:42"``) name this site?"""
    if site is None or not entry:
        return False
    filename, lineno, _func = site
    path, _, line = entry.partition(":")
    if line and line != str(lineno):
        return False
    filename = filename.replace(os.sep, "/")
    path = path.replace(os.sep, "/")
    return filename == path or filename.endswith("/" + path.lstrip("/"))
