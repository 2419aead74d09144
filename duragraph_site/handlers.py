"""The API's own request path: a Django ASGI handler that costs one thread hop per request.

Why a second handler? Under ASGI, Django runs every synchronous ("MiddlewareMixin") middleware
by hopping to a worker thread and back, once for ``process_request`` and once more for
``process_response``; it also hops for the ``request_started`` signal, for the view, again to
render a DRF/template response and once more to close the response, and it starts a new thread
per request for all of that (``ThreadSensitiveContext``). The browser middleware (sessions, CSRF,
auth, messages, whitenoise, clickjacking...) is worth it for the admin; the JSON API uses none of
it (no cookies, no sessions: ``REST_FRAMEWORK`` has no authentication classes), and on two cores
those hops were most of a request's CPU (see docs/performance.md).

So ``duragraph_site.asgi`` routes the browser paths (:data:`BROWSER_SEGMENTS`) to Django's normal
``ASGIHandler`` with ``settings.MIDDLEWARE``, and every other HTTP path to :class:`APIHandler`,
whose middleware chain is ``settings.API_MIDDLEWARE``. Its contract:

- Every API middleware must be async-native (``async_capable``, a coroutine once built, and not
  a ``MiddlewareMixin`` left with its default, thread-hopping ``__acall__``): the handler
  refuses anything else at start-up, so no middleware can hop threads.
- A synchronous view (every DRF ``APIView``) runs in exactly one hop, on a thread pool with one
  thread per pooled database connection: ``request_started``, the middleware's synchronous
  ``process_view`` hooks, the view (atomically when ``ATOMIC_REQUESTS``), ``process_exception``
  hooks, ``process_template_response`` hooks, rendering, and for a non-streaming response
  ``response.close()`` (which sends ``request_finished``, so the thread's database connection
  goes back to the pool before the thread serves someone else). That is the WSGI lifecycle,
  run on one thread, as Django would run it under a WSGI server.
- Anything else (an async view, an async ``process_view``/``process_template_response`` hook, a
  streaming response) takes Django's own path and costs what it costs there.
- Like ``CommonMiddleware``, it validates the ``Host`` header against ``ALLOWED_HOSTS`` and sets
  ``Content-Length`` on non-streaming responses (keep-alive without chunked encoding).
- Every error it answers is JSON ``{"detail": ...}`` (``duragraph_site.api.errors``).

Both handlers read request bodies through :class:`RequestBodyMixin`: whole, whatever the framing
(``Content-Length`` or chunked), up to ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (``MAX_REQUEST_BYTES``),
and a 413 beyond it.

The async-native middleware for the API chain live here too: :class:`PrometheusBeforeMiddleware`,
:class:`PrometheusAfterMiddleware` and :class:`SecurityMiddleware` are django-prometheus' and
Django's own classes, whose hooks only count or set headers, called inline on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from asgiref.sync import SyncToAsync, iscoroutinefunction, sync_to_async
from corsheaders import middleware as cors
from django.conf import settings
from django.core import signals
from django.core.exceptions import (
    ImproperlyConfigured,
    MiddlewareNotUsed,
    RequestAborted,
    RequestDataTooBig,
)
from django.core.handlers import asgi
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.exception import convert_exception_to_response
from django.db import close_old_connections
from django.http import HttpResponse, HttpResponseBase
from django.middleware import security
from django.urls import set_script_prefix, set_urlconf
from django.utils.deprecation import MiddlewareMixin
from django.utils.log import log_response
from django.utils.module_loading import import_string
from django_prometheus import middleware as prometheus

from duragraph_site.api import errors
from events import context

if TYPE_CHECKING:
    from collections.abc import Callable

    from django.http import HttpRequest
    from django.urls import ResolverMatch

#: First path segments served by Django's full ``MIDDLEWARE`` chain (sessions, CSRF, auth,
#: whitenoise...): the admin, static files, the Swagger UI and the dashboard. ``/`` itself too.
BROWSER_SEGMENTS = frozenset({"admin", "static", "docs", "dashboard"})


def is_browser_path(path: str) -> bool:
    """Whether *path* (an ASGI ``path`` without ``root_path``) belongs to the browser handler."""
    segment = path[1:].partition("/")[0]
    return not segment or segment in BROWSER_SEGMENTS


logger = logging.getLogger("django.request")


def _declared_length(scope: dict) -> int | None:
    """The request's ``Content-Length`` header, or None (absent, chunked, or not a number)."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":  # ASGI header names are lowercase
            try:
                return int(value)
            except ValueError:
                return None
    return None


class _BodyTooLarge(RequestDataTooBig):
    """The body went past the limit while it was being read."""


