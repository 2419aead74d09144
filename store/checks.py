"""The store's system check (run before every ``manage.py`` command, ``manage.py dev``'s
start included): ``langgraph.json``'s ``store.index`` is well formed, its embedding function
loads, and the database can rank with pgvector, or the operator is told it cannot."""

from __future__ import annotations

from typing import Any

from django.core import checks
from django.db import DatabaseError, connection
from django.db.migrations.recorder import MigrationRecorder

from store import embeddings, selectors

#: The store's migration that creates pgvector where the server has it.
VECTOR_MIGRATION = "0004_item_vectors"


@checks.register()
def store_index(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    try:
        index = embeddings.configured_index()
    except ValueError as error:
        return [checks.Error(str(error), id="store.E001")]
    if index is None:
        return []
    try:
        status = selectors.pgvector_status()
        recorder = MigrationRecorder(connection)
        migrated = recorder.has_table() and (
            recorder.migration_qs.filter(app="store", name=VECTOR_MIGRATION).exists()
        )
    except DatabaseError:
        return []  # no database yet: the commands that need one say so themselves
    if status == "installed" or (status == "available" and not migrated):
        return []  # ranked with pgvector (once the migration has created it)
    where = (
        "the PostgreSQL server has no pgvector extension"
        if status == "missing"
        else "pgvector is on the server but not created in this database"
    )
    return [
        checks.Warning(
            f"langgraph.json store.index: {where}, so semantic searches rank every matching "
            "item in plain SQL (correct, but much slower than pgvector: see docs/store.md).",
            hint="Install pgvector on the PostgreSQL server (e.g. apt install "
            "postgresql-16-pgvector), run CREATE EXTENSION vector in the database as a "
            "superuser, and restart; the embedded PostgreSQL of `make dev` has it.",
            id="store.W001",
        )
    ]
