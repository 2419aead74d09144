"""Who caused the events being appended: the actor and request id, as event metadata.

The middleware sets them per HTTP request; management commands and workers set them with
:func:`bound`. :func:`events.store.append` merges them into every event's metadata.
"""

from __future__ import annotations

import contextlib
import contextvars
import uuid
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from django.http import HttpRequest, HttpResponse

_metadata: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "event_metadata", default=MappingProxyType({})
)

REQUEST_ID_HEADER = "X-Request-ID"
#: The same header in ``request.META``: reading it there skips building ``request.headers``.
_REQUEST_ID_META = "HTTP_X_REQUEST_ID"


def current() -> Mapping[str, Any]:
    """The metadata bound in this context (read-only)."""
    return _metadata.get()


@contextlib.contextmanager
def bound(**metadata: Any) -> Iterator[None]:
    """Add *metadata* to every event appended inside the block."""
    token = _metadata.set({**_metadata.get(), **metadata})
    try:
        yield
    finally:
        _metadata.reset(token)


def bind_for_request(**metadata: Any) -> None:
    """Add *metadata* for the rest of the request being served (the authenticated actor, known
    only once the view has authenticated the caller). :class:`EventContextMiddleware` restores
    the context when the request ends; outside a request use :func:`bound`."""
    _metadata.set({**_metadata.get(), **metadata})


def _request_metadata(request: HttpRequest, user: Any) -> dict[str, Any]:
    request_id = request.META.get(_REQUEST_ID_META) or uuid.uuid4().hex
    actor = f"user:{user.pk}" if user is not None and user.is_authenticated else "api"
    return {"actor": actor, "request_id": request_id[:100]}


class EventContextMiddleware:
    """Binds actor and request id for the request and echoes ``X-Request-ID`` in the response.

    Async-native: on the API path (``API_MIDDLEWARE``, no authentication middleware, so no
    ``request.auser``) it never leaves the event loop; behind Django's authentication middleware
    it awaits ``request.auser()``, the one query the actor needs.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if iscoroutinefunction(self):
            return self.__acall__(request)
        metadata = _request_metadata(request, getattr(request, "user", None))
        with bound(**metadata):
            response = self.get_response(request)
        response[REQUEST_ID_HEADER] = metadata["request_id"]
        return response

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        # The session lookup behind request.user is a query: resolve it the async way.
        user = await request.auser() if hasattr(request, "auser") else None
        metadata = _request_metadata(request, user)
        with bound(**metadata):
            response = await self.get_response(request)
        response[REQUEST_ID_HEADER] = metadata["request_id"]
        return response
