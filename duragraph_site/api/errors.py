"""The one exception handler of the API: every error is ``{"detail": "..."}`` with its status.

Domain and service errors carry their HTTP mapping as data (``DuraGraphError.status_code``);
DRF's own exceptions keep theirs, except validation errors, which are 422 as in LangGraph, with
the offending field named, and Django's refusal of a body over ``DATA_UPLOAD_MAX_MEMORY_SIZE``,
which is a 413 (Django alone would answer an HTML 400). Anything else is left to Django: an
honest, logged 500. The atomic block is always marked for rollback, so an error response never
commits half a write.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework import exceptions, status, views
from rest_framework.response import Response

from duragraph_site.errors import DuraGraphError


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DuraGraphError):
        views.set_rollback()
        return Response({"detail": exc.message}, status=exc.status_code)
    if isinstance(exc, exceptions.ValidationError | exceptions.ParseError):
        views.set_rollback()
        return Response(
            {"detail": _validation_message(exc.detail)}, status=status.HTTP_422_UNPROCESSABLE_ENTITY
        )
    if isinstance(exc, RequestDataTooBig):
        # DRF reads ``request.body`` before any parser runs, so Django's limit is what fires.
        return Response(
            {
                "detail": f"Request body exceeds the limit of "
                f"{settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."
            },
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    response = views.exception_handler(exc, context)
    if response is not None and isinstance(response.data, dict) and "detail" in response.data:
        response.data = {"detail": str(response.data["detail"])}
    return response


def _validation_message(detail: Any, path: str = "") -> str:
    """Flatten DRF's nested error detail into ``field.sub: message; other: message``."""
    if isinstance(detail, dict):
        parts = [
            _validation_message(value, f"{path}.{key}" if path else str(key))
            for key, value in detail.items()
        ]
        return "; ".join(part for part in parts if part)
    if isinstance(detail, list):
        messages = [_validation_message(item, path) for item in detail]
        return "; ".join(m for m in messages if m)
    text = str(detail)
    if not path or path == "non_field_errors":
        return text
    return f"{path}: {text}"
