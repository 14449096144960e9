"""The call site of a query: the first frame outside Django, opskit, asgiref and the stdlib.

Computed only when something is reported (a slow query, a repeat reaching
the N+1 threshold), by walking ``sys._getframe()``; whether a file is
"library" is cached per filename, so a walk costs a few dictionary probes
per frame.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from types import FrameType

__all__ = ["CallSite", "call_site", "format_site"]

#: (filename, line number, function name)
CallSite = tuple[str, int, str]

_skip_cache: dict[str, bool] = {}
_prefixes: tuple[str, ...] | None = None


def _library_prefixes() -> tuple[str, ...]:
    import asgiref
    import django

    import opskit

    dirs = {
        os.path.dirname(django.__file__),
        os.path.dirname(opskit.__file__),
        os.path.dirname(asgiref.__file__),
    }
    for key in ("stdlib", "platstdlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            dirs.add(path)
    dirs.add(os.path.dirname(os.__file__))
    out = set()
    for d in dirs:
        out.add(os.path.join(d, ""))
        out.add(os.path.join(os.path.realpath(d), ""))
    return tuple(sorted(out))


def _is_library(filename: str) -> bool:
    global _prefixes
    if _prefixes is None:
        _prefixes = _library_prefixes()
    if filename.startswith("<"):  # <frozen ...>, <string>
        return True
    if "site-packages" in filename or "dist-packages" in filename:
        # A stdlib path prefix would otherwise swallow every installed package.
        if filename.startswith(_prefixes):
            return not _site_package_outside(filename)
        return False
    return filename.startswith(_prefixes)


def _site_package_outside(filename: str) -> bool:
    """True for an installed package that is not Django/opskit/asgiref."""
    for name in ("django", "opskit", "asgiref"):
        if f"{os.sep}{name}{os.sep}" in filename:
            return False
    return True


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
            skip = _is_library(filename)
            if len(cache) < 4096:
                cache[filename] = skip
        if not skip:
            return (filename, frame.f_lineno, code.co_name)
        frame = frame.f_back
    return None


def format_site(site: CallSite | None) -> str | None:
    """``path:line in function``, the path relative to the working directory."""
    if site is None:
        return None
    filename, lineno, func = site
    try:
        rel = os.path.relpath(filename)
        if not rel.startswith(".."):
            filename = rel
    except ValueError:  # another drive on Windows
        pass
    return f"{filename}:{lineno} in {func}"


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