class ASGIRequest(asgi.ASGIRequest):
    """Django's ASGI request, with ``CONTENT_LENGTH`` set when the client sent none.

    A chunked body (``Transfer-Encoding: chunked``, no ``Content-Length``) reaches the handler
    whole, but DRF (``Request._load_stream``) and Django's form parsing take a missing
    ``CONTENT_LENGTH`` for "no body" and would silently drop it. The handler has read the body
    to its end, so its size is known: it is what a ``Content-Length`` would have said.
    """

    def __init__(self, scope: dict, body_file: tempfile.SpooledTemporaryFile) -> None:
        super().__init__(scope, body_file)
        if "CONTENT_LENGTH" not in self.META:
            size = body_file.seek(0, os.SEEK_END)
            body_file.seek(0)
            if size:
                self.META["CONTENT_LENGTH"] = str(size)


class RequestBodyMixin:
    """For a Django ``ASGIHandler``: request bodies read whole, whatever their framing, and
    bounded by ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (the ``MAX_REQUEST_BYTES`` setting).

    A body declared larger than the limit (``Content-Length``) is refused before a byte of it is
    read; a chunked body is refused as soon as it goes past the limit, without reading (or
    spooling) the rest. Either way the answer is :meth:`body_too_large` (413) and no view runs,
    so nothing is written. (Django's own ``read_body`` spools the whole body to a temporary
    file first, and only ``request.body`` checks the size, and only a declared one.)

    Within the limit, the body is spooled as Django does (memory, then a temporary file past
    ``FILE_UPLOAD_MAX_MEMORY_SIZE``) and the request gets the ``CONTENT_LENGTH`` of what was
    read (:class:`ASGIRequest`).
    """

    request_class = ASGIRequest

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if scope["type"] == "http" and limit is not None:
            declared = _declared_length(scope)
            if declared is not None and declared > limit:
                await self._refuse_body(scope, send)
                return
        try:
            await super().__call__(scope, receive, send)  # type: ignore[misc]
        except _BodyTooLarge:  # from read_body: nothing was sent, no view ran
            await self._refuse_body(scope, send)

    async def read_body(self, receive: Callable) -> tempfile.SpooledTemporaryFile:
        """Django's ``read_body``, stopping with :class:`_BodyTooLarge` past the limit."""
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        body_file = tempfile.SpooledTemporaryFile(
            max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE, mode="w+b"
        )
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                body_file.close()
                raise RequestAborted()
            if chunk := message.get("body"):
                size += len(chunk)
                if limit is not None and size > limit:
                    body_file.close()
                    raise _BodyTooLarge()
                body_file.write(chunk)
            if not message.get("more_body", False):
                break
        body_file.seek(0)
        return body_file

    def body_too_large(self) -> HttpResponse:
        """The answer to a body over the limit: Django's own (``create_request``)."""
        return HttpResponse("413 Payload too large", status=413)

    async def _refuse_body(self, scope: dict, send: Callable) -> None:
        logger.warning("Payload Too Large: %s", scope["path"], extra={"status_code": 413})
        response = self.body_too_large()
        response["Content-Length"] = str(len(response.content))
        await self.send_response(response, send)  # type: ignore[attr-defined]


class BrowserHandler(RequestBodyMixin, ASGIHandler):
    """Django's ``ASGIHandler`` (``settings.MIDDLEWARE``, HTML errors) for the browser paths, with
    the API's body reading (:class:`RequestBodyMixin`)."""


