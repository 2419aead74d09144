"""Each tenant has a store of its own (docs/tenants.md): items are keyed by (tenant, namespace,
key); existing items belong to the default tenant."""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("store", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="item",
            name="tenant",
            field=models.CharField(default="default", max_length=255),
        ),
        migrations.RemoveConstraint(model_name="item", name="store_item_ns_key_uniq"),
        migrations.AddConstraint(
            model_name="item",
            constraint=models.UniqueConstraint(
                fields=("tenant", "namespace", "key"), name="store_item_tenant_ns_key_uniq"
            ),
        ),
    ]
