"""LangGraph's ``BaseCheckpointSaver`` on this project's storage.

Writes (``put``, ``put_writes``) become ``CheckpointSaved`` / ``CheckpointWritesSaved`` events on
the thread's stream, projected into the ``Checkpoint`` / ``CheckpointWrite`` tables in the same
transaction. Who may write is the *writer*'s business, given by whoever makes the saver: the
built-in executor passes a writer that checks the run's lease epoch in that transaction (a stale
executor's write is refused and changes nothing); the API's ``update_state`` passes the thread
services' own (``threads.services.ThreadWriter``); without one the saver only reads.

Reads come from the projection tables and return exactly what LangGraph serialized.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    CheckpointTuple,
    get_checkpoint_id,
    get_serializable_checkpoint_metadata,
)

from duragraph_site import serde
from duragraph_site.db.connections import released
from threads.models import Checkpoint, CheckpointWrite

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig
    from langgraph.checkpoint.base import Checkpoint as LangGraphCheckpoint
    from langgraph.checkpoint.base import CheckpointMetadata


class CheckpointWriter(Protocol):
    """Records checkpoint events; implementations decide who is allowed to. ``delete_thread``
    (LangGraph's ``BaseCheckpointSaver.delete_thread``) is only needed of writers whose graphs
    may call it: a run's fenced writer never deletes a thread's history."""

    def save_checkpoint(self, thread_id: uuid.UUID, **fields: Any) -> None: ...

    def save_writes(self, thread_id: uuid.UUID, **fields: Any) -> None: ...

    def delete_thread(self, thread_id: uuid.UUID) -> None: ...


class ReadOnly:
    """The writer of a checkpointer that only reads (state and history): a write is a bug."""

    def save_checkpoint(self, thread_id: uuid.UUID, *args: Any, **fields: Any) -> None:
        raise RuntimeError("this checkpointer was made for reading: give it a writer to write")

    save_writes = delete_thread = save_checkpoint


def _serialized(typed: tuple[str, bytes]) -> dict[str, str]:
    kind, data = typed
    return {"type": kind, "data": base64.b64encode(data).decode()}


class DuraGraphSaver(BaseCheckpointSaver[int]):
    """A LangGraph checkpointer backed by the event store and the checkpoint read model.

    Args:
        writer: who records writes (default: unfenced thread writes).
        run_id: stamped on the checkpoints this saver writes (None outside runs).
        state_keys: the graph's state channels; a root checkpoint's values are those
            channels as JSON (``graph.stream_channels_list``). None: no values recorded.
    """

    def __init__(
        self,
        *,
        writer: CheckpointWriter | None = None,
        run_id: uuid.UUID | None = None,
        state_keys: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        self.writer = writer or ReadOnly()
        self.run_id = run_id
        self.state_keys = list(state_keys) if state_keys is not None else None

    # -- reads ---------------------------------------------------------------------------------
    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        with released():
            return self._get_tuple(config)

    def _get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        configurable = config["configurable"]
        thread_id = configurable["thread_id"]
        checkpoint_ns = configurable.get("checkpoint_ns", "")
        rows = Checkpoint.objects.filter(thread_id=thread_id, checkpoint_ns=checkpoint_ns)
        if checkpoint_id := get_checkpoint_id(config):
            row = rows.filter(checkpoint_id=checkpoint_id).first()
        else:
            row = rows.order_by("-checkpoint_id").first()
        return self._tuple(row) if row is not None else None

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,  # noqa: A002 - LangGraph's signature
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        rows = Checkpoint.objects.all()
        if config is not None:
            configurable = config["configurable"]
            rows = rows.filter(thread_id=configurable["thread_id"])
            if (checkpoint_ns := configurable.get("checkpoint_ns")) is not None:
                rows = rows.filter(checkpoint_ns=checkpoint_ns)
            if checkpoint_id := get_checkpoint_id(config):
                rows = rows.filter(checkpoint_id=checkpoint_id)
        if filter:
            rows = rows.filter(metadata__contains=serde.to_jsonable(filter))
        if before is not None and (before_id := get_checkpoint_id(before)):
            rows = rows.filter(checkpoint_id__lt=before_id)
        rows = rows.order_by("-checkpoint_id")
        if limit is not None:
            rows = rows[:limit]
        with released():
            tuples = [self._tuple(row) for row in rows]
        yield from tuples

    def _tuple(self, row: Checkpoint) -> CheckpointTuple:
        thread_id = str(row.thread_id)
        writes = CheckpointWrite.objects.filter(
            thread_id=row.thread_id,
            checkpoint_ns=row.checkpoint_ns,
            checkpoint_id=row.checkpoint_id,
        ).order_by("task_path", "task_id", "idx")  # LangGraph's writes_sort_key
        return CheckpointTuple(
            config={
                "configurable": {
                    "thread_id": thread_id,
                    "checkpoint_ns": row.checkpoint_ns,
                    "checkpoint_id": row.checkpoint_id,
                }
            },
            checkpoint=self.serde.loads_typed((row.type, bytes(row.checkpoint))),
            metadata=row.metadata,
            parent_config=(
                {
                    "configurable": {
                        "thread_id": thread_id,
                        "checkpoint_ns": row.checkpoint_ns,
                        "checkpoint_id": row.parent_checkpoint_id,
                    }
                }
                if row.parent_checkpoint_id
                else None
            ),
            pending_writes=[
                (w.task_id, w.channel, self.serde.loads_typed((w.type, bytes(w.value))))
                for w in writes
            ],
        )

    # -- writes --------------------------------------------------------------------------------
    def put(
        self,
        config: RunnableConfig,
        checkpoint: LangGraphCheckpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        configurable = config["configurable"]
        thread_id = configurable["thread_id"]
        checkpoint_ns = configurable.get("checkpoint_ns", "")
        self.writer.save_checkpoint(
            _uuid(thread_id),
            checkpoint_ns=checkpoint_ns,
            checkpoint_id=checkpoint["id"],
            parent_checkpoint_id=configurable.get("checkpoint_id"),
            run_id=self.run_id,
            checkpoint=_serialized(self.serde.dumps_typed(checkpoint)),
            metadata=serde.to_jsonable(get_serializable_checkpoint_metadata(config, metadata)),
            values=self._values(checkpoint) if checkpoint_ns == "" else None,
        )
        return {
            "configurable": {
                "thread_id": thread_id,
                "checkpoint_ns": checkpoint_ns,
                "checkpoint_id": checkpoint["id"],
            }
        }

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        configurable = config["configurable"]
        # One row per (task, idx): a special channel written twice keeps the last value, an
        # ordinary index the first (LangGraph's InMemorySaver semantics).
        rows: dict[int, dict[str, Any]] = {}
        for position, (channel, value) in enumerate(writes):
            idx = WRITES_IDX_MAP.get(channel, position)
            if idx >= 0 and idx in rows:
                continue
            rows[idx] = {
                "idx": idx,
                "channel": channel,
                "value": _serialized(self.serde.dumps_typed(value)),
            }
        self.writer.save_writes(
            _uuid(configurable["thread_id"]),
            checkpoint_ns=configurable.get("checkpoint_ns", ""),
            checkpoint_id=configurable["checkpoint_id"],
            task_id=task_id,
            task_path=task_path,
            writes=list(rows.values()),
        )

    def _values(self, checkpoint: LangGraphCheckpoint) -> Any:
        if self.state_keys is None:
            return None
        channel_values = checkpoint["channel_values"]
        return serde.to_jsonable(
            {key: channel_values[key] for key in self.state_keys if key in channel_values}
        )

    def delete_thread(self, thread_id: str) -> None:
        self.writer.delete_thread(_uuid(thread_id))

    def get_next_version(self, current: int | None, channel: None = None) -> int:
        return 1 if current is None else int(current) + 1

    # -- async (the same operations, in a worker thread: never on the event loop) ------------
    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await asyncio.to_thread(self.get_tuple, config)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,  # noqa: A002 - LangGraph's signature
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        tuples = await asyncio.to_thread(
            lambda: list(self.list(config, filter=filter, before=before, limit=limit))
        )
        for item in tuples:
            yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: LangGraphCheckpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return await asyncio.to_thread(self.put, config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        await asyncio.to_thread(self.put_writes, config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        await asyncio.to_thread(self.delete_thread, thread_id)


def _uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
