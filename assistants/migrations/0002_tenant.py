"""Assistants belong to a tenant (docs/tenants.md). Existing rows: a graph's default assistant
(its id is LangGraph's uuid5 of the graph id) is a system one (tenant ""), the others belong to
the default tenant, as ``assistants.domain.legacy_tenant`` decides when replaying their events."""

from __future__ import annotations

from django.db import migrations, models

from assistants.domain import legacy_tenant


def system_assistants(apps, schema_editor) -> None:
    Assistant = apps.get_model("assistants", "Assistant")
    for assistant_id, graph_id in Assistant.objects.values_list("assistant_id", "graph_id"):
        tenant = legacy_tenant(assistant_id, graph_id)
        if tenant != "default":
            Assistant.objects.filter(assistant_id=assistant_id).update(tenant=tenant)


class Migration(migrations.Migration):
    dependencies = [("assistants", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="assistant",
            name="tenant",
            field=models.CharField(default="default", max_length=255),
        ),
        migrations.AddIndex(
            model_name="assistant",
            index=models.Index(
                fields=["tenant", "created_at"], name="assistants_tenant_created_idx"
            ),
        ),
        migrations.RunPython(system_assistants, migrations.RunPython.noop, elidable=True),
    ]
