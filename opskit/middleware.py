"""The core middleware: one record per request, read by every capability.

Put it first in ``MIDDLEWARE`` (above ``SecurityMiddleware``): it starts the
clock before anything else runs, answers health probes before
``ALLOWED_HOSTS`` and redirects can refuse them, and sees the final response.

It is sync and async capable.  Under ASGI it runs as a coroutine with no
``sync_to_async`` hop of its own; its hooks are plain, quick functions.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from functools import lru_cache
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import FileResponse, HttpRequest, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils.functional import LazyObject, empty

from . import context
from .apps import require_app
from .client import client_of
from .conf import get_settings, on_reload
from .context import ROOT_ROUTE, UNMATCHED_ROUTE
from .extensions import Pipeline, get_extensions, report_internal_error
from .ids import new_request_id, parse_traceparent, valid_request_id

__all__ = ["KNOWN_METHODS", "ROOT_ROUTE", "UNMATCHED_ROUTE", "OpsKitMiddleware", "normalize_method"]

#: Methods kept as-is; anything else becomes ``_OTHER`` (OpenTelemetry).
KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
)


def normalize_method(method: str | None) -> str:
    return method if method in KNOWN_METHODS else "_OTHER"  # type: ignore[return-value]


def _require_app() -> None:
    """Without the app nothing installs the query hook, the checks or the
    signal receivers: requests would be logged with 0 queries and no N+1,
    silently.  Django builds the middleware chain when the server loads the
    WSGI/ASGI application, so this stops the server at startup."""
    require_app(
        "opskit.middleware.OpsKitMiddleware is in MIDDLEWARE",
        "query counts, N+1 reports and opskit's system checks would be missing",
    )


GetResponse = Callable[[HttpRequest], HttpResponseBase]
AsyncGetResponse = Callable[[HttpRequest], Awaitable[HttpResponseBase]]


class OpsKitMiddleware:
    """Create the per-request record and run the enabled capabilities."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: GetResponse | AsyncGetResponse) -> None:
        _require_app()
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)
            # Django wraps a sync process_view in sync_to_async under ASGI;
            # an async one on the instance avoids that hop.
            self.process_view = self._aprocess_view  # type: ignore[method-assign,assignment]

    # -- request lifecycle -------------------------------------------------

    def _begin(self, request: HttpRequest) -> tuple[context.RequestRecord, Pipeline]:
        meta = request.META
        header_key = _request_id_meta_key()
        incoming = meta.get(header_key) if header_key else None
        request_id = valid_request_id(incoming) if incoming is not None else None
        method = request.method
        record = context.RequestRecord(
            request_id or new_request_id(),
            method if method in KNOWN_METHODS else "_OTHER",  # normalize_method(), inline
            request.path_info,
        )
        record.client_address, record.client_proven = client_of(meta)
        traceparent = meta.get("HTTP_TRACEPARENT")
        if traceparent is not None:
            parsed = parse_traceparent(traceparent)
            if parsed is not None:
                record.trace_id, record.span_id = parsed
        request.opskit = record  # type: ignore[attr-defined]
        return record, get_extensions()

    def _started(
        self, record: context.RequestRecord, request: HttpRequest, pipeline: Pipeline
    ) -> HttpResponseBase | None:
        _request_started(record, request, pipeline)
        for ext in pipeline.intercept:
            try:
                response = ext.intercept(record, request)
            except Exception as exc:
                report_internal_error(f"{type(ext).__name__}.intercept", exc)
                continue
            if response is not None:
                return response
        return None

    async def _astarted(
        self, record: context.RequestRecord, request: HttpRequest, pipeline: Pipeline
    ) -> HttpResponseBase | None:
        """``_started`` for ASGI: a native ``aintercept`` is awaited."""
        _request_started(record, request, pipeline)
        for ext in pipeline.intercept:
            try:
                if ext in pipeline.aintercept:
                    response = await ext.aintercept(record, request)
                else:
                    response = ext.intercept(record, request)
            except Exception as exc:
                report_internal_error(f"{type(ext).__name__}.intercept", exc)
                continue
            if response is not None:
                return response
        return None

    def _respond(
        self,
        record: context.RequestRecord,
        request: HttpRequest,
        response: HttpResponseBase,
        pipeline: Pipeline,
    ) -> HttpResponseBase:
        record.status = response.status_code
        if record.route is None:
            _set_route(record, request)
        _set_user(record, request)
        try:
            response[get_settings().REQUEST_ID_HEADER] = record.request_id
        except Exception as exc:  # a bad header name in settings
            report_internal_error("request id header", exc)
        for ext in pipeline.response:
            try:
                ext.process_response(record, request, response)
            except Exception as exc:
                report_internal_error(f"{type(ext).__name__}.process_response", exc)
        if response.streaming:
            _wrap_streaming(self, record, request, response, pipeline)
        else:
            if not isinstance(response, _NO_LENGTH):
                try:
                    record.response_size = len(response.content)  # type: ignore[attr-defined]
                except Exception:
                    record.response_size = None
            self._finished(record, request, response, pipeline)
        return response

    def _finished(
        self,
        record: context.RequestRecord,
        request: HttpRequest,
        response: HttpResponseBase | None,
        pipeline: Pipeline,
    ) -> None:
        record.finish()
        for ext in pipeline.finished:
            try:
                ext.request_finished(record, request, response)
            except Exception as exc:
                report_internal_error(f"{type(ext).__name__}.request_finished", exc)

    def _failed(
        self,
        record: context.RequestRecord,
        request: HttpRequest,
        exc: BaseException,
        pipeline: Pipeline,
    ) -> None:
        record.status = 500
        if record.error_type is None:
            record.error_type = type(exc).__qualname__
        if record.route is None:
            _set_route(record, request)
        _set_user(record, request)
        self._finished(record, request, None, pipeline)

    def __call__(self, request: HttpRequest) -> Any:
        if self.async_mode:
            return self.__acall__(request)
        record, pipeline = self._begin(request)
        token = _set_record(record)
        try:
            response = (
                self._started(record, request, pipeline)
                if pipeline.started or pipeline.intercept
                else None
            )
            if response is None:
                try:
                    response = self.get_response(request)  # type: ignore[assignment]
                except BaseException as exc:
                    self._failed(record, request, exc, pipeline)
                    raise
            return self._respond(record, request, response, pipeline)  # type: ignore[arg-type]
        finally:
            try:
                _reset(token)
            except ValueError:  # reset from another context: clearing is equivalent
                _set_record(None)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        record, pipeline = self._begin(request)
        token = _set_record(record)
        try:
            response = (
                await self._astarted(record, request, pipeline)
                if pipeline.started or pipeline.intercept
                else None
            )
            if response is None:
                try:
                    response = await self.get_response(request)  # type: ignore[misc]
                except BaseException as exc:
                    self._failed(record, request, exc, pipeline)
                    raise
            return self._respond(record, request, response, pipeline)
        finally:
            try:
                _reset(token)
            except ValueError:
                _set_record(None)

    # -- Django's hooks ------------------------------------------------------

    def process_view(
        self, request: HttpRequest, view_func: Any, view_args: Any, view_kwargs: Any
    ) -> None:
        """The route is known once the URL resolved."""
        record = getattr(request, "opskit", None)
        if record is not None:
            _set_route(record, request)

    async def _aprocess_view(
        self, request: HttpRequest, view_func: Any, view_args: Any, view_kwargs: Any
    ) -> None:
        record = getattr(request, "opskit", None)
        if record is not None:
            _set_route(record, request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        """Note the view's exception type; Django turns it into the 500."""
        record = getattr(request, "opskit", None)
        if record is not None:
            record.error_type = type(exception).__qualname__


_set_record = context.record_var.set
_reset = context.record_var.reset


@lru_cache(maxsize=1)
def _request_id_meta_key() -> str | None:
    """The META key of the incoming id header, or None when ids aren't trusted."""
    s = get_settings()
    if not s.TRUST_REQUEST_ID:
        return None
    return "HTTP_" + s.REQUEST_ID_HEADER.upper().replace("-", "_")


on_reload(_request_id_meta_key.cache_clear)


def _request_started(
    record: context.RequestRecord, request: HttpRequest, pipeline: Pipeline
) -> None:
    for ext in pipeline.started:
        try:
            ext.request_started(record, request)
        except Exception as exc:
            report_internal_error(f"{type(ext).__name__}.request_started", exc)


def _set_route(record: context.RequestRecord, request: HttpRequest) -> None:
    match = getattr(request, "resolver_match", None)
    if match is None:
        record.route = UNMATCHED_ROUTE
        return
    # Django's templates have no leading slash, so the site root's is "":
    # report it as "/" rather than as a missing route.
    record.route = match.route or ROOT_ROUTE
    record.view = match.view_name or match._func_path


def _loaded_user(request: HttpRequest) -> Any:
    """The user the request already loaded, or None: never loads it.

    Reading ``request.user`` here would cost a session and a user query on
    views that never needed it.  Loaded means: ``request.user`` evaluated
    (``_cached_user``), ``await request.auser()`` (``_acached_user``, Django
    5+), or a user object put on the request itself (DRF, token-auth
    middlewares, opskit's own async rate limiter).
    """
    attrs = request.__dict__
    user = attrs.get("_cached_user")
    if user is None:
        user = attrs.get("_acached_user")
    if user is None:
        user = attrs.get("user")
        if isinstance(user, LazyObject):
            # Past LazyObject's Python ``__getattribute__``: the same slot.
            wrapped = object.__getattribute__(user, "_wrapped")
            user = None if wrapped is empty else wrapped
    return user


def _set_user(record: context.RequestRecord, request: HttpRequest) -> None:
    user = _loaded_user(request)
    if user is None:
        return
    try:  # a custom user model's properties are not ours to trust
        if user.is_authenticated:
            record.user_id = str(user.pk)
    except Exception:
        record.user_id = None


#: FileResponse and friends have no cheap content length.
_NO_LENGTH: tuple[type, ...] = (FileResponse, StreamingHttpResponse)


def _wrap_streaming(
    mw: OpsKitMiddleware,
    record: context.RequestRecord,
    request: HttpRequest,
    response: HttpResponseBase,
    pipeline: Pipeline,
) -> None:
    """Finish the record after the last chunk, not when headers leave."""
    if getattr(response, "file_to_stream", None) is not None:
        # FileResponse: keep the server's sendfile path; finish on close().
        closers = getattr(response, "_resource_closers", None)
        if isinstance(closers, list):
            closers.append(lambda: mw._finished(record, request, response, pipeline))
            return
    content = response.streaming_content  # type: ignore[attr-defined]
    size = 0
    if getattr(response, "is_async", False):

        async def agen() -> AsyncIterator[bytes]:
            nonlocal size
            try:
                async for chunk in content:
                    size += len(chunk)
                    yield chunk
            finally:
                record.response_size = size
                mw._finished(record, request, response, pipeline)

        response.streaming_content = agen()  # type: ignore[attr-defined]
    else:

        def gen() -> Iterator[bytes]:
            nonlocal size
            try:
                for chunk in content:
                    size += len(chunk)
                    yield chunk
            finally:
                record.response_size = size
                mw._finished(record, request, response, pipeline)

        response.streaming_content = gen()  # type: ignore[attr-defined]
