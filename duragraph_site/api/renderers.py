"""JSON rendering with orjson: fast, and UUIDs and datetimes (ISO 8601 with offset) natively."""

from __future__ import annotations

from typing import Any

import orjson
from rest_framework import renderers


class JSONRenderer(renderers.JSONRenderer):
    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: dict | None = None,
    ) -> bytes:
        if data is None:
            return b""
        return orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)
