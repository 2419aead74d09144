"""Replay: read models dropped and rebuilt from the log come back equal, field by field."""

from __future__ import annotations

import io
import random
import uuid
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from assistants import services as assistant_services
from assistants.models import Assistant, AssistantVersion
from duragraph_site.errors import DuraGraphError
from events import projections
from runs import services as run_services
from runs.models import Run
from threads import services as thread_services
from threads.models import Thread

pytestmark = pytest.mark.django_db

READ_MODELS = (Assistant, AssistantVersion, Thread, Run)
#: Registered through the repository's langgraph.json.
GRAPHS = ("agent", "chat", "approval", "slow")


def read_models() -> dict[str, list[dict]]:
    """Every read-model row, keyed by natural key (surrogate ids are not part of the state)."""
    rows = {}
    for model in READ_MODELS:
        values = list(model.objects.values())
        for row in values:
            row.pop("id", None)
        rows[model.__name__] = sorted(values, key=lambda r: str(sorted(r.items())))
    return rows


def checkpoint_rows() -> dict[str, list[dict]]:
    """Every checkpoint and pending-write row, without surrogate ids."""
    from threads.models import Checkpoint, CheckpointWrite

    rows = {}
    for model in (Checkpoint, CheckpointWrite):
        values = [
            {k: bytes(v) if isinstance(v, memoryview) else v for k, v in row.items() if k != "id"}
            for row in model.objects.values()
        ]
        rows[model.__name__] = sorted(values, key=lambda r: str(sorted(r.items())))
    return rows


def realistic_history(seed: int = 7) -> None:
    """Assistants with versions, threads with many runs: successes, failures, cancels, rollbacks,
    interrupts, retries after lost leases, deletions, copies."""
    rng = random.Random(seed)
    assistants = []
    for i in range(4):
        a = assistant_services.assistant_create(graph_id=GRAPHS[i], name=f"a{i}", metadata={"i": i})
        for v in range(rng.randint(0, 3)):
            a = assistant_services.assistant_update(
                assistant_id=a.assistant_id, metadata={"v": v}, name=f"a{i}v{v + 2}"
            )
        if a.version > 2:
            assistant_services.assistant_set_latest(assistant_id=a.assistant_id, version=1)
        assistants.append(a)
    doomed = assistant_services.assistant_create(graph_id="slow")
    assistant_services.assistant_delete(assistant_id=doomed.assistant_id)

    threads = [thread_services.thread_create(metadata={"n": n}) for n in range(12)]
    for n, thread in enumerate(threads):
        if n % 3 == 0:
            thread_services.thread_update(thread_id=thread.thread_id, metadata={"tag": "x"})
        for r in range(rng.randint(1, 5)):
            assistant = rng.choice(assistants)
            strategy = rng.choice(["enqueue", "interrupt", "rollback", "enqueue"])
            run = run_services.run_create(
                thread_id=thread.thread_id,
                assistant_id=assistant.assistant_id,
                kwargs={"input": {"n": n, "r": r}},
                multitask_strategy=strategy,
                max_attempts=2,
            )
            outcome = rng.choice(
                ["success", "error", "cancel", "interrupt", "lost", "pending", "timeout"]
            )
            if outcome == "pending":
                continue
            if outcome == "cancel":
                run_services.run_cancel(
                    run_id=run.run_id, action=rng.choice(["interrupt", "rollback"])
                )
                continue
            # Earlier pending runs on the thread would be claimed first in real life; here start this one.
            claim = run_services.run_start(run_id=run.run_id, worker_id=f"w{r}", lease_seconds=1)
            epoch = claim.lease_epoch
            if outcome == "success":
                run_services.run_complete(
                    run_id=run.run_id, lease_epoch=epoch, output={"answer": n * r}
                )
            elif outcome == "error":
                run_services.run_fail(
                    run_id=run.run_id, lease_epoch=epoch, error="ValueError", message=f"bad {n}"
                )
                if rng.random() < 0.5:
                    run_services.run_requeue(run_id=run.run_id)
            elif outcome == "timeout":
                run_services.run_time_out(run_id=run.run_id, lease_epoch=None, message="too slow")
            elif outcome == "interrupt":
                run_services.run_interrupt(
                    run_id=run.run_id,
                    lease_epoch=epoch,
                    interrupts={"t": [{"value": n}]},
                    output={"n": n},
                )
            elif outcome == "lost":
                run_services.runs_reap_expired_leases(now=timezone.now() + timedelta(seconds=5))
        if n % 4 == 1:
            thread_services.thread_copy(thread_id=thread.thread_id)
        if n % 5 == 2:
            thread_services.thread_delete(thread_id=thread.thread_id)


