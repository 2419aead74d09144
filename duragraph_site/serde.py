"""LangGraph values as JSON: state values, stream chunks, interrupts, messages.

Graph state holds Python objects (LangChain messages are pydantic models, interrupts are
dataclasses, sets, tuples...). The API, stored events and SSE frames need plain JSON: this is
the one conversion, mirroring what LangGraph Platform sends (pydantic models as
``model_dump()``, dataclasses as dicts, sets and tuples as lists, exceptions as
``{"error", "message"}``, anything else as ``str``).
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Any

import orjson
from langgraph.types import Interrupt, Send
from pydantic import BaseModel

# Dataclasses go through _default too, so that LangGraph's own types get their wire shape.
_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_PASSTHROUGH_DATACLASS


def _default(value: Any) -> Any:
    # Only what orjson cannot encode itself (it already does dataclasses, datetimes, UUIDs,
    # enums); the choices follow LangGraph Platform's own serde.
    if isinstance(value, Send):
        return {"node": value.node, "args": value.arg}
    if isinstance(value, Interrupt):
        patched = {"value": value.value, "id": value.id}
        if getattr(value, "response_schema", None) is not None:
            patched["response_schema"] = value.response_schema
        return patched
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, BaseException):
        return {"error": type(value).__name__, "message": str(value)}
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return (
            float(value) if value.as_tuple().exponent < 0 or not value.is_finite() else int(value)
        )
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, tuple):  # e.g. a NamedTuple that is not a dataclass
        return list(value)

    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    if isinstance(value, Mapping):
        return dict(value)
    if hasattr(value, "to_json") and callable(value.to_json):
        return value.to_json()
    if hasattr(value, "_asdict"):
        return value._asdict()
    return str(value)


def dumps(value: Any) -> bytes:
    """*value* as JSON bytes."""
    return orjson.dumps(value, default=_default, option=_OPTIONS)


def to_jsonable(value: Any) -> Any:
    """*value* as plain JSON types (dicts, lists, strings, numbers, booleans, None)."""
    return orjson.loads(dumps(value))
