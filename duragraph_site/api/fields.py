"""Serializer fields for LangGraph's request bodies."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from duragraph_site.errors import InvalidInput
from events.domain import require_json


@extend_schema_field(OpenApiTypes.OBJECT)
class JSONObjectField(serializers.JSONField):
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