def test_rebuild_projections_gives_back_equal_read_models():
    realistic_history()
    original = read_models()
    assert len(original["Run"]) > 10 and len(original["AssistantVersion"]) > 4

    out = io.StringIO()
    call_command("rebuild_projections", stdout=out)
    assert "0 differ from the log" in out.getvalue() and "nothing changed" in out.getvalue()

    # Drop every read model: rebuild must recreate them from the log alone.
    for model in (AssistantVersion, Assistant, Run, Thread):
        model.objects.all().delete()
    call_command("rebuild_projections", "--for-real", stdout=io.StringIO())
    assert read_models() == original


def test_replay_reports_drift_and_rebuild_repairs_it():
    realistic_history(seed=3)
    run = Run.objects.order_by("created_at").first()
    out = io.StringIO()
    call_command("replay", "run", str(run.run_id), stdout=out)
    assert "read model matches the event log" in out.getvalue()
    assert f'"run_id": "{run.run_id}"' in out.getvalue()

    # Someone edits the read model behind the services' back.
    Run.objects.filter(pk=run.pk).update(status="success", attempt=99)
    result = projections.replay("run", run.run_id)
    assert set(result.differences) >= {"status", "attempt"}
    assert result.differences["attempt"] == (run.attempt, 99)
    with pytest.raises(CommandError, match="differs"):
        call_command("replay", "run", str(run.run_id), stdout=io.StringIO())

    call_command("rebuild_projections", "--for-real", stdout=io.StringIO())
    assert projections.replay("run", run.run_id).differences == {}


def test_replay_of_a_deleted_aggregate_agrees_with_a_missing_row():
    thread = thread_services.thread_create()
    thread_services.thread_delete(thread_id=thread.thread_id)
    result = projections.replay("thread", thread.thread_id)
    assert result.from_log.deleted and result.from_read_model is None and result.differences == {}


def test_replay_refuses_unknown_kinds_and_ids():
    with pytest.raises(DuraGraphError, match="unknown stream type"):
        projections.replay("cron", uuid.uuid4())
    with pytest.raises(CommandError, match="no events"):
        call_command("replay", "thread", str(uuid.uuid4()), stdout=io.StringIO())


@pytest.mark.django_db(transaction=True)
def test_executed_runs_rebuild_equal_checkpoints_included():
    """Runs claimed by the SQL claim and executed by the real executor (checkpoints, pending
    writes, interrupts, a resume, a rollback, update_state, a copy) rebuild field by field."""
    from assistants.domain import system_assistant_id
    from threads.models import Checkpoint, CheckpointWrite
    from workers import executor

    assistant_services.assistants_ensure_system()
    agent, approval = system_assistant_id("agent"), system_assistant_id("approval")

    done = thread_services.thread_create()
    run_services.run_create(
        thread_id=done.thread_id, assistant_id=agent, kwargs={"input": {"steps": ["x"]}}
    )
    parked = thread_services.thread_create()
    run_services.run_create(
        thread_id=parked.thread_id, assistant_id=approval, kwargs={"input": {"request": "r"}}
    )
    assert executor.drain(worker_id="rebuild-test") == 2
    run_services.run_create(
        thread_id=parked.thread_id, assistant_id=approval, kwargs={"command": {"resume": "ok"}}
    )
    thread_services.thread_update_state(
        thread_id=done.thread_id, values={"steps": ["edited"]}, as_node="respond"
    )
    rolled = thread_services.thread_create()
    first = run_services.run_create(
        thread_id=rolled.thread_id, assistant_id=agent, kwargs={"input": {"steps": []}}
    )
    run_services.run_cancel(run_id=first.run_id, action="rollback")
    assert executor.drain(worker_id="rebuild-test") == 1
    thread_services.thread_copy(thread_id=done.thread_id)

    checkpoints = checkpoint_rows()
    original = read_models()
    assert len(checkpoints["Checkpoint"]) > 8 and checkpoints["CheckpointWrite"]

    for model in (CheckpointWrite, Checkpoint, AssistantVersion, Assistant, Run, Thread):
        model.objects.all().delete()
    call_command("rebuild_projections", "--for-real", stdout=io.StringIO())
    assert read_models() == original
    assert checkpoint_rows() == checkpoints
