"""The assistant read models as a projection: AssistantState <-> ``Assistant`` + versions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from assistants import domain
from assistants.models import Assistant, AssistantVersion
from duragraph_site.errors import NotFound
from events import projections
from events.store import Stream

if TYPE_CHECKING:
    import uuid


def stream(assistant_id: uuid.UUID) -> Stream:
    return Stream(
        type=domain.STREAM_TYPE, id=assistant_id, subject=f"duragraph.assistants.{assistant_id}"
    )


def to_state(row: Assistant, versions: list[AssistantVersion]) -> domain.AssistantState:
    return domain.AssistantState(
        assistant_id=row.assistant_id,
        stream_version=row.stream_version,
        version=row.version,
        graph_id=row.graph_id,
        config=row.config,
        context=row.context,
        metadata=row.metadata,
        name=row.name,
        description=row.description,
        versions=tuple(
            domain.AssistantVersion(
                version=v.version,
                graph_id=v.graph_id,
                config=v.config,
                context=v.context,
                metadata=v.metadata,
                name=v.name,
                description=v.description,
                created_at=v.created_at,
            )
            for v in sorted(versions, key=lambda v: v.version)
        ),
        created_at=row.created_at,
        updated_at=row.updated_at,
        tenant=row.tenant,
    )


def save(state: domain.AssistantState, previous: domain.AssistantState | None) -> None:
    """Write the assistant row and any version rows that *previous* did not have yet."""
    if state.deleted:
        Assistant.objects.filter(assistant_id=state.assistant_id).delete()
        return
    columns = {
        "graph_id": state.graph_id,
        "config": dict(state.config),
        "context": dict(state.context),
        "metadata": dict(state.metadata),
        "name": state.name,
        "description": state.description,
        "version": state.version,
        "stream_version": state.stream_version,
        "created_at": state.created_at,
        "updated_at": state.updated_at,
        "tenant": state.tenant,
    }
    if previous is None or previous.deleted:
        previous = None
        Assistant.objects.create(assistant_id=state.assistant_id, **columns)
    else:
        Assistant.objects.filter(assistant_id=state.assistant_id).update(**columns)
    known = {v.version for v in previous.versions} if previous is not None else set()
    AssistantVersion.objects.bulk_create(
        AssistantVersion(
            assistant_id=state.assistant_id,
            version=v.version,
            graph_id=v.graph_id,
            config=dict(v.config),
            context=dict(v.context),
            metadata=dict(v.metadata),
            name=v.name,
            description=v.description,
            created_at=v.created_at,
        )
        for v in state.versions
        if v.version not in known
    )


def read(assistant_id: uuid.UUID) -> domain.AssistantState | None:
    row = Assistant.objects.filter(assistant_id=assistant_id).first()
    if row is None:
        return None
    return to_state(row, list(row.versions.all()))


def load_for_update(assistant_id: uuid.UUID) -> domain.AssistantState:
    """The assistant's state with its row locked; NotFound if absent."""
    row = Assistant.objects.select_for_update().filter(assistant_id=assistant_id).first()
    if row is None:
        raise NotFound(f"Assistant {assistant_id} not found")
    return to_state(row, list(row.versions.all()))


def reset() -> int:
    count = Assistant.objects.count()
    AssistantVersion.objects.all().delete()
    Assistant.objects.all().delete()
    return count


PROJECTION = projections.Projection(
    stream_type=domain.STREAM_TYPE,
    event_types=domain.EVENT_TYPES,
    apply=domain.apply,
    read=read,
    save=save,
    reset=reset,
)
