"""The one error tree of the project.

Every domain and service error subclasses :class:`DuraGraphError` and declares its HTTP mapping as
data (``status_code``) and a stable machine-readable ``code``; the API's exception handler renders
``{"detail": message}`` from them and rolls the transaction back. The default message is the
first line of the class docstring (procrastinate's habit), so a bare ``raise NotFound()`` still
says something useful.

This module is pure Python: domain modules import it, and it imports nothing from Django.
"""

from __future__ import annotations

from typing import Any


class DuraGraphError(Exception):
    """Something went wrong in DuraGraph."""

    status_code: int = 500
    code: str = "error"

    def __init__(self, message: str | None = None, **extra: Any) -> None:
        self.message = message or (self.__doc__ or self.code).strip().splitlines()[0]
        self.extra = extra
        super().__init__(self.message)


class BadRequest(DuraGraphError):
    """The request cannot be carried out as given."""

    status_code = 400
    code = "bad_request"


class NotFound(DuraGraphError):
    """Not Found"""

    status_code = 404
    code = "not_found"


class Conflict(DuraGraphError):
    """The request conflicts with the current state."""

    status_code = 409
    code = "conflict"


class InvalidInput(DuraGraphError):
    """The input is invalid."""

    status_code = 422
    code = "invalid_input"


class IllegalTransition(Conflict):
    """This change is not allowed in the current state."""

    code = "illegal_transition"


class StaleLease(Conflict):
    """The lease epoch is stale: another worker owns this run now."""

    code = "stale_lease"


class ConcurrencyError(Conflict):
    """The stream was changed concurrently; reload and retry."""

    code = "concurrency_conflict"

    def __init__(self, stream_id: Any, expected_version: int) -> None:
        super().__init__(
            f"stream {stream_id} is no longer at version {expected_version}; reload and retry",
            stream_id=str(stream_id),
            expected_version=expected_version,
        )
        self.stream_id = stream_id
        self.expected_version = expected_version
