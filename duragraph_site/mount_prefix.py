"""``langgraph.json``'s ``http.mount_prefix``: the whole site under one path (``/langgraph``),
as LangGraph Platform mounts it, for a proxy or a host that gives the server one path.

A request under the prefix goes on with the prefix as its ``root_path`` (Django's
``SCRIPT_NAME``: its URL routing sees the path after the prefix, and the URLs it writes in
pages, links and assets, start with the prefix; a run's ``Location`` headers do not, as
LangGraph's: the SDK appends them to the URL it was given); the probes (``/ok``, ``/health``) and
``/metrics`` stay at the root too, as LangGraph keeps them; anything else is a JSON 404 (a
WebSocket is refused).
"""

from __future__ import annotations

from typing import Any

ASGIApp = Any  # (scope, receive, send) -> awaitable

#: Served at the root as well as under the prefix: what orchestrators and scrapers call.
ROOT_PATHS = frozenset({"/ok", "/health", "/metrics"})


def mounted_at(prefix: str, app: ASGIApp) -> ASGIApp:
    """*app* served under *prefix* ("" : *app* itself)."""
    if not prefix:
        return app

    async def under_prefix(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await app(scope, receive, send)
            return
        root = scope.get("root_path", "")
        path = scope["path"]
        visible = path[len(root) :] if root and path.startswith(root) else path
        if visible == prefix or visible.startswith(f"{prefix}/"):
            await app({**scope, "root_path": root + prefix}, receive, send)
        elif visible in ROOT_PATHS:
            await app(scope, receive, send)
        elif scope["type"] == "http":
            await _not_found(send)
        else:
            await send({"type": "websocket.close", "code": 1008})

    return under_prefix


async def _not_found(send: Any) -> None:
    body = b'{"detail":"Not Found"}'
    await send(
        {
            "type": "http.response.start",
            "status": 404,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
