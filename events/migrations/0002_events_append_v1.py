"""``events_append_v1``: the one function that inserts into the event log and the outbox
(``events/sql/events_append_v1.sql``)."""

from pathlib import Path

from django.db import migrations

from duragraph_site import sqlfiles

SQL = sqlfiles.load(Path(__file__).parent.parent / "sql" / "events_append_v1.sql")


class Migration(migrations.Migration):
    dependencies = [("events", "0001_initial")]

    operations = [
        migrations.RunSQL(
            SQL["events_append_v1"],
            reverse_sql="DROP FUNCTION events_append_v1(text, uuid, integer, text[], jsonb[], jsonb, text, timestamptz)",
        )
    ]
