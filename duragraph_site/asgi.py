"""ASGI entry point (served by daphne): HTTP through Django, WebSockets through Channels.

HTTP goes to one of two Django handlers by path (``duragraph_site.handlers`` explains why):
the browser paths (``/``, ``/admin/``, ``/static/``, ``/docs``, ``/dashboard``) to
:class:`~duragraph_site.handlers.BrowserHandler` (Django's ``ASGIHandler`` with the full
``MIDDLEWARE``: sessions, CSRF, auth, whitenoise...), everything else (the LangGraph API at the
root and under ``/api/v1/``, ``/ok``, ``/health``, ``/info``, ``/metrics``, ``/openapi.json``) to
the lean :class:`~duragraph_site.handlers.APIHandler` with ``API_MIDDLEWARE``. Both read request
bodies whole whatever their framing, up to ``MAX_REQUEST_BYTES``. WebSockets from another site's
pages are refused (``duragraph_site.origins``), and so are those without a credential while
``AUTH_ENABLED`` is on (``accounts.websockets``).
"""

from __future__ import annotations

import inspect
import os
from typing import TYPE_CHECKING

import django
from daphne import http_protocol

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "duragraph_site.settings")
django.setup(set_prefix=False)  # as django.core.asgi.get_asgi_application()

# Imported after Django is set up.
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from accounts.websockets import AuthenticatedStack  # noqa: E402
from duragraph_site import custom_app, langgraph_config  # noqa: E402
from duragraph_site.api.urls import EVENT_STREAMING, V1_PREFIX  # noqa: E402
from duragraph_site.handlers import APIHandler, BrowserHandler, is_browser_path  # noqa: E402
from duragraph_site.mount_prefix import mounted_at  # noqa: E402
from duragraph_site.origins import BrowserOriginGuard  # noqa: E402
from runs import consumers  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable


def _daphne_leaves_request_bodies_to_django() -> None:
    """Under daphne, stop Twisted from parsing form bodies that only Django reads.

    Twisted's ``Request.requestReceived`` parses every ``multipart/form-data`` and urlencoded
    POST body into ``request.args`` (which daphne never uses) before daphne sees the request,
    and answers a body it cannot parse with an empty ``400 Bad Request`` of its own: no JSON,
    no log line, the application never called (twisted/twisted#9739, django/daphne#447). With
    ``parsePOSTFormSubmission=False`` (Twisted 24.7+) the bytes go to Django untouched, which
    answers as it should: 415 JSON on the API, its own form parsing on the browser paths.
    """
    base = http_protocol.WebRequest
    if getattr(base, "leaves_bodies_to_django", False):
        return  # already done (this module imported twice, or by a test)
    if "parsePOSTFormSubmission" not in inspect.signature(http_protocol.http.Request).parameters:
        return  # an older Twisted, which cannot be told

    class WebRequest(base):  # daphne's HTTPFactory builds requests from this module global
        leaves_bodies_to_django = True

        def __init__(self, *args: object, **kwargs: object) -> None:
            kwargs["parsePOSTFormSubmission"] = False
            super().__init__(*args, **kwargs)

    http_protocol.WebRequest = WebRequest


_daphne_leaves_request_bodies_to_django()
browser_app = BrowserHandler()
api_app = APIHandler()

#: Live run and thread events for the dashboard (``runs.consumers``), as JSON text frames.
websocket_urlpatterns: list = [
    path("ws/runs/<str:run_id>", consumers.RunStreamConsumer.as_asgi()),
    path("ws/runs/<str:run_id>/events", consumers.RunEventsConsumer.as_asgi()),
    path("ws/threads/<str:thread_id>", consumers.ThreadStreamConsumer.as_asgi()),
    path("ws/activity", consumers.ActivityConsumer.as_asgi()),
]
if EVENT_STREAMING:  # protocol v2's WebSocket, where LangGraph serves it
    websocket_urlpatterns += [
        path(
            f"{prefix}threads/<str:thread_id>/stream/events",
            consumers.ProtocolEventsConsumer.as_asgi(),
        )
        for prefix in ("", V1_PREFIX)
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


#: langgraph.json's http.app, when set, beside the API (duragraph_site.custom_app), its
#: lifespan run by the server when it can, else here.
served = custom_app.mounted(
    http_app, custom_app.configured(), authenticated=langgraph_config.custom_route_auth()
)
custom_app.run_lifespan_with_daphne(served)

application = mounted_at(
    langgraph_config.mount_prefix(),  # langgraph.json's http.mount_prefix ("": the root)
    ProtocolTypeRouter(
        {
            "http": served,
            **({"lifespan": served} if served is not http_app else {}),
            # Host and Origin first (no credential helps a page from another site), then who
            # is calling: an API key/JWT header or the admin session (accounts.websockets).
            "websocket": BrowserOriginGuard(AuthenticatedStack(URLRouter(websocket_urlpatterns))),
        }
    ),
)
