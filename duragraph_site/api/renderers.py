"""JSON rendering with orjson: fast, and UUIDs and datetimes (ISO 8601 with offset) natively."""

from __future__ import annotations

from typing import Any

import orjson
from rest_framework import renderers

from duragraph_site.api.fields import MAX_INT, MIN_INT

OPTIONS = orjson.OPT_NON_STR_KEYS


class JSONRenderer(renderers.JSONRenderer):
    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: dict | None = None,
    ) -> bytes:
        if data is None:
            return b""
        try:
            return orjson.dumps(data, option=OPTIONS)
        except orjson.JSONEncodeError:
            # jsonb keeps numbers as exact decimals: a float such as 1e300 comes back from
            # PostgreSQL as a 301-digit integer, which orjson refuses. Give it back as a float.
            return orjson.dumps(_huge_ints_as_floats(data), option=OPTIONS)


def _huge_ints_as_floats(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _huge_ints_as_floats(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_huge_ints_as_floats(item) for item in value]
    if isinstance(value, int) and not isinstance(value, bool) and not MIN_INT <= value <= MAX_INT:
        return float(value)
    return value
