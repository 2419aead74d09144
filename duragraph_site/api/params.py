"""Parsing of path and query parameters, with LangGraph's status codes for bad values."""

from __future__ import annotations

import uuid

from duragraph_site.api.serializers import Serializer
from duragraph_site.errors import InvalidInput


def parse_uuid(value: str, what: str) -> uuid.UUID:
    """*value* as a UUID, or 422 ``Invalid <what> ID`` (LangGraph does not 404 a malformed id)."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise InvalidInput(f"Invalid {what} ID: {value!r} is not a UUID") from None


def parse_bool(value: str | None, name: str, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    lowered = value.lower()
    if lowered in ("1", "true", "yes"):
        return True
    if lowered in ("0", "false", "no"):
        return False
    raise InvalidInput(f"{name} must be a boolean, not {value!r}")


def validated(serializer_class: type, data: object) -> dict:
    """Run a DRF input serializer over a request body; 422 naming the field when invalid.

    The project's serializers take the fast path (``Serializer.parse``: same
    validation, without deep-copying the fields for every request).
    """
    if data is None:
        data = {}
    if issubclass(serializer_class, Serializer):
        return serializer_class.parse(data)
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
