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