class APIHandler(RequestBodyMixin, ASGIHandler):
    """Django's ``ASGIHandler`` with ``settings.API_MIDDLEWARE`` and one thread hop per request.

    See the module docstring for the contract. Thread pool size: the database pool's
    ``max_size`` (a thread holds at most one connection, so more threads would only wait).
    """

    middleware_setting = "API_MIDDLEWARE"

    def __init__(self) -> None:
        pool = settings.DATABASES["default"].get("OPTIONS", {}).get("pool")
        threads = pool.get("max_size", 20) if isinstance(pool, dict) else 20
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="api-view")
        # Built once: sync_to_async() per request would rebuild the wrapper each time.
        self._respond_in_thread = SyncToAsync(
            self._respond, thread_sensitive=False, executor=self._executor
        )
        super().__init__()

    # -- middleware ------------------------------------------------------------------------
    def load_middleware(self, is_async: bool = True) -> None:
        """Build the chain from ``API_MIDDLEWARE``; refuse middleware that would hop threads.

        Hooks are kept twice: raw (``_raw_*``, called on the view's thread by :meth:`_respond`)
        and adapted the way Django adapts them (for Django's own path, used by async views).
        """
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        self._raw_view_middleware: list[Callable[..., Any]] = []
        self._raw_template_response_middleware: list[Callable[..., Any]] = []
        self._async_hooks = False

        handler = convert_exception_to_response(self._get_response_async)
        for path in reversed(getattr(settings, self.middleware_setting)):
            factory = import_string(path)
            if not getattr(factory, "async_capable", False):
                raise ImproperlyConfigured(
                    f"{self.middleware_setting}: {path} is not async-capable; on the API path "
                    "it would cost two thread hops per request."
                )
            try:
                instance = factory(handler)
            except MiddlewareNotUsed:
                continue
            if instance is None:
                raise ImproperlyConfigured(f"Middleware factory {path} returned None.")
            if (
                isinstance(instance, MiddlewareMixin)
                and type(instance).__acall__ is MiddlewareMixin.__acall__
            ):
                raise ImproperlyConfigured(
                    f"{self.middleware_setting}: {path} runs its process_request/"
                    "process_response on a worker thread (two thread hops per request); if "
                    "they never block, add duragraph_site.handlers.InlineHooksMixin."
                )
            if not iscoroutinefunction(instance):
                raise ImproperlyConfigured(
                    f"{self.middleware_setting}: {path} did not build an async middleware "
                    "(markcoroutinefunction) around an async get_response."
                )
            if hasattr(instance, "process_view"):
                self._raw_view_middleware.insert(0, instance.process_view)
                self._view_middleware.insert(0, self.adapt_method_mode(True, instance.process_view))
            if hasattr(instance, "process_template_response"):
                hook = instance.process_template_response
                self._raw_template_response_middleware.append(hook)
                self._template_response_middleware.append(self.adapt_method_mode(True, hook))
            if hasattr(instance, "process_exception"):
                # Django's contract: exception hooks are synchronous, called on the view's thread.
                self._exception_middleware.append(
                    self.adapt_method_mode(False, instance.process_exception)
                )
            handler = convert_exception_to_response(instance)
        self._async_hooks = any(
            iscoroutinefunction(hook)
            for hook in self._raw_view_middleware + self._raw_template_response_middleware
        )
        self._middleware_chain = handler

    # -- request lifecycle -----------------------------------------------------------------
    async def handle(self, scope: dict, receive: Callable, send: Callable) -> None:
        """Django's ``ASGIHandler.handle`` minus two hops: ``request_started`` is sent on the
        view's thread (:meth:`_respond`, or before an async view), and a response already
        closed there is not closed again.

        So a request that never reaches a view (unparsable, unknown path, disallowed host) gets
        ``request_finished`` without ``request_started``: both only manage the database
        connections of the thread they run on, and such a request has none.
        """
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            body_file.close()
            await self.send_response(error_response, send)
            await sync_to_async(error_response.close)()
            return

        async def process_request() -> HttpResponseBase:
            response = await self.run_get_response(request)
            try:
                await self.send_response(response, send)
            except asyncio.CancelledError:
                # The client disconnected while we were sending. An async stream cut between
                # two chunks (we were in send(), not in the stream) would otherwise stay
                # suspended until garbage collection: close it now, so its cleanup runs now
                # (an SSE stream with on_disconnect="cancel" cancels its run there).
                await _close_async_stream(response)
            return response

        # As Django does: a disconnect cancels the request (an SSE view's stream, say).
        tasks = [
            asyncio.create_task(self.listen_for_disconnect(receive)),
            asyncio.create_task(process_request()),
        ]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            if task.done():
                try:
                    task.result()
                except RequestAborted:
                    pass
                except AssertionError:
                    body_file.close()
                    raise
            else:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
        try:
            response = tasks[1].result()
        except asyncio.CancelledError:
            await signals.request_finished.asend(sender=self.__class__)
        else:
            if not response.closed:
                await sync_to_async(response.close)()
        body_file.close()

    def body_too_large(self) -> HttpResponse:
        return errors.error_response(413, errors.body_too_large_message())

    def create_request(
        self, scope: dict, body_file: tempfile.SpooledTemporaryFile
    ) -> tuple[HttpRequest | None, HttpResponseBase | None]:
        """Django's, with its refusals (an undecodable query string: 400) as JSON."""
        request, refusal = super().create_request(scope, body_file)
        if refusal is not None:
            refusal = errors.error_response(refusal.status_code, refusal.reason_phrase)
            refusal["Content-Length"] = str(len(refusal.content))
        return request, refusal

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        """Django's, plus ``Content-Length`` (``CommonMiddleware`` sets it on the browser path)."""
        set_urlconf(settings.ROOT_URLCONF)
        response = await self._middleware_chain(request)
        if response.closed:
            request.close()  # what response.close() would have done, had it known the request
        else:
            response._resource_closers.append(request.close)
        if not response.streaming and not response.has_header("Content-Length"):
            response.headers["Content-Length"] = str(len(response.content))
        if response.status_code >= 400:
            # Outside the middleware that bound the request id: bind it again for the log line.
            with context.bound(request_id=response.get(context.REQUEST_ID_HEADER)):
                await sync_to_async(log_response, thread_sensitive=False)(
                    "%s: %s",
                    response.reason_phrase,
                    request.path,
                    response=response,
                    request=request,
                )
        return response

    def resolve_request(self, request: HttpRequest) -> ResolverMatch:
        """Resolve once: :meth:`_get_response_async` resolves before choosing a path."""
        if request.resolver_match is not None:
            return request.resolver_match
        return super().resolve_request(request)

    async def _get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        request.get_host()  # DisallowedHost (400) unless ALLOWED_HOSTS names it
        match = self.resolve_request(request)
        if self._async_hooks or iscoroutinefunction(match.func):
            await signals.request_started.asend(sender=self.__class__, scope=request.scope)
            return await super()._get_response_async(request)
        return await self._respond_in_thread(request, match)

    def _respond(self, request: HttpRequest, match: ResolverMatch) -> HttpResponseBase:
        """On a pool thread: everything Django does around a synchronous view, in one go."""
        signals.request_started.send(sender=self.__class__, scope=request.scope)
        response = None
        try:
            for hook in self._raw_view_middleware:
                response = hook(request, match.func, match.args, match.kwargs)
                if response:
                    break
            if response is None:
                view = self.make_view_atomic(match.func)
                try:
                    response = view(request, *match.args, **match.kwargs)
                except Exception as error:
                    response = self.process_exception_by_middleware(error, request)
                    if response is None:
                        raise
            self.check_response(response, match.func)
            if hasattr(response, "render") and callable(response.render):
                for hook in self._raw_template_response_middleware:
                    response = hook(request, response)
                    self.check_response(
                        response,
                        hook,
                        name=f"{hook.__self__.__class__.__name__}.process_template_response",
                    )
                try:
                    response = response.render()
                except Exception as error:
                    response = self.process_exception_by_middleware(error, request)
                    if response is None:
                        raise
            return response
        finally:
            # This thread serves other requests next: hand its connection back to the pool now.
            if isinstance(response, HttpResponseBase) and not response.streaming:
                response._handler_class = self.__class__  # request_finished's sender
                response.close()  # sends request_finished
            else:
                # A stream still runs (on the event loop); its close() sends request_finished.
                close_old_connections()


