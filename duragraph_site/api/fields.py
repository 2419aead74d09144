"""Serializer fields for LangGraph's request bodies."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from duragraph_site.errors import InvalidInput
from events.domain import require_json


class JSONField(serializers.JSONField):
    """Any JSON value the API can store and give back.

    PostgreSQL's ``jsonb`` refuses NUL characters and lone surrogates in strings, and orjson
    renders integers only within 64 bits (the official client encodes with orjson too): each is
    a 422 naming the field here rather than a 500 at the first write, query or read.
    """

    def to_internal_value(self, data: Any) -> Any:
        value = super().to_internal_value(data)
        if problem := json_problem(value):
            raise serializers.ValidationError(problem)
        return value


@extend_schema_field(OpenApiTypes.OBJECT)
class JSONObjectField(JSONField):
    """A JSON object (dict); anything else is a 422 naming the field."""

    default_error_messages = {"not_object": "must be a JSON object"}

    def to_internal_value(self, data: Any) -> dict:
        value = super().to_internal_value(data)
        if not isinstance(value, dict):
            self.fail("not_object")
        try:
            require_json(self.field_name or "value", value)
        except InvalidInput as error:
            raise serializers.ValidationError(error.message) from None
        return value


#: The integers orjson renders (and the official client sends).
MIN_INT, MAX_INT = -(2**63), 2**64 - 1
#: PostgreSQL's ``bigint``, the widest integer a query takes (``LIMIT``, ``OFFSET``, ids...).
MIN_BIGINT, MAX_BIGINT = -(2**63), 2**63 - 1
#: Most rows a page may ask for (``limit``).
MAX_PAGE_SIZE = 1000
#: 1000 years in minutes: a longer TTL is "forever", and would overflow a timestamp.
MAX_TTL_MINUTES = 1000 * 366 * 24 * 60
#: Nesting depth of a JSON value: orjson and pydantic refuse much deeper documents.
MAX_DEPTH = 128


def json_problem(value: Any) -> str | None:
    """Why the API could not store or render a JSON *value*, or None.

    Strings and keys must be free of NUL characters and lone surrogates, integers within 64
    bits, nesting within MAX_DEPTH levels. Iterative, so a deep document cannot blow the stack.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > MAX_DEPTH:
                return f"nested deeper than {MAX_DEPTH} levels"
            items = [*node.keys(), *node.values()] if isinstance(node, dict) else node
            stack.extend((item, depth + 1) for item in items)
        elif isinstance(node, str):
            if "\x00" in node:
                return "strings cannot contain NUL (\\u0000) characters"
            try:
                node.encode()
            except UnicodeEncodeError:
                return "strings cannot contain lone surrogates"
        elif isinstance(node, int) and not isinstance(node, bool):
            if not MIN_INT <= node <= MAX_INT:
                return f"integer {node} is out of the 64-bit range"
    return None


class IntegerField(serializers.IntegerField):
    """DRF's integer field, bounded to PostgreSQL's ``bigint`` unless narrower bounds are given.

    Every integer of a request (body or query string) that can reach SQL is parsed by this field,
    so an out-of-range number is a 422 naming the field, never a 500 at the query ("bigint out
    of range"). The bounds are also the OpenAPI ``minimum``/``maximum``.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", MIN_BIGINT)
        kwargs.setdefault("max_value", MAX_BIGINT)
        super().__init__(**kwargs)


def limit_field(*, default: int = 10, **kwargs: Any) -> IntegerField:
    """A page size: 1 to :data:`MAX_PAGE_SIZE` rows."""
    return IntegerField(min_value=1, max_value=MAX_PAGE_SIZE, default=default, **kwargs)


def offset_field(**kwargs: Any) -> IntegerField:
    """Rows to skip: 0 to ``bigint``'s maximum (PostgreSQL's ``OFFSET``)."""
    return IntegerField(min_value=0, default=0, **kwargs)


class StrictCharField(serializers.CharField):
    """A JSON string, taken as is (no trimming, no number coercion)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class UUIDField(serializers.UUIDField):
    """A UUID given as a JSON string (DRF's own field also takes integers: ``12`` is not an id)."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


@extend_schema_field(
    {"anyOf": [{"type": "string", "enum": ["*"]}, {"type": "array", "items": {"type": "string"}}]}
)
class NodeListField(serializers.Field):
    """``"*"`` or a list of node names (interrupt_before / interrupt_after)."""

    def to_internal_value(self, data: Any) -> str | list[str]:
        if data == "*":
            return data
        if isinstance(data, list) and all(isinstance(item, str) for item in data):
            return data
        raise serializers.ValidationError('must be "*" or a list of node names')

    def to_representation(self, value: Any) -> Any:
        return value


class SelectField(serializers.ListField):
    """LangGraph's ``select``: a subset of the response's fields."""

    def __init__(self, *, choices: list[str], **kwargs: Any) -> None:
        super().__init__(child=serializers.ChoiceField(choices=choices), allow_empty=True, **kwargs)


class SortOrderField(serializers.ChoiceField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_null", True)
        super().__init__(choices=["asc", "desc"], **kwargs)
