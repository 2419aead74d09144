"""The API's errors: every one is JSON ``{"detail": "..."}`` with its status (docs/api-errors.md).

Three ways in, one body (:func:`error_response`):

- **DRF views** raise; :func:`exception_handler` (DRF's ``EXCEPTION_HANDLER``) answers what it
  knows: domain and service errors carry their HTTP mapping as data
  (``DuraGraphError.status_code``); DRF's own exceptions keep theirs (405 with ``Allow``, 415...),
  except validation and parse errors, which are 422 as in LangGraph, with the offending field
  named. Anything else it leaves to Django (DRF's handler returns None, the view re-raises).
- **Django** answers what no view did: an unknown path (404), a bad ``Host`` (400), and every
  exception left unhandled, by DRF views and plain views alike (500), through the URLconf's
  ``handler400/403/404/500`` (``duragraph_site.api.error_views``). On API paths they render here:
  :func:`unexpected_error_response` is the one place an exception becomes a 500, or a 503 with
  ``Retry-After`` when PostgreSQL cannot be reached (:func:`database_unavailable`).
- **The handler** refuses a body over the size limit (413) before any view runs
  (``duragraph_site.handlers.RequestBodyMixin``), and the API's plain views refuse other methods
  (405, :func:`require_methods`).

The atomic block is always marked for rollback, so an error response never commits half a write.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import psycopg
from django import db
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from rest_framework import exceptions, status, views
from rest_framework.response import Response

from duragraph_site.errors import DuraGraphError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from django.http import HttpRequest, HttpResponseBase

#: Seconds a client should wait before retrying while the database is unreachable.
RETRY_AFTER_SECONDS = 1


def error_response(
    status_code: int, detail: str, *, headers: Mapping[str, str] | None = None
) -> JsonResponse:
    """The body of every API error outside DRF: ``{"detail": detail}``."""
    return JsonResponse({"detail": detail}, status=status_code, headers=headers)


def body_too_large_message() -> str:
    return f"Request body exceeds the limit of {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."


def database_unavailable(exc: BaseException | None) -> bool:
    """Whether *exc* means PostgreSQL cannot be reached: Django's ``OperationalError`` raised
    from psycopg's (refused or lost connection, server shutting down, and the pool's
    ``PoolTimeout``, which subclasses it)."""
    return isinstance(exc, db.OperationalError) and isinstance(
        exc.__cause__, psycopg.OperationalError
    )


def unexpected_error_response(exc: BaseException | None) -> JsonResponse:
    """The answer to an exception nothing handled: 503 with ``Retry-After`` when the database is
    unreachable (a fault to retry, not a bug), else 500. Never the exception's text: it is in
    the log, with the request id."""
    if database_unavailable(exc):
        return error_response(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "The database is unavailable; retry later.",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    return error_response(status.HTTP_500_INTERNAL_SERVER_ERROR, "Internal Server Error")


def require_methods(*methods: str) -> Callable[[Callable], Callable]:
    """Django's ``require_http_methods`` for the API's plain (non-DRF) views: any other method
    is a 405 ``{"detail"}`` with ``Allow``, as a DRF view answers it."""
    allowed = ", ".join(methods)

    def decorate(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
        @functools.wraps(view)
        def inner(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if request.method not in methods:
                return error_response(
                    status.HTTP_405_METHOD_NOT_ALLOWED,
                    str(exceptions.MethodNotAllowed(request.method).detail),
                    headers={"Allow": allowed},
                )
            return view(request, *args, **kwargs)

        return inner

    return decorate


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's ``EXCEPTION_HANDLER``; None (re-raised, then Django's ``handler500``) for the
    exceptions it does not know."""
    if isinstance(exc, DuraGraphError):
        views.set_rollback()
        return Response({"detail": exc.message}, status=exc.status_code)
    if isinstance(exc, exceptions.ValidationError | exceptions.ParseError):
        views.set_rollback()
        return Response(
            {"detail": validation_message(exc.detail)}, status=status.HTTP_422_UNPROCESSABLE_ENTITY
        )
    if isinstance(exc, RequestDataTooBig):
        # Under ASGI the handler refuses such a body before the view; under WSGI
        # (duragraph_site.wsgi) Django's check in ``request.body`` is what fires.
        return Response(
            {"detail": body_too_large_message()}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
        )
    response = views.exception_handler(exc, context)
    if response is not None and isinstance(response.data, dict) and "detail" in response.data:
        response.data = {"detail": str(response.data["detail"])}
    return response


def validation_message(detail: Any, path: str = "") -> str:
    """Flatten DRF's nested error detail into ``field.sub: message; other: message``."""
    if isinstance(detail, dict):
        parts = [
            validation_message(value, f"{path}.{key}" if path else str(key))
            for key, value in detail.items()
        ]
        return "; ".join(part for part in parts if part)
    if isinstance(detail, list):
        messages = [validation_message(item, path) for item in detail]
        return "; ".join(m for m in messages if m)
    text = str(detail)
    if not path or path == "non_field_errors":
        return text
    return f"{path}: {text}"
