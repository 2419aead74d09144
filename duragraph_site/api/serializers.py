"""The base of every request/response serializer nested in an API view."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


class Serializer(serializers.Serializer):
    """A DRF serializer whose OpenAPI component is named after where it is nested.

    ``AssistantCreateApi.InputSerializer`` becomes ``AssistantCreateInput``, so every view can
    nest its own ``InputSerializer`` without the schema's component names colliding.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "Meta" in cls.__dict__ and getattr(cls.Meta, "ref_name", None):
            return
        outer, _, inner = cls.__qualname__.rpartition(".")
        name = (
            f"{outer.removesuffix('Api')}{inner.removesuffix('Serializer')}"
            if outer
            else cls.__name__
        )
        cls.Meta = type("Meta", (), {"ref_name": name})


def selection(serializer_class: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """The item of a search answered with ``select``: the same fields, none of them required.

    Only for the OpenAPI document (``<Name>Selection``); rows are rendered with the full
    serializer and then cut down to the selected keys.
    """

    def get_fields(self: serializers.Serializer) -> dict[str, serializers.Field]:
        fields = serializer_class.get_fields(self)
        for field in fields.values():
            field.required = False
        return fields

    name = f"{serializer_class.__name__.removesuffix('Serializer')}Selection"
    meta = type("Meta", (), {"ref_name": name})
    return type(name, (serializer_class,), {"get_fields": get_fields, "Meta": meta})
