"""The built-in executor: runs LangGraph graphs of the registry under a lease.

A claimed run is executed with a checkpointer whose every write, like every stream chunk and the
final status, names the claim's lease epoch and is refused (``StaleLease``) once the run was
cancelled or taken over: a stale executor changes nothing. The lease is renewed while the run
lives. A run delivered again after a crash continues from its latest checkpoint (a node's
result is saved as pending writes as soon as the node finishes), so a node whose result was
checkpointed never runs again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import queue
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import DatabaseError, close_old_connections
from django.utils import timezone
from langchain_core.callbacks import BaseCallbackHandler
from langgraph._internal._constants import CONFIG_KEY_STREAM_MESSAGES_V2
from langgraph.types import Command, Send

from assistants import graphs
from assistants.models import Assistant
from duragraph_site import serde
from duragraph_site.db.connections import released
from duragraph_site.errors import StaleLease
from events import context as event_context
from runs import domain as run_domain
from runs import services as run_services
from runs.services import Claim
from store.langgraph_store import TenantStore
from threads.checkpointer import DuraGraphSaver
from threads.models import Checkpoint
from workers import config as run_config
from workers.node_cache import TenantNodeCache

logger = logging.getLogger(__name__)

#: Stream modes LangGraph's Pregel loop can produce, by the API mode that asks for them.
PREGEL_MODES = {
    "values": "values",
    "updates": "updates",
    "custom": "custom",
    "messages": "messages",
    "messages-tuple": "messages",
    "tasks": "tasks",
    "checkpoints": "checkpoints",
    "debug": "debug",
    "tools": "tools",
}
#: Always streamed: final values, node start/end events, interrupts.
INTERNAL_MODES = ("values", "updates", "tasks")


def served_graphs() -> list[str]:
    """The graphs this process executes: ``DURAGRAPH_EXECUTOR_GRAPHS``, else every local graph
    of the registry (never a graph that only remote workers serve)."""
    return list(settings.DURAGRAPH_EXECUTOR_GRAPHS) or graphs.registry().ids()


def default_worker_id() -> str:
    """This process's id in the worker registry and on every claim it makes (one per process:
    its execution slots share it, each claim is told apart by its lease epoch)."""
    return f"executor:{socket.gethostname()}:{os.getpid()}"


class RunFencedWriter:
    """Checkpoint writes of a leased run, each checked against the lease in its transaction."""

    def __init__(self, run_id: uuid.UUID, lease_epoch: int) -> None:
        self.run_id = run_id
        self.lease_epoch = lease_epoch

    def save_checkpoint(self, thread_id: uuid.UUID, **fields: Any) -> None:
        with released():  # LangGraph calls this from its own threads
            run_services.run_save_checkpoint(
                run_id=self.run_id,
                lease_epoch=self.lease_epoch,
                thread_id=thread_id,
                checkpoint=fields,
            )

    def save_writes(self, thread_id: uuid.UUID, **fields: Any) -> None:
        with released():
            run_services.run_save_writes(
                run_id=self.run_id, lease_epoch=self.lease_epoch, thread_id=thread_id, writes=fields
            )


class LeaseKeeper:
    """Renews the run's lease every third of its duration until stopped; knows when it may no
    longer act on it.

    Two ways to lose a lease: a renewal refused (the run was cancelled or taken over), and time.
    A process that was frozen (SIGSTOP, a stalled VM) or could not reach the database for a
    whole lease must assume the reaper gave its run to another executor, before any write tells
    it so: :meth:`check` compares its own clock with the lease's end, as of the last renewal
    that succeeded (counted from before it was sent), and :class:`LeaseGate` asks it before
    every node, tool or model call starts. So a woken executor starts no more work whose result
    another executor may already have committed.
    """

    def __init__(self, claim: Claim, lease_seconds: float) -> None:
        self.claim = claim
        self.lease_seconds = lease_seconds
        self.lost = threading.Event()
        remaining = (claim.run.lease_expires_at - timezone.now()).total_seconds()
        #: ``time.monotonic()`` at which the lease ends unless renewed.
        self.valid_until = time.monotonic() + remaining
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._renew, name=f"lease-{claim.run.run_id}", daemon=True
        )

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def check(self) -> None:
        """Raises LeaseLost unless the lease is still ours by our own clock and unrefused."""
        if self.lost.is_set() or time.monotonic() >= self.valid_until:
            raise LeaseLost

    def _renew(self) -> None:
        try:
            while not self._stop.wait(self.lease_seconds / 3):
                sent = time.monotonic()
                try:
                    with released():
                        run_services.run_renew_lease(
                            run_id=self.claim.run.run_id,
                            lease_epoch=self.claim.lease_epoch,
                            lease_seconds=self.lease_seconds,
                        )
                except StaleLease:
                    self.lost.set()
                    return
                except Exception:  # noqa: BLE001 - keep trying: the reaper decides, not a blip
                    logger.warning(
                        "could not renew the lease of run %s", self.claim.run.run_id, exc_info=True
                    )
                else:
                    self.valid_until = sent + self.lease_seconds
        finally:
            close_old_connections()


class LeaseGate(BaseCallbackHandler):
    """Refuses to start a node (or a tool, or a model call) once the lease may be gone.

    A LangChain callback: LangGraph calls ``on_chain_start`` on the node's thread before the
    node's body runs; raising there (``raise_error``) fails the task before it does anything,
    with :class:`LeaseLost`, which ends the execution without writing (the run's fate is the
    reaper's). Writes are fenced by the database anyway; this keeps *side effects* from
    running again after another executor committed them.
    """

    raise_error = True
    run_inline = True

    def __init__(self, keeper: LeaseKeeper) -> None:
        self.keeper = keeper

    def on_chain_start(self, *args: Any, **kwargs: Any) -> None:
        self.keeper.check()

    def on_tool_start(self, *args: Any, **kwargs: Any) -> None:
        self.keeper.check()

    def on_llm_start(self, *args: Any, **kwargs: Any) -> None:
        self.keeper.check()

    def on_chat_model_start(self, *args: Any, **kwargs: Any) -> None:
        self.keeper.check()


@dataclass
class StreamSeen:
    """What the root graph's stream told about how the run ended (no need to re-read state)."""

    values: Any = None
    interrupted: bool = False
    #: ``{task_id: [Interrupt, ...]}`` of the tasks that called ``interrupt()``.
    interrupts: dict[str, Any] = field(default_factory=dict)

    def observe(self, mode: str, data: Any) -> None:
        if mode == "values":
            self.values = (
                {k: v for k, v in data.items() if k != "__interrupt__"}
                if isinstance(data, dict)
                else data
            )
        elif mode == "updates" and isinstance(data, dict) and "__interrupt__" in data:
            self.interrupted = True  # LangGraph's signal for interrupt() and breakpoints alike
        elif mode == "tasks" and data.get("interrupts"):
            self.interrupts[data["id"]] = [
                _interrupt(item) for item in serde.to_jsonable(list(data["interrupts"]))
            ]


def _interrupt(item: dict[str, Any]) -> dict[str, Any]:
    """LangGraph Platform's interrupt shape: ``response_schema`` only when there is one."""
    return {
        key: value for key, value in item.items() if key != "response_schema" or value is not None
    }


class LeaseLost(Exception):
    """The run was cancelled or taken over while executing (or may have been: the lease ran out
    by our own clock): stop, write nothing more."""


class OutputWriter:
    """Writes a run's output events from a background thread, many per transaction.

    The graph never waits for its stream chunks to be stored: :meth:`emit` queues them, and
    the writer appends whatever has accumulated in one fenced statement (group commit), so a
    burst of chunks costs one commit while a lone chunk is still written at once. Order is
    kept. A refused write (stale lease) sets :attr:`lost`; :meth:`close` waits for the rest.
    """

    def __init__(self, claim: Claim) -> None:
        self.claim = claim
        self.lost = threading.Event()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(
            target=self._write, name=f"output-{claim.run.run_id}", daemon=True
        )
        self._thread.start()

    def emit(self, events: list[Any]) -> None:
        for event in events:
            self._queue.put(event)

    def close(self) -> None:
        """Write everything emitted so far, then stop. Raises LeaseLost if a write was refused."""
        self._queue.put(_STOP)
        self._thread.join()
        if self.lost.is_set():
            raise LeaseLost

    def _write(self) -> None:
        run = self.claim.run
        stopping = False
        try:
            while not stopping:
                batch = [self._queue.get()]
                while not self._queue.empty() and len(batch) < 500:
                    batch.append(self._queue.get())
                if batch[-1] is _STOP:
                    batch.pop()
                    stopping = True
                if not batch or self.lost.is_set():
                    continue
                try:
                    with released():
                        run_services.run_record_output(
                            run_id=run.run_id,
                            thread_id=run.thread_id,
                            lease_epoch=self.claim.lease_epoch,
                            events=batch,
                        )
                except StaleLease:
                    self.lost.set()
        except Exception:  # noqa: BLE001 - a broken writer must not hang the run: fail it as lost
            logger.exception("output writer of run %s failed", run.run_id)
            self.lost.set()


_STOP = object()


@dataclass
class Execution:
    """One attempt at one claimed run."""

    claim: Claim
    worker_id: str
    lease_seconds: float = field(default_factory=lambda: settings.DURAGRAPH_LEASE_SECONDS)

    @property
    def run(self) -> Any:
        return self.claim.run

    def execute(self) -> None:
        """Run the graph to its end, an interrupt, an error or a lost lease; record the outcome."""
        with (
            event_context.bound(actor=f"worker:{self.worker_id}", worker_id=self.worker_id),
            LeaseKeeper(self.claim, self.lease_seconds) as keeper,
        ):
            try:
                self._execute(keeper)
            except (StaleLease, LeaseLost):
                logger.info(
                    "run %s: lease %s no longer valid; stopping",
                    self.run.run_id,
                    self.claim.lease_epoch,
                )
            except DatabaseError:
                # Not the run's fault: leave it leased; when the lease lapses the reaper hands
                # it to an executor again, which resumes from its latest checkpoint.
                logger.exception(
                    "run %s: database error; leaving it to be retried", self.run.run_id
                )
        close_old_connections()

    def _execute(self, keeper: LeaseKeeper) -> None:
        run = self.run
        assistant = Assistant.objects.filter(assistant_id=run.assistant_id).first()
        if assistant is None:
            self._fail(LookupError(f"assistant {run.assistant_id} no longer exists"))
            return
        config = self._config(assistant)
        try:
            graph = graphs.registry().get(assistant.graph_id).load(config)
        except Exception as error:  # noqa: BLE001 - a graph that cannot load fails the run, clearly
            self._fail(error)
            return
        saver = DuraGraphSaver(
            writer=RunFencedWriter(run.run_id, self.claim.lease_epoch),
            run_id=run.run_id,
            state_keys=graph.stream_channels_list,
        )
        # The run's tenant's store (runtime.store, get_store(), `store`) and node cache.
        graph = graph.copy(
            update={
                "checkpointer": saver,
                "store": TenantStore(run.tenant),
                "cache": TenantNodeCache(run.tenant),
            }
        )
        input_, config = self._input_and_config(config)
        config["callbacks"] = [LeaseGate(keeper)]
        output = OutputWriter(self.claim)
        try:
            outcome = self._stream(graph, input_, config, output, keeper)
        finally:
            output.close()  # every chunk is stored before the run's final status
        outcome()

    def _stream(
        self,
        graph: Any,
        input_: Any,
        config: dict[str, Any],
        output: OutputWriter,
        keeper: LeaseKeeper,
    ) -> Any:
        """Run the graph, recording its output; returns the call that records how it ended."""
        kwargs = self.run.kwargs
        requested_api_modes = kwargs.get("stream_mode") or ["values"]
        requested = {PREGEL_MODES[m] for m in requested_api_modes if m in PREGEL_MODES}
        options = {
            "context": kwargs.get("context") or None,
            "stream_mode": list(dict.fromkeys([*sorted(requested), *INTERNAL_MODES])),
            "subgraphs": bool(kwargs.get("subgraphs")),
            "interrupt_before": kwargs.get("interrupt_before"),
            "interrupt_after": kwargs.get("interrupt_after"),
            "durability": kwargs.get("durability") or "async",
        }
        limit = settings.DURAGRAPH_RUN_TIMEOUT_SECONDS
        deadline = time.monotonic() + limit if limit else None
        seen = StreamSeen()

        def record(namespace: tuple[str, ...], mode: str, data: Any) -> bool:
            """Record one chunk; False once the run is over its time limit."""
            keeper.check()
            if output.lost.is_set():
                raise LeaseLost
            if not namespace:
                seen.observe(mode, data)
            output.emit(_output_events(list(namespace), mode, data, requested))
            return deadline is None or time.monotonic() <= deadline

        try:
            if "events" in requested_api_modes:
                in_time = asyncio.run(
                    self._stream_with_events(graph, input_, config, options, output, record)
                )
            elif kwargs.get("stream_protocol") == "v2":
                # Protocol v2 runs stream messages as content blocks: LangGraph's v2 handler,
                # which only the v2 stream format attaches, switched on by a key of its own
                # (from a private module: langgraph is pinned).
                configurable = {**config["configurable"], CONFIG_KEY_STREAM_MESSAGES_V2: True}
                v2_stream = graph.stream(
                    input_, {**config, "configurable": configurable}, version="v2", **options
                )
                with contextlib.closing(v2_stream) as stream:
                    in_time = all(record(*_v2_item(part)) for part in stream)
            else:
                with contextlib.closing(graph.stream(input_, config, **options)) as stream:
                    in_time = all(record(*_item(item)) for item in stream)
        except (StaleLease, LeaseLost, DatabaseError):
            raise
        except Exception as error:  # noqa: BLE001 - the graph's own failure is the run's outcome
            return functools.partial(self._fail, error)
        if not in_time:
            message = f"run exceeded its time limit of {limit}s"
            return functools.partial(
                run_services.run_time_out,
                run_id=self.run.run_id,
                lease_epoch=self.claim.lease_epoch,
                message=message,
            )
        return functools.partial(self._finish, seen)

    async def _stream_with_events(
        self,
        graph: Any,
        input_: Any,
        config: dict[str, Any],
        options: dict[str, Any],
        output: OutputWriter,
        record: Any,
    ) -> bool:
        """LangChain's ``astream_events`` (v2): the root graph's stream chunks are recorded as
        usual; every other callback event becomes an ``events`` chunk, as LangGraph Platform does."""
        root = str(self.run.run_id)
        async with contextlib.aclosing(
            graph.astream_events(
                input_, {**config, "run_id": self.run.run_id}, version="v2", **options
            )
        ) as events:
            async for event in events:
                if event["event"] == "on_chain_stream" and event.get("run_id") == root:
                    if not record(*_item(event["data"]["chunk"])):
                        return False
                else:
                    if output.lost.is_set():
                        raise LeaseLost
                    output.emit(
                        [
                            run_domain.RunOutputStreamed(
                                mode="events", namespace=[], data=serde.to_jsonable(event)
                            )
                        ]
                    )
        return True

    # -- inputs ----------------------------------------------------------------------------------
    def _config(self, assistant: Assistant) -> dict[str, Any]:
        return run_config.effective_config(assistant, self.run)

    def _input_and_config(self, config: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        """The graph's input; a redelivered run continues from its own latest checkpoint."""
        run = self.run
        resuming = (
            run.attempt > 1
            and Checkpoint.objects.filter(thread_id=run.thread_id, run_id=run.run_id).exists()
        )
        if resuming:
            configurable = {
                k: v
                for k, v in config["configurable"].items()
                if k not in ("checkpoint_id", "checkpoint_ns", "checkpoint_map")
            }
            return None, {**config, "configurable": configurable}
        command = run.kwargs.get("command")
        if command:
            return _command(command), config
        return run.kwargs.get("input"), config

    # -- outputs ---------------------------------------------------------------------------------
    def _finish(self, seen: StreamSeen) -> None:
        output = serde.to_jsonable(seen.values)
        if seen.interrupted:  # stopped before the end: interrupt() or a breakpoint
            run_services.run_interrupt(
                run_id=self.run.run_id,
                lease_epoch=self.claim.lease_epoch,
                interrupts=seen.interrupts,
                output=output,
            )
        else:
            run_services.run_complete(
                run_id=self.run.run_id, lease_epoch=self.claim.lease_epoch, output=output
            )

    def _fail(self, error: BaseException) -> None:
        logger.info("run %s failed: %r", self.run.run_id, error)
        run_services.run_fail(
            run_id=self.run.run_id,
            lease_epoch=self.claim.lease_epoch,
            error=type(error).__name__,
            message=str(error),
        )


def _item(item: tuple) -> tuple[tuple[str, ...], str, Any]:
    """``(namespace, mode, data)`` from a stream item (``(mode, data)`` without subgraphs)."""
    return item if len(item) == 3 else ((), *item)


def _v2_item(part: dict[str, Any]) -> tuple[tuple[str, ...], str, Any]:
    """``(namespace, mode, data)`` from a v2 stream part; a values chunk gets back the
    ``__interrupt__`` key the v2 format moves out of it."""
    data = part["data"]
    if part["type"] == "values" and part.get("interrupts") and isinstance(data, dict):
        data = {**data, "__interrupt__": part["interrupts"]}
    return tuple(part["ns"]), part["type"], data


def _output_events(
    namespace: list[str], mode: str, data: Any, recorded_modes: set[str]
) -> list[Any]:
    """The run events for one streamed item: node starts/ends, and the chunk itself when its
    mode was asked for (root ``values`` always: they are the run's result)."""
    payload = serde.to_jsonable(data)
    events: list[Any] = []
    if mode == "tasks":
        events.append(_node_event(namespace, payload))
    if mode in recorded_modes or (mode == "values" and not namespace):
        events.append(run_domain.RunOutputStreamed(mode=mode, namespace=namespace, data=payload))
    return events


def _node_event(namespace: list[str], payload: dict[str, Any]) -> Any:
    if "triggers" in payload:
        return run_domain.NodeStarted(
            node=payload["name"], task_id=payload["id"], namespace=namespace
        )
    error = payload.get("error")
    return run_domain.NodeCompleted(
        node=payload["name"],
        task_id=payload["id"],
        namespace=namespace,
        error={"error": "Error", "message": str(error)} if error else None,
        interrupted=bool(payload.get("interrupts")),
    )


def _command(command: dict[str, Any]) -> Command:
    """LangGraph's Command from the API's ``{"resume", "update", "goto"}``."""
    goto = command.get("goto")
    if isinstance(goto, dict):
        goto = Send(goto["node"], goto.get("input"))
    elif isinstance(goto, list):
        goto = [Send(g["node"], g.get("input")) if isinstance(g, dict) else g for g in goto]
    update = command.get("update")
    if isinstance(update, list):
        update = [tuple(pair) for pair in update]
    return Command(resume=command.get("resume"), update=update, goto=goto or ())


def claim_and_execute(
    *, worker_id: str | None = None, limit: int = 1, graph_ids: list[str] | None = None
) -> int:
    """Claim up to *limit* runs and execute them one after the other; returns how many ran."""
    worker_id = worker_id or default_worker_id()
    claims = run_services.runs_claim(
        worker_id=worker_id, limit=limit, graph_ids=graph_ids or served_graphs()
    )
    for claim in claims:
        Execution(claim=claim, worker_id=worker_id).execute()
    return len(claims)


def drain(
    *, worker_id: str | None = None, graph_ids: list[str] | None = None, max_runs: int | None = None
) -> int:
    """Execute claimable runs until there are none left (or *max_runs*); returns how many ran."""
    executed = 0
    while max_runs is None or executed < max_runs:
        if not claim_and_execute(worker_id=worker_id, graph_ids=graph_ids):
            break
        executed += 1
    return executed
