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

The async-native middleware for the API chain live here too: :class:`PrometheusBeforeMiddleware`,
:class:`PrometheusAfterMiddleware` and :class:`SecurityMiddleware` are django-prometheus' and
Django's own classes, whose hooks only count or set headers, called inline on the event loop.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from asgiref.sync import SyncToAsync, iscoroutinefunction, sync_to_async
from django.conf import settings
from django.core import signals
from django.core.exceptions import ImproperlyConfigured, MiddlewareNotUsed, RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.exception import convert_exception_to_response
from django.db import close_old_connections
from django.http import HttpResponseBase
from django.middleware import security
from django.urls import set_script_prefix, set_urlconf
from django.utils.deprecation import MiddlewareMixin
from django.utils.log import log_response
from django.utils.module_loading import import_string
from django_prometheus import middleware as prometheus

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


class APIHandler(ASGIHandler):
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
                pass  # the client disconnected while we were sending
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
            await sync_to_async(log_response, thread_sensitive=False)(
                "%s: %s", response.reason_phrase, request.path, response=response, request=request
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
