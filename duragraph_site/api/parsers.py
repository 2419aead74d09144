"""Request parsing: JSON only, with a size limit that answers 413 before reading the body."""

from __future__ import annotations

from django.conf import settings
from rest_framework import exceptions, parsers, status


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body too large."
    default_code = "payload_too_large"


class JSONParser(parsers.JSONParser):
    """DRF's strict JSON parser (NaN and Infinity are errors), refusing oversized bodies."""

    def parse(self, stream, media_type=None, parser_context=None):
        request = (parser_context or {}).get("request")
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if request is not None and limit is not None:
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > limit:
                raise PayloadTooLarge(
                    f"Request body of {length} bytes exceeds the limit of {limit} bytes."
                )
        return super().parse(stream, media_type, parser_context)
