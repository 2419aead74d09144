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

Its lifespan is not run (daphne does not speak ASGI lifespan). WebSockets stay DuraGraph's.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from accounts import domain, scope_auth
from duragraph_site import langgraph_config, user_code

ASGIApp = Any  # (scope, receive, send) -> awaitable


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
    routes behind our authentication when *authenticated*."""
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

    async def dispatch(scope: dict, receive: Any, send: Any) -> None:
        if any(route.matches(scope)[0] is Match.FULL for route in routes):
            await custom(scope, receive, send)
        else:
            await wrapped(scope, receive, send)

    return dispatch


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
