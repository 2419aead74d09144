"""Decoding events as the relay publishes them (``runs.stream_log``), without IO."""

from __future__ import annotations

import orjson

from runs import stream_log
from tests.unit.runs.test_frames import RUN_ID


def test_event_from_message():
    body = orjson.dumps(
        {
            "id": 12,
            "stream_type": "run",
            "stream_id": str(RUN_ID),
            "version": 3,
            "type": "RunOutputStreamed",
            "payload": {"mode": "values", "data": {}},
            "metadata": {},
            "created_at": "2026-11-21T05:31:44.123456+00:00",
        }
    )
    parsed = stream_log.event_from_message(body)
    assert (parsed.id, parsed.stream_id, parsed.version) == (12, RUN_ID, 3)
    assert stream_log.event_from_message(b"{not json") is None
    assert stream_log.event_from_message(b'{"id": 1}') is None
