"""``runs_claimable_v1``: the one definition of a claimable run (``runs/sql/runs_claimable_v1.sql``)."""

from pathlib import Path

from django.db import migrations

from duragraph_site import sqlfiles

SQL = sqlfiles.load(Path(__file__).parent.parent / "sql" / "runs_claimable_v1.sql")


class Migration(migrations.Migration):
    dependencies = [("runs", "0004_claim_in_creation_order")]

    operations = [
        migrations.RunSQL(SQL["runs_claimable_v1"], reverse_sql="DROP VIEW runs_claimable_v1")
    ]
