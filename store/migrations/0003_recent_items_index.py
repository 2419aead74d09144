"""Searches read a tenant's items most recently updated first (store.selectors): an index in
that order lets a search under a broad prefix stop after a page instead of sorting every item."""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("store", "0002_tenant")]

    operations = [
        migrations.AddIndex(
            model_name="item",
            index=models.Index(fields=["tenant", "-updated_at"], name="store_item_recent_idx"),
        ),
    ]
