"""What the original DuraGraph server's ``/api/v1`` answered that LangGraph's routes do not.

The DuraGraph SDK's clients (``duragraph``'s ``DuraGraphClient`` and ``AsyncDuraGraphClient``)
call LangGraph's routes under ``/api/v1`` and decode JSON from every answer, deletes, store
writes and cancels included: under that prefix an answer without a body has ``{}`` (a 204
becomes a 200, which may have one; a 202 stays a 202) (:class:`JsonBodiesMiddleware`).
LangGraph's own (unprefixed) routes answer as LangGraph's, and the worker protocol keeps its
empty answers (an empty poll is a 204 that the SDK's worker reads as such).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from asgiref.sync import markcoroutinefunction
from django.http import HttpRequest, HttpResponseBase, JsonResponse

from duragraph_site.api.urls import V1_PREFIX

PREFIX = f"/{V1_PREFIX}"
#: The worker protocol's routes: their 204s are the protocol's.
WORKER_ROUTES = f"{PREFIX}workers"


class JsonBodiesMiddleware:
    """``API_MIDDLEWARE``: an answer without a body under ``/api/v1`` (not the workers') gets
    ``{}``, its headers kept. Async-native: it only looks at the answer, on the event loop."""

    async_capable = True
    sync_capable = False

    def __init__(self, get_response: Callable[[HttpRequest], Awaitable[HttpResponseBase]]) -> None:
        self.get_response = get_response
        markcoroutinefunction(self)

    async def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = await self.get_response(request)
        path = request.path_info
        if not path.startswith(PREFIX) or path.startswith(WORKER_ROUTES):
            return response
        if response.streaming or response.status_code >= 300 or response.content:
            return response
        answer = JsonResponse(
            {}, status=200 if response.status_code == 204 else response.status_code
        )
        for name, value in response.items():
            if name.lower() not in ("content-type", "content-length"):
                answer[name] = value
        return answer
