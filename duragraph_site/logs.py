"""Logging plumbing: every log line says which request it belongs to.

:class:`RequestIdFilter` (on the console handler, ``LOGGING`` in settings) copies the request id
bound by ``events.context`` (the ``X-Request-ID`` the client sent, or one made up and echoed by
``EventContextMiddleware``) onto each record as ``request_id``, ``-`` outside a request. So a 500's
traceback in the log can be found from the id the client got back.
"""

from __future__ import annotations

import logging

from events import context


class RequestIdFilter(logging.Filter):
    """Sets ``record.request_id`` (never filters anything out)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = context.current().get("request_id") or "-"
        return True
