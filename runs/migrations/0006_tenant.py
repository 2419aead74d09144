"""Runs and crons belong to a tenant (docs/tenants.md); existing ones to the default tenant."""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("runs", "0005_runs_claimable_v1")]

    operations = [
        migrations.AddField(
            model_name="run",
            name="tenant",
            field=models.CharField(default="default", max_length=255),
        ),
        migrations.AddField(
            model_name="cron",
            name="tenant",
            field=models.CharField(default="default", max_length=255),
        ),
        migrations.AddIndex(
            model_name="run",
            index=models.Index(fields=["tenant", "status"], name="runs_tenant_status_idx"),
        ),
        migrations.AddIndex(
            model_name="cron",
            index=models.Index(fields=["tenant", "created_at"], name="runs_cron_tenant_created_idx"),
        ),
    ]
