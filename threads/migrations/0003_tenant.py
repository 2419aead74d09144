"""Threads belong to a tenant (docs/tenants.md); existing ones to the default tenant."""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("threads", "0002_checkpoints")]

    operations = [
        migrations.AddField(
            model_name="thread",
            name="tenant",
            field=models.CharField(default="default", max_length=255),
        ),
        migrations.AddIndex(
            model_name="thread",
            index=models.Index(fields=["tenant", "created_at"], name="threads_tenant_created_idx"),
        ),
    ]