async def _close_async_stream(response: HttpResponseBase) -> None:
    """``aclose()`` the async iterator of a streaming response (Django's ``close()`` does not:
    it only closes iterators with a synchronous ``close``). A stream that ended or already
    handled its cancellation is closed already: then this does nothing."""
    iterator = getattr(response, "_iterator", None) if response.streaming else None
    if getattr(response, "is_async", False) and hasattr(iterator, "aclose"):
        await iterator.aclose()


# -- async-native middleware for API_MIDDLEWARE -----------------------------------------------
class InlineHooksMixin:
    """For a ``MiddlewareMixin`` whose ``process_request``/``process_response`` only compute
    (count, set headers; no I/O, no database): in async mode, call them on the event loop
    instead of hopping to a thread for each. Sync mode is ``MiddlewareMixin``'s, unchanged."""

    get_response: Callable[[HttpRequest], Any]

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        response = None
        if hasattr(self, "process_request"):
            response = self.process_request(request)
        response = response or await self.get_response(request)
        if hasattr(self, "process_response"):
            response = self.process_response(request, response)
        return response


class PrometheusBeforeMiddleware(InlineHooksMixin, prometheus.PrometheusBeforeMiddleware):
    """django-prometheus' first middleware (request/response totals, latency including
    middleware), with its counters updated inline."""


class PrometheusAfterMiddleware(InlineHooksMixin, prometheus.PrometheusAfterMiddleware):
    """django-prometheus' last middleware (by method, view, status; latency by view), with its
    request/response counters updated inline. Its ``process_view``,
    ``process_template_response`` and ``process_exception`` hooks stay synchronous: the
    :class:`APIHandler` calls them on the view's thread, in the view's one hop."""


class SecurityMiddleware(InlineHooksMixin, security.SecurityMiddleware):
    """Django's ``SecurityMiddleware`` (nosniff, referrer policy, COOP, HSTS, SSL redirect):
    settings and headers only, so inline."""


class CorsMiddleware(cors.CorsMiddleware):
    """django-cors-headers' middleware (async-native already: its hooks only compare origins
    and set headers, on the event loop), refusing a foreign ``Host`` before it answers a
    preflight, as every other request is refused (``DisallowedHost``: 400), so no answer at all
    goes to a name that ``ALLOWED_HOSTS`` does not list (DNS rebinding)."""

    def check_preflight(self, request: HttpRequest) -> HttpResponseBase | None:
        request.get_host()  # DisallowedHost (400) unless ALLOWED_HOSTS names it
        return super().check_preflight(request)
