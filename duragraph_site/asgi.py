"""ASGI entry point (served by daphne): HTTP through Django, WebSockets through Channels.

HTTP goes to one of two Django handlers by path (``duragraph_site.handlers`` explains why):
the browser paths (``/``, ``/admin/``, ``/static/``, ``/docs``, ``/dashboard``) to Django's
``ASGIHandler`` with the full ``MIDDLEWARE`` (sessions, CSRF, auth, whitenoise...), everything
else (the LangGraph API at the root and under ``/api/v1/``, ``/ok``, ``/health``, ``/info``,
``/metrics``, ``/openapi.json``) to the lean :class:`~duragraph_site.handlers.APIHandler` with
``API_MIDDLEWARE``. WebSockets from another site's pages are refused (``duragraph_site.origins``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "duragraph_site.settings")
browser_app = get_asgi_application()  # sets Django up

# Imported after Django is set up.
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from duragraph_site.handlers import APIHandler, is_browser_path  # noqa: E402
from duragraph_site.origins import BrowserOriginGuard  # noqa: E402
from runs import consumers  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

api_app = APIHandler()

#: Live run and thread events for the dashboard (``runs.consumers``), as JSON text frames.
websocket_urlpatterns: list = [
    path("ws/runs/<str:run_id>", consumers.RunStreamConsumer.as_asgi()),
    path("ws/threads/<str:thread_id>", consumers.ThreadStreamConsumer.as_asgi()),
]


async def http_app(
    scope: dict, receive: Callable[[], Awaitable[dict]], send: Callable[[dict], Awaitable[None]]
) -> None:
    """Route an HTTP request to the browser or the API handler by its path."""
    path = scope["path"]
    root = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    app = browser_app if is_browser_path(path) else api_app
    await app(scope, receive, send)


application = ProtocolTypeRouter(
    {
        "http": http_app,
        "websocket": BrowserOriginGuard(URLRouter(websocket_urlpatterns)),
    }
)
