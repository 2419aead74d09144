"""Semantic search: the items' embeddings, deleted with their item by the database, and
pgvector where the server has it (embeddings then have its type and searches rank with its
operators; without it they rank in plain SQL, and ``manage.py check`` says so: docs/store.md)."""

from __future__ import annotations

import django.db.models.deletion
from django.db import migrations, models

import store.models

# Created only where the server has the extension and the role may create it: a migration that
# fails on a PostgreSQL without pgvector would stop every install that does not use the index.
# With it, embeddings are stored as pgvector's type (a search compares them without a cast).
CREATE_VECTOR_EXTENSION = """
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') THEN
        CREATE EXTENSION IF NOT EXISTS vector;
        ALTER TABLE store_vector ALTER COLUMN embedding TYPE vector USING embedding::vector;
    END IF;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'pgvector not created (insufficient privilege): searches rank in plain SQL';
END
$$;
"""


class Migration(migrations.Migration):
    dependencies = [("store", "0003_recent_items_index")]

    operations = [
        migrations.CreateModel(
            name="ItemVector",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("field", models.TextField()),
                ("embedding", store.models.EmbeddingField(base_field=models.FloatField())),
                (
                    "item",
                    models.ForeignKey(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="vectors",
                        to="store.item",
                    ),
                ),
            ],
            options={"db_table": "store_vector"},
        ),
        migrations.RunSQL(
            "ALTER TABLE store_vector ADD CONSTRAINT store_vector_item_fk FOREIGN KEY (item_id) "
            "REFERENCES store_item (id) ON DELETE CASCADE",
            reverse_sql="ALTER TABLE store_vector DROP CONSTRAINT store_vector_item_fk",
        ),
        migrations.RunSQL(CREATE_VECTOR_EXTENSION, reverse_sql=migrations.RunSQL.noop),
    ]
