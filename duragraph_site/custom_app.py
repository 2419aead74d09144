"""``langgraph.json``'s ``http.app``: the user's Starlette (or FastAPI) app served beside the
API, as LangGraph Platform serves it (docs/langgraph-json.md):

- a request its routes fully match (path and method) goes to it, before ours, so it may add
  routes and shadow built-in ones; every other request goes to DuraGraph;
- its middleware (``app.user_middleware``) wraps every HTTP request, ours included;
- its routes are not behind DuraGraph's authentication (LangGraph's default); with
  ``http.enable_custom_route_auth`` they are, as LangGraph puts them: inside the app's
  middleware, around each route, the credentials of every API request (or the custom auth
  handler) checked (:func:`accounts.scope_auth.authenticate`), a refusal a JSON 401/403, and
  the caller in ``request.user`` (LangGraph's ``ProxyUser`` shape), ``request.auth.scopes``
  (its permissions) and ``scope["principal"]``.

Its **lifespan** runs as LangGraph runs it, around the server's life: a server that speaks ASGI
lifespan (uvicorn) hands it over; under daphne, which does not, :class:`Lifespan` runs it
(startup when the reactor starts, shutdown before it stops), and every request waits for the
startup and gets a copy of the state it yielded (``request.state``). A startup that fails
leaves every HTTP request a 503 naming the error. WebSockets stay DuraGraph's.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sys
from pathlib import Path
from typing import Any

from accounts import domain, scope_auth
from duragraph_site import langgraph_config, user_code

ASGIApp = Any  # (scope, receive, send) -> awaitable

logger = logging.getLogger(__name__)


def configured() -> Any | None:
    """The app ``http.app`` names (loaded once per process); None when not set.

    Raises:
        ValueError: a spec that does not load, or names something other than a Starlette app.
    """
    spec = langgraph_config.section("http").get("app")
    if spec is None:
        return None
    if not isinstance(spec, str) or ":" not in spec:
        raise ValueError("langgraph.json http.app: './path/app.py:app' or 'package.module:app'")
    config = langgraph_config.config_file()
    return _load(spec, str(config.parent if config is not None else Path.cwd()))


@functools.cache
def _load(spec: str, base: str) -> Any:
    where = "langgraph.json http.app"
    try:
        app = user_code.load_attribute(spec, Path(base))
    except Exception as error:  # noqa: BLE001 - any failure of the user's module as it runs
        raise ValueError(f"{where} {spec!r} could not be loaded: {error!r}") from error
    if not hasattr(getattr(app, "router", None), "routes"):
        raise ValueError(f"{where} {spec!r}: a Starlette or FastAPI app, got {type(app).__name__}")
    return app


def mounted(ours: ASGIApp, custom: Any | None, *, authenticated: bool = False) -> ASGIApp:
    """*ours* (the HTTP app) with *custom* (a Starlette app, or None) served beside it; its
    routes behind our authentication when *authenticated*. The result takes ``http`` scopes,
    and ``lifespan`` ones from a server that sends them."""
    if custom is None:
        return ours
    from starlette.routing import Match  # noqa: PLC0415 - only with a custom app

    routes = list(custom.router.routes)
    if authenticated:
        for route in routes:
            if not getattr(route.app, "behind_our_auth", False):
                route.app = _behind_our_auth(route.app)
    # The custom app applies its middleware itself; ours gets the same, built as Starlette
    # builds a stack (the first listed is the outermost), so each request passes it once.
    wrapped = ours
    for middleware in reversed(getattr(custom, "user_middleware", None) or []):
        cls, args, kwargs = middleware
        wrapped = cls(wrapped, *args, **kwargs)
    lifespan = Lifespan(custom)

    async def dispatch(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":  # the server runs it (uvicorn): the app's own
            lifespan.run_by_server = True
            await custom(scope, receive, send)
            return
        if not lifespan.run_by_server:
            if (failure := await lifespan.startup()) is not None:
                await _unavailable(failure)(scope, receive, send)
                return
            scope = {**scope, "state": dict(lifespan.state)}
        if any(route.matches(scope)[0] is Match.FULL for route in routes):
            await custom(scope, receive, send)
        else:
            await wrapped(scope, receive, send)

    dispatch.lifespan = lifespan
    return dispatch


class Lifespan:
    """*app*'s ASGI lifespan, run here for a server that does not run it (daphne): startup
    once (concurrent callers wait for the same one), shutdown once. ``state`` is the dict the
    app's lifespan filled (``yield {...}``)."""

    #: How long a shutdown may take before the server goes on stopping.
    SHUTDOWN_SECONDS = 10.0

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.state: dict[str, Any] = {}
        #: True once the server sent a ``lifespan`` scope itself (then this runs nothing).
        self.run_by_server = False
        self._started: asyncio.Task[str | None] | None = None
        self._inbox: asyncio.Queue[dict] = asyncio.Queue()
        self._outbox: asyncio.Queue[dict] = asyncio.Queue()
        self._app_task: asyncio.Task[None] | None = None

    async def startup(self) -> str | None:
        """Run the startup (once); None when it completed, else why it failed."""
        if self._started is None:
            self._started = asyncio.ensure_future(self._startup())
        return await asyncio.shield(self._started)

    async def shutdown(self) -> None:
        """Run the shutdown, if the startup ran and completed."""
        if self._started is None or not self._started.done() or self._started.result():
            return
        await self._inbox.put({"type": "lifespan.shutdown"})
        try:
            async with asyncio.timeout(self.SHUTDOWN_SECONDS):
                answer = await self._answer()
        except TimeoutError:
            answer = {"type": "lifespan.shutdown.failed", "message": "timed out"}
        if answer["type"] != "lifespan.shutdown.complete":
            logger.error("langgraph.json http.app: its lifespan's shutdown failed: %s", answer)

    async def _startup(self) -> str | None:
        scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": self.state,
        }
        self._app_task = asyncio.ensure_future(self.app(scope, self._inbox.get, self._outbox.put))
        await self._inbox.put({"type": "lifespan.startup"})
        answer = await self._answer()
        if answer["type"] == "lifespan.startup.complete":
            return None
        failure = f"langgraph.json http.app: its lifespan failed at startup: {answer['message']}"
        logger.error(failure)
        return failure

    async def _answer(self) -> dict:
        """The app's next lifespan message, or a failure if the app returned or raised."""
        message = asyncio.ensure_future(self._outbox.get())
        await asyncio.wait({message, self._app_task}, return_when=asyncio.FIRST_COMPLETED)
        if message.done():
            return message.result()
        message.cancel()
        error = self._app_task.exception()
        return {"type": "lifespan.failed", "message": repr(error) if error else "it returned"}


