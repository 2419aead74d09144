"""Request parsing: JSON only.

The body size limit is Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE``: DRF reads ``request.body``
before calling a JSON parser, so Django refuses an oversized body there
(``RequestDataTooBig``), and the API's exception handler answers it with a 413.
"""

from __future__ import annotations

from rest_framework import exceptions, parsers


class JSONParser(parsers.JSONParser):
    """DRF's strict JSON parser (NaN and Infinity are errors); absurd nesting is a parse error."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - nested too deeply") from None
