"""Identifiers: UUIDv7 (time-ordered), as LangGraph Platform generates for threads and runs."""

from __future__ import annotations

import uuid

import uuid_utils


def new_id() -> uuid.UUID:
    """A new time-ordered UUID (version 7) as a standard ``uuid.UUID``."""
    return uuid.UUID(bytes=uuid_utils.uuid7().bytes)