def run_lifespan_with_daphne(served: ASGIApp) -> None:
    """Under daphne's reactor (installed before the application is imported), start *served*'s
    custom app lifespan when the reactor runs and shut it down before the reactor stops."""
    lifespan = getattr(served, "lifespan", None)
    reactor = sys.modules.get("twisted.internet.reactor")
    if lifespan is None or reactor is None or not hasattr(reactor, "_asyncioEventloop"):
        return
    from twisted.internet.defer import Deferred  # noqa: PLC0415 - under daphne only

    reactor.callWhenRunning(lambda: asyncio.ensure_future(lifespan.startup()))
    reactor.addSystemEventTrigger(
        "before",
        "shutdown",
        lambda: Deferred.fromFuture(asyncio.ensure_future(lifespan.shutdown())),
    )


def _unavailable(failure: str) -> ASGIApp:
    from starlette.responses import JSONResponse  # noqa: PLC0415 - only with a custom app

    return JSONResponse({"detail": failure}, status_code=503)


def _behind_our_auth(app: ASGIApp) -> ASGIApp:
    """*app* (one route's) reached only by a caller our authentication accepts."""
    from starlette.authentication import AuthCredentials  # noqa: PLC0415 - only with a custom app
    from starlette.responses import JSONResponse  # noqa: PLC0415

    async def guarded(scope: dict, receive: Any, send: Any) -> None:
        try:
            principal = await scope_auth.authenticate(scope)
        except domain.CredentialRefused as refused:
            answer = JSONResponse({"detail": str(refused)}, status_code=refused.status)
            await answer(scope, receive, send)
            return
        caller = {
            "principal": principal,
            "user": scope_auth.route_user(principal),
            "auth": AuthCredentials(list(principal.permissions)),
        }
        await app({**scope, **caller}, receive, send)

    guarded.behind_our_auth = True
    return guarded
