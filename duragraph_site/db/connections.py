"""Database connections used from threads that Django does not manage.

Django gives each thread its own connection and, with the pool, returns it to the pool only
when closed. Request threads close theirs at the end of the request; threads started by
LangGraph (task and checkpoint executors), lease keepers and listeners do not. Code that may
run there wraps its database work in :func:`released`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.db import connection


@contextlib.contextmanager
def released() -> Iterator[None]:
    """Give this thread's connection back to the pool afterwards (unless a transaction is open)."""
    try:
        yield
    finally:
        if not connection.in_atomic_block:
            connection.close()
