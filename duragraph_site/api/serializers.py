"""The base of every request/response serializer nested in an API view.

Besides naming OpenAPI components, :class:`Serializer` gives the views a fast path through
DRF. Instantiating a DRF serializer deep-copies and binds every declared field (``get_fields``),
for each request body and for each object rendered: about 0.1 ms per serializer, more than
the rest of the serialization. :meth:`Serializer.represent` (``cls(obj).data``) and
:meth:`Serializer.parse` (``cls(data=...).is_valid(raise_exception=True)``, then
``validated_data``) run the very same field methods (``get_attribute``/``to_representation``,
``run_validation``) on one instance per class whose fields were built once, so the results,
and the errors, are identical. The serializer classes stay what they were: the OpenAPI schema
is still generated from them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.fields import SkipField
from rest_framework.relations import PKOnlyObject
from rest_framework.settings import api_settings

from duragraph_site.api.fields import limit_field, offset_field

#: ``(field name, field.get_attribute, field.to_representation)`` of a class's readable fields.
_OutputPlan = tuple[tuple[str, Callable[[Any], Any], Callable[[Any], Any]], ...]


class Serializer(serializers.Serializer):
    """A DRF serializer whose OpenAPI component is named after where it is nested.

    ``AssistantCreateApi.InputSerializer`` becomes ``AssistantCreateInput``, so every view can
    nest its own ``InputSerializer`` without the schema's component names colliding.

    :meth:`represent`, :meth:`represent_many` and :meth:`parse` share one instance of
    the class between requests (and threads). That is safe because these serializers keep no
    state of their own while they work: no ``context``, no ``instance``, no ``initial_data``
    read by ``validate_*`` methods, no ``partial``. A subclass that needs any of those must be
    used the ordinary DRF way. A field default that is a mutable value (``default={}``, not
    ``default=dict``) would be shared by the requests too: :meth:`parse` then takes the
    ordinary path (each DRF instance deep-copies its defaults).
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

    # -- output ------------------------------------------------------------------------------
    @classmethod
    def represent(cls, instance: Any) -> dict[str, Any]:
        """``cls(instance).data`` (as a plain dict), without building a serializer.

        DRF's ``Serializer.to_representation``, field by field, on fields built once per class.
        *instance* must not be None (``cls(None).data`` would be the fields' initial values).
        """
        plan = _OUTPUT_PLANS.get(cls)
        if plan is None:
            serializer = _shared(cls)
            if cls in _OWN_DEFAULTS:
                return dict(cls(instance).data)
            plan = _OUTPUT_PLANS[cls] = tuple(
                (field.field_name, field.get_attribute, field.to_representation)
                for field in serializer._readable_fields
            )
        data: dict[str, Any] = {}
        for name, get_attribute, to_representation in plan:
            try:
                attribute = get_attribute(instance)
            except SkipField:
                continue
            # As DRF: None is rendered as null without asking the field.
            check_for_none = attribute.pk if isinstance(attribute, PKOnlyObject) else attribute
            data[name] = None if check_for_none is None else to_representation(attribute)
        return data

    @classmethod
    def represent_many(cls, instances: Iterable[Any]) -> list[dict[str, Any]]:
        """``cls(instances, many=True).data`` (as a plain list)."""
        represent = cls.represent
        return [represent(instance) for instance in instances]

    # -- input -------------------------------------------------------------------------------
    @classmethod
    def parse(cls, data: Any) -> Any:
        """``validated_data`` of ``cls(data=data)``, or the ValidationError that
        ``is_valid(raise_exception=True)`` raises (same detail), without building a serializer.

        (Not ``validate_<anything>``: DRF calls such a method as the validator of the field of
        that name, and the worker protocol has a field named ``data``.)
        """
        serializer = _shared(cls)
        if cls in _OWN_DEFAULTS:
            serializer = cls(data=data)
            serializer.is_valid(raise_exception=True)
            return serializer.validated_data
        try:
            return serializer.run_validation(data)
        except ValidationError as error:
            detail = error.detail
        # DRF's Serializer.errors: a null body gets a better message than "may not be null".
        if (
            isinstance(detail, list)
            and len(detail) == 1
            and getattr(detail[0], "code", None) == "null"
        ):
            detail = {
                api_settings.NON_FIELD_ERRORS_KEY: [ErrorDetail("No data provided", code="null")]
            }
        raise ValidationError(detail)


#: One instance per Serializer subclass, with its fields built and bound (see Serializer).
_SHARED: dict[type[Serializer], Serializer] = {}
_OUTPUT_PLANS: dict[type[Serializer], _OutputPlan] = {}
#: Classes with a mutable field default: validated the ordinary way (see Serializer).
_OWN_DEFAULTS: set[type[Serializer]] = set()
_SHARED_LOCK = threading.Lock()


def _shared(cls: type[Serializer]) -> Serializer:
    """The instance of *cls* shared by :meth:`Serializer.represent` and ``parse``."""
    serializer = _SHARED.get(cls)
    if serializer is None:
        with _SHARED_LOCK:
            serializer = _SHARED.get(cls)
            if serializer is None:
                serializer = cls()
                if _has_mutable_default(serializer):
                    _OWN_DEFAULTS.add(cls)
                _SHARED[cls] = serializer
    return serializer


def _has_mutable_default(field: serializers.Field) -> bool:
    """Whether *field*, its child or any of its nested fields (building them, once) defaults to
    a mutable value that every validated body would then share."""
    if isinstance(getattr(field, "default", None), dict | list | set | bytearray):
        return True
    if isinstance(field, serializers.Serializer):
        nested = list(field.fields.values())
    else:  # ListSerializer, ListField, DictField: their items' field
        nested = [getattr(field, "child", None)]
    return any(_has_mutable_default(child) for child in nested if child is not None)


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


class V1ListQuery(Serializer):
    """The query of the original DuraGraph server's lists (``GET /api/v1/assistants`` and
    ``/api/v1/threads``, which the DuraGraph SDK reads): 20 a page by default."""

    limit = limit_field(default=20)
    offset = offset_field()
