"""The hottest statements as server-side prepared statements.

Django binds parameters on the client and, to keep external connection poolers working, turns
psycopg's prepared statements off: every statement is sent as text, parsed and planned again.
For the few single-statement writes run once per job or per claim (``workflows/sql``), planning
costs as much as executing. :func:`execute` sends such a statement through a server-binding
cursor of the same connection (``connections.binding_cursor``: the caller's transaction,
Django's errors), prepared once per connection (psycopg keeps the cache; our pool keeps the
connections; a rollback empties it). Behind a pooler in transaction mode that cannot
keep prepared statements (PgBouncer before 1.21), ``DATABASE_PREPARED_STATEMENTS=false`` leaves
psycopg's ``prepare_threshold`` at Django's None, and nothing is prepared.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from duragraph_site.db.connections import binding_cursor


def execute(sql: str, params: Mapping[str, Any]) -> tuple[list[str], list[Sequence[Any]]]:
    """Run *sql* with *params* (``%(name)s`` placeholders); its column names and rows."""
    with binding_cursor() as cursor:
        cursor.execute(sql, params, prepare=True)
        columns = cursor.description  # built anew on each access: once
        if columns is None:
            return [], []
        return [column.name for column in columns], cursor.fetchall()
