"""Database connections used from threads that Django does not manage.

Django gives each thread its own connection and, with the pool, returns it to the pool only
when closed. Request threads close theirs at the end of the request; threads started by
LangGraph (task and checkpoint executors), lease keepers and listeners do not. Code that may
run there wraps its database work in :func:`released`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg
from django.db import connection


@contextlib.contextmanager
def released() -> Iterator[None]:
    """Give this thread's connection back to the pool afterwards (unless a transaction is open)."""
    try:
        yield
    finally:
        if not connection.in_atomic_block:
            connection.close()


@contextlib.contextmanager
def binding_cursor() -> Iterator[psycopg.Cursor]:
    """A cursor on this thread's Django connection (same transaction) whose parameters travel
    apart from the statement: binary, no quoting in Python. Django's own cursors bind on the
    client, which for the executor's checkpoint blobs and JSON payloads costs about twice the
    statement (docs/performance.md). For single statements only (multi-statement SQL needs
    client-side binding), and invisible to Django's query logging.

    Its errors are Django's, as from any Django cursor (``psycopg.errors.AdminShutdown`` becomes
    ``django.db.OperationalError``): callers that tell a lost database from a failed graph or
    request by ``DatabaseError`` must never see psycopg's own classes."""
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        yield cursor
