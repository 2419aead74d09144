"""The rate limits' buckets when they live in PostgreSQL (accounts.ratelimit.PostgresBuckets).

UNLOGGED: no WAL for a row rewritten on every request; a crash empties the table, which only
means every bucket starts full again. No model: only ``accounts/sql/ratelimit.sql`` touches it.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
    ]

    operations = [
        migrations.RunSQL(
            sql="""
                CREATE UNLOGGED TABLE accounts_ratelimit_bucket (
                    key text PRIMARY KEY,
                    tokens float8 NOT NULL,
                    granted integer NOT NULL,
                    updated_at float8 NOT NULL,
                    full_at float8 NOT NULL
                ) WITH (fillfactor = 70)
            """,
            reverse_sql="DROP TABLE accounts_ratelimit_bucket",
        ),
    ]
