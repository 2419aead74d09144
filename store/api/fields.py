"""Strict JSON fields for the store's request bodies.

DRF's fields coerce (``5`` becomes ``"5"``, ``"true"`` becomes True); LangGraph validates bodies
with JSON Schema, which does not, so neither do these. Each one also documents its real type
in the OpenAPI schema.
"""

from __future__ import annotations

import math
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from duragraph_site.api.fields import IntegerField, StrictCharField
from store import domain


class StrictIntegerField(IntegerField):
    """A JSON integer (an integral float such as ``5.0`` too, as JSON Schema allows), within
    PostgreSQL's ``bigint`` unless narrower bounds are given."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        if isinstance(data, float) and not data.is_integer():
            self.fail("invalid")
        return super().to_internal_value(int(data))


class StrictBooleanField(serializers.BooleanField):
    """JSON ``true`` or ``false`` only."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


@extend_schema_field({"type": "number", "exclusiveMinimum": 0, "maximum": domain.MAX_TTL_MINUTES})
class TtlField(serializers.Field):
    """Minutes to live: a positive JSON number, or null for "never expires"."""

    default_error_messages = {"invalid": "Must be a positive number of minutes or null."}

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        return data

    def to_representation(self, value: Any) -> Any:
        return value


@extend_schema_field(
    {"type": "number", "exclusiveMinimum": 0, "maximum": domain.MAX_TTL_MINUTES * 60}
)
class TtlSecondsField(serializers.Field):
    """Seconds to live (the DuraGraph SDK's ``ttl_seconds``): a positive JSON number up to the
    longest TTL, or null."""

    default_error_messages = {
        "invalid": "Must be a positive number of seconds or null.",
        "max_value": f"Must be at most {domain.MAX_TTL_MINUTES * 60} seconds; null: forever.",
    }

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        if not math.isfinite(data) or data <= 0:
            self.fail("invalid")
        if data > domain.MAX_TTL_MINUTES * 60:
            self.fail("max_value")
        return data

    def to_representation(self, value: Any) -> Any:
        return value


@extend_schema_field(
    {
        "oneOf": [
            {"type": "boolean", "enum": [False]},
            {"type": "array", "items": {"type": "string"}},
        ]
    }
)
class IndexField(serializers.Field):
    """LangGraph's per-item index setting: ``false`` (not embedded) or a list of field paths
    to embed instead of the configured ones (rules in ``store.domain.validate_index``)."""

    default_error_messages = {"invalid": "Must be false or a list of field paths (strings)."}

    def to_internal_value(self, data: Any) -> Any:
        if data is False:
            return data
        if isinstance(data, list) and all(isinstance(path, str) for path in data):
            return data
        self.fail("invalid")

    def to_representation(self, value: Any) -> Any:
        return value


def namespace_field(**kwargs: Any) -> serializers.ListField:
    """A list of namespace labels (their rules are checked by ``store.domain``)."""
    return serializers.ListField(child=StrictCharField(allow_blank=True), **kwargs)
