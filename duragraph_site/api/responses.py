"""Response shaping shared by the API views: LangGraph's pagination headers and ``select``."""

from __future__ import annotations

from rest_framework.response import Response


def paginated(body: list, *, total: int, offset: int, limit: int) -> Response:
    """A 200 response with ``X-Pagination-Total`` and, when more rows exist, ``X-Pagination-Next``."""
    response = Response(body)
    response["X-Pagination-Total"] = str(total)
    if offset + limit < total:
        response["X-Pagination-Next"] = str(offset + limit)
    return response


def select_fields(rows: list[dict], fields: list[str] | None) -> list[dict]:
    """Keep only the ``select``ed keys of each row (all of them when nothing is selected)."""
    if not fields:
        return rows
    return [{key: row[key] for key in fields if key in row} for row in rows]
