"""DAG jobs on real PostgreSQL: a run's roots enqueued, claims matching labels and taking the
oldest first, each job claimed once by concurrent workers, cascades and outputs, retries with
backoff, lease expiry with and without budget, timeouts, skip-downstream, cancels and their
races with late calls, and every aggregate replayable from its events."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from duragraph_site.errors import InvalidInput
from events import projections, store
from runs.frames import Cursor
from workflows import definitions, domain, services
from workflows.models import JobRun, WorkflowRun

pytestmark = pytest.mark.django_db


def define(text: str, workflow_id: str = "ci") -> str:
    services.workflow_define(
        workflow_id=workflow_id, workflow=definitions.parse(text, filename="x.yml"), source="api"
    )
    return workflow_id


DIAMOND = """
name: Diamond
on: push
jobs:
  a: {run: "echo a"}
  b: {needs: a, run: "echo b", labels: [linux]}
  c: {needs: a, run: "echo c", retries: 1, backoff: {fixed: 30}}
  d: {needs: [b, c], run: "echo d"}
"""


def statuses(run_id) -> dict[str, str]:
    return dict(JobRun.objects.filter(run_id=run_id).values_list("job_id", "status"))


def claim(labels=(), worker="w1", ttl=30.0):
    return services.job_claim(worker_id=worker, labels=list(labels), ttl_seconds=ttl)


def test_a_run_cascades_through_its_dag_with_outputs_and_labels():
    started = services.workflow_run_start(workflow_id=define(DIAMOND))
    run_id = started.run.run_id
    assert started.started and statuses(run_id) == {
        "a": "queued",
        "b": "waiting",
        "c": "waiting",
        "d": "waiting",
    }
    a = claim()
    assert a.job_id == "a" and a.command.endswith("echo a")
    assert claim() is None, "nothing else is claimable yet"
    services.job_complete(lease_id=a.lease_id, outputs={"sha": "abc", "n": 3})
    assert statuses(run_id) == {"a": "success", "b": "queued", "c": "queued", "d": "waiting"}
    # b needs a worker labelled linux: an unlabelled worker gets c.
    c = claim()
    assert c.job_id == "c" and c.upstream_outputs == {"a": {"sha": "abc", "n": "3"}}
    b = claim(labels=["linux", "docker"])
    assert b.job_id == "b" and b.labels == ("linux",)
    services.job_complete(lease_id=b.lease_id, outputs={})
    assert statuses(run_id)["d"] == "waiting"
    services.job_complete(lease_id=c.lease_id, outputs={"x": "1"})
    d = claim()
    assert d.upstream_outputs == {"b": {}, "c": {"x": "1"}}, "the outputs of its direct needs"
    services.job_complete(lease_id=d.lease_id, outputs={})
    assert WorkflowRun.objects.get(run_id=run_id).status == "success"


def test_starting_a_workflow_with_an_active_run_answers_that_run():
    workflow_id = define(DIAMOND)
    first = services.workflow_run_start(workflow_id=workflow_id)
    again = services.workflow_run_start(workflow_id=workflow_id)
    assert (again.started, again.run.run_id) == (False, first.run.run_id)


def test_a_failure_is_retried_after_its_backoff_then_fails_and_skips_downstream():
    run_id = services.workflow_run_start(workflow_id=define(DIAMOND)).run.run_id
    services.job_complete(lease_id=claim().lease_id, outputs={})
    c = claim()
    assert c.job_id == "c"
    services.job_fail(lease_id=c.lease_id, error="flaky", retryable=True)
    row = JobRun.objects.get(run_id=run_id, job_id="c")
    assert (row.status, row.attempt) == ("queued", 2)
    assert row.not_before >= timezone.now() + timedelta(seconds=25), "fixed backoff of 30 s"
    # Not claimable before its backoff; b (linux only) is not for this worker either.
    assert claim() is None
    JobRun.objects.filter(id=row.id).update(not_before=timezone.now())  # the backoff is over
    c2 = claim()
    assert (c2.job_id, c2.attempt, c2.lease_epoch) == ("c", 2, 2)
    services.job_fail(lease_id=c2.lease_id, error="broken", retryable=True)
    assert statuses(run_id) == {"a": "success", "b": "queued", "c": "failure", "d": "skipped"}
    b = claim(labels=["linux"])
    services.job_complete(lease_id=b.lease_id, outputs={})
    assert WorkflowRun.objects.get(run_id=run_id).status == "failure"


def test_an_expired_lease_is_retried_while_budget_remains_else_the_job_fails():
    text = """
name: Expiry
on: push
jobs:
  first: {run: "sleep 1", retries: 1}
  second: {needs: first, run: "echo"}
"""
    run_id = services.workflow_run_start(workflow_id=define(text)).run.run_id
    lost = claim(ttl=1)
    later = timezone.now() + timedelta(seconds=2)
    assert services.jobs_reap(now=later) == 1
    row = JobRun.objects.get(run_id=run_id, job_id="first")
    assert (row.status, row.attempt, row.error) == ("queued", 2, "lease expired (worker w1)")
    with pytest.raises(domain.LeaseLost):
        services.job_complete(lease_id=lost.lease_id, outputs={})  # the dead worker, late
    # The retry became claimable at the reaper's "now" (2 s ahead here): let it be now.
    JobRun.objects.filter(id=row.id).update(not_before=timezone.now())
    retry = claim(worker="w2", ttl=1)
    assert (retry.job_id, retry.attempt) == ("first", 2)
    assert services.jobs_reap(now=timezone.now() + timedelta(seconds=2)) == 1
    assert statuses(run_id) == {"first": "failure", "second": "skipped"}
    assert WorkflowRun.objects.get(run_id=run_id).status == "failure"
    with pytest.raises(domain.LeaseLost):
        services.job_heartbeat(lease_id=retry.lease_id)


def test_an_expired_but_unreaped_lease_is_refused_too():
    services.workflow_run_start(workflow_id=define(DIAMOND))
    job = claim(ttl=0.2)
    JobRun.objects.filter(id=job.id).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(domain.LeaseLost, match="expired"):
        services.job_complete(lease_id=job.lease_id, outputs={})
    assert JobRun.objects.get(id=job.id).status == "running", "changed nothing"


def test_a_job_that_runs_past_its_timeout_is_failed_by_the_reaper():
    text = "name: T\non: push\njobs:\n  slow: {run: 'sleep 60', timeout: 5}\n"
    run_id = services.workflow_run_start(workflow_id=define(text)).run.run_id
    claim(ttl=600)
    assert services.jobs_reap(now=timezone.now() + timedelta(seconds=6)) == 1
    row = JobRun.objects.get(run_id=run_id)
    assert (row.status, row.error) == ("failure", "timed out after 5 s")


def test_cancelling_a_run_refuses_the_late_calls_of_its_running_jobs():
    workflow_id = define(DIAMOND)
    run_id = services.workflow_run_start(workflow_id=workflow_id).run.run_id
    a = claim()
    assert not services.job_is_cancelled(workflow_id=workflow_id, job_id="a")
    services.workflow_run_cancel(run_id=run_id)
    assert services.job_is_cancelled(workflow_id=workflow_id, job_id="a")
    for late in (
        lambda: services.job_complete(lease_id=a.lease_id, outputs={}),
        lambda: services.job_fail(lease_id=a.lease_id, error="cancelled", retryable=True),
        lambda: services.job_heartbeat(lease_id=a.lease_id),
        lambda: services.job_log(lease_id=a.lease_id, chunks=[{"data": "x"}]),
    ):
        with pytest.raises(domain.LeaseLost):
            late()
    assert set(statuses(run_id).values()) == {"cancelled"}
    run = WorkflowRun.objects.get(run_id=run_id)
    assert (run.status, run.cancelled) == ("cancelled", True)
    # Running it again starts afresh: nothing of the cancelled run is cancelled in the new one.
    again = services.workflow_run_start(workflow_id=workflow_id)
    assert again.started and statuses(again.run.run_id)["a"] == "queued"
    assert not services.job_is_cancelled(workflow_id=workflow_id, job_id="a")


def test_cancelling_one_job_skips_what_needed_it():
    run_id = services.workflow_run_start(workflow_id=define(DIAMOND)).run.run_id
    services.job_complete(lease_id=claim().lease_id, outputs={})
    services.job_cancel(run_id=run_id, job_id="c")
    assert statuses(run_id) == {"a": "success", "b": "queued", "c": "cancelled", "d": "skipped"}


def run_status(run_id) -> str:
    return WorkflowRun.objects.get(run_id=run_id).status


def test_a_requeued_job_runs_again_and_what_it_skipped_with_it():
    workflow_id = define(DIAMOND)
    run_id = services.workflow_run_start(workflow_id=workflow_id).run.run_id
    a = claim()
    services.job_fail(lease_id=a.lease_id, error="broken", retryable=False)
    assert statuses(run_id) == dict.fromkeys("bcd", "skipped") | {"a": "failure"}
    assert run_status(run_id) == "failure"

    requeued = services.job_requeue(run_id=run_id, job_id="a", reason="fixed the runner")
    assert (requeued.status, requeued.attempt, requeued.finished_at) == ("queued", 2, None)
    assert statuses(run_id) == dict.fromkeys("bcd", "waiting") | {"a": "queued"}
    run = WorkflowRun.objects.get(run_id=run_id)
    assert (run.status, run.finished_at) == ("running", None)

    again = claim()
    assert (again.job_id, again.attempt) == ("a", 2)
    services.job_complete(lease_id=again.lease_id, outputs={"sha": "def"})
    c = claim()
    assert (c.job_id, c.attempt, c.upstream_outputs) == ("c", 1, {"a": {"sha": "def"}})
    services.job_complete(lease_id=c.lease_id, outputs={})
    services.job_complete(lease_id=claim(labels=["linux"]).lease_id, outputs={})
    services.job_complete(lease_id=claim().lease_id, outputs={})
    assert run_status(run_id) == "success"
    assert projections.replay(domain.RUN_STREAM, run_id).differences == {}
    for job in JobRun.objects.filter(run_id=run_id):
        assert projections.replay(domain.JOB_STREAM, job.id).differences == {}, job.job_id


def test_a_requeue_is_refused_where_it_cannot_apply_and_changes_nothing():
    workflow_id = define(DIAMOND)
    run_id = services.workflow_run_start(workflow_id=workflow_id).run.run_id
    a = claim()
    with pytest.raises(services.IllegalTransition, match="only a failed or cancelled job"):
        services.job_requeue(run_id=run_id, job_id="a", reason="x")
    services.job_complete(lease_id=a.lease_id, outputs={})
    c = claim()
    b = claim(labels=["linux"])
    services.job_fail(lease_id=c.lease_id, error="broken", retryable=False)
    with pytest.raises(services.IllegalTransition, match="only a failed or cancelled job"):
        services.job_requeue(run_id=run_id, job_id="d", reason="x")  # skipped: requeue c
    with pytest.raises(services.NotFound):
        services.job_requeue(run_id=run_id, job_id="nope", reason="x")
    with pytest.raises(services.NotFound):
        services.job_requeue(run_id=run_id, job_id="c", reason="x", tenant="someone-else")
    services.job_complete(lease_id=b.lease_id, outputs={})
    assert run_status(run_id) == "failure"

    # While another run of the workflow goes, this one cannot run again.
    other = services.workflow_run_start(workflow_id=workflow_id).run.run_id
    before = statuses(run_id)
    with pytest.raises(services.Conflict, match="another run of workflow ci is going"):
        services.job_requeue(run_id=run_id, job_id="c", reason="x")
    assert statuses(run_id) == before and run_status(run_id) == "failure"

    # A cancelled run is not run again: start a new one.
    services.workflow_run_cancel(run_id=other)
    with pytest.raises(services.IllegalTransition, match="was cancelled: start a new run"):
        services.job_requeue(run_id=other, job_id="a", reason="x")
    assert set(statuses(other).values()) == {"cancelled"}


def test_a_requeued_jobs_log_goes_on_past_its_first_end():
    """A log stream opened after a requeue shows both attempts and ends with the last end."""
    from workflows.streams import JobLogScope

    run_id = services.workflow_run_start(workflow_id=define(DIAMOND)).run.run_id
    first = claim()
    services.job_log(lease_id=first.lease_id, chunks=[{"data": "try 1"}])
    services.job_fail(lease_id=first.lease_id, error="broken", retryable=False)
    services.job_requeue(run_id=run_id, job_id="a", reason="x")
    second = claim()
    services.job_log(lease_id=second.lease_id, chunks=[{"data": "try 2"}])
    services.job_complete(lease_id=second.lease_id, outputs={})
    scope = JobLogScope(
        job_run_id=first.id, workflow_id="ci", run_id=run_id, job_id="a", after=Cursor(0)
    )
    frames = [(f.event, f.data) for f in scope.absorb(scope.load())]
    assert [(name, data.get("data"), data.get("status")) for name, data in frames] == [
        ("log", "try 1", None),
        ("log", "try 2", None),
        ("end", None, "success"),
    ]
    assert scope.done


def test_log_pushes_are_kept_under_the_lease():
    from workflows import selectors

    services.workflow_run_start(workflow_id=define(DIAMOND))
    a = claim()
    chunks = [
        {"sequence": n, "data": f"line {n}", "stream": "stdout", "timestamp_ms": 1}
        for n in range(3)
    ]
    assert services.job_log(lease_id=a.lease_id, chunks=chunks) == 3
    log = selectors.job_log(a.id, "ci", "a")
    assert [(c["sequence"], c["data"], c["attempt"]) for c in log] == [
        (0, "line 0", 0),
        (1, "line 1", 0),
        (2, "line 2", 0),
    ], "the first attempt, counted from 0 as the job's on workflow-graph's routes"
    with pytest.raises(services.InvalidInput):
        services.job_log(lease_id=a.lease_id, chunks=[{"data": 3}])


def test_every_aggregate_is_rebuilt_equal_from_its_events():
    workflow_id = define(DIAMOND)
    run_id = services.workflow_run_start(workflow_id=workflow_id).run.run_id
    a = claim()
    services.job_heartbeat(lease_id=a.lease_id)
    services.job_complete(lease_id=a.lease_id, outputs={"k": "v"})
    c = claim()
    services.job_fail(lease_id=c.lease_id, error="x", retryable=True)
    assert projections.replay(domain.RUN_STREAM, run_id).differences == {}
    for job in JobRun.objects.filter(run_id=run_id):
        assert projections.replay(domain.JOB_STREAM, job.id).differences == {}, job.job_id
    assert (
        projections.replay(
            domain.DEFINITION_STREAM, domain.definition_stream_id(workflow_id)
        ).differences
        == {}
    )


def test_the_single_statement_writes_record_what_the_domain_decides():
    """Claims, completions and enqueues write their events in SQL (workflows/sql/queries.sql),
    one statement each: every such event is the one the domain's function decides from the
    state before it, field for field, and the claim's metadata names its worker."""
    run_id = services.workflow_run_start(workflow_id=define(DIAMOND)).run.run_id
    a = claim(worker="w1")
    services.job_complete(lease_id=a.lease_id, outputs={"sha": "abc"})
    assert claim(worker="w2").job_id == "c"  # the only one for a worker with no labels
    b = claim(labels=["linux"], worker="w3")
    services.job_complete(lease_id=b.lease_id, outputs={})
    outputs = {"a": {"sha": "abc"}, "b": {}}
    checked = []
    for row in JobRun.objects.filter(run_id=run_id):
        state = None
        for stored in store.load(row.id):
            recorded = projections.decode(stored, domain.JOB_EVENTS)
            event, at = recorded.event, recorded.at
            if isinstance(event, domain.JobQueued):
                upstream = {need: outputs[need] for need in state.needs}
                decided = domain.enqueue(state, upstream_outputs=upstream, now=at)
            elif isinstance(event, domain.JobClaimed):
                decided = domain.claim(
                    state,
                    lease_id=event.lease_id,
                    worker_id=event.worker_id,
                    ttl_seconds=30.0,
                    now=at,
                )
                assert stored.metadata["worker_id"] == event.worker_id
            elif isinstance(event, domain.JobSucceeded):
                decided = domain.succeed(
                    state, lease_id=state.lease_id, outputs=outputs[row.job_id], now=at
                )
            else:
                decided = [event]
            assert decided == [event], (row.job_id, stored.type)
            checked.append((row.job_id, stored.type))
            state = domain.apply_job(state, recorded)
    assert sorted(checked) == sorted(
        [(job, "JobCreated") for job in "abcd"]
        + [("a", "JobQueued"), ("a", "JobClaimed"), ("a", "JobSucceeded")]
        + [("b", "JobQueued"), ("b", "JobClaimed"), ("b", "JobSucceeded")]
        + [("c", "JobQueued"), ("c", "JobClaimed")]
    )


@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_claim_each_job_exactly_once():
    jobs = "\n".join(f"  j{n}: {{run: 'true'}}" for n in range(40))
    services.workflow_run_start(workflow_id=define(f"name: Wide\non: push\njobs:\n{jobs}\n"))
    claimed: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def worker(name: str) -> None:
        try:
            start.wait()
            while (job := claim(worker=name)) is not None:
                with lock:
                    claimed.append(job.job_id)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(f"w{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claimed) == sorted(f"j{n}" for n in range(40))
    assert len(set(claimed)) == 40


def wide(workflow_id: str, width: int) -> str:
    jobs = "\n".join(f"  j{n}: {{run: 'true'}}" for n in range(width))
    return define(f"name: Wide\non: push\njobs:\n{jobs}\n", workflow_id)


def test_a_batch_claim_leases_the_oldest_jobs_each_under_its_own_lease():
    first = services.workflow_run_start(workflow_id=wide("first", 3)).run.run_id
    second = services.workflow_run_start(workflow_id=wide("second", 3)).run.run_id
    claimed = services.jobs_claim(worker_id="w1", labels=[], ttl_seconds=30.0, limit=4)
    assert [job.run_id for job in claimed] == [first] * 3 + [second], "oldest first"
    assert len({job.lease_id for job in claimed}) == 4 and all(j.lease_id for j in claimed)
    assert {job.status for job in claimed} == {domain.JobStatus.RUNNING}
    rest = services.jobs_claim(worker_id="w2", labels=[], limit=100)
    assert len(rest) == 2 and services.jobs_claim(worker_id="w2", labels=[], limit=5) == []
    for job in claimed + rest:
        replayed = projections.replay(domain.JOB_STREAM, job.id)
        assert replayed.differences == {}, job.job_id
    for limit in (0, -1, 101):
        with pytest.raises(InvalidInput, match="max_jobs"):
            services.jobs_claim(worker_id="w1", labels=[], limit=limit)


def test_a_batch_completion_completes_what_it_may_and_says_why_not_for_the_rest():
    diamond = services.workflow_run_start(workflow_id=define(DIAMOND)).run.run_id
    other = services.workflow_run_start(workflow_id=wide("other", 2)).run.run_id
    a, j0, j1 = services.jobs_claim(worker_id="w1", labels=[], limit=3)
    services.job_cancel(run_id=other, job_id=j1.job_id)  # its lease is no longer current
    stale = uuid.uuid4()
    refusals = services.jobs_complete(
        [(j0.lease_id, {"n": 1}), (stale, {}), (a.lease_id, {"sha": "abc"}), (j1.lease_id, {})]
    )
    assert refusals[0] is None and refusals[2] is None
    assert isinstance(refusals[1], domain.LeaseLost) and str(stale) in str(refusals[1])
    assert isinstance(refusals[3], domain.LeaseLost) and "cancel" in str(refusals[3])
    assert statuses(diamond) == {"a": "success", "b": "queued", "c": "queued", "d": "waiting"}
    assert statuses(other) == {j0.job_id: "success", j1.job_id: "cancelled"}
    assert WorkflowRun.objects.get(run_id=other).status == "cancelled", "each run decided"
    assert JobRun.objects.get(run_id=other, job_id=j0.job_id).outputs == {"n": "1"}
    for run_id in (diamond, other):
        assert projections.replay(domain.RUN_STREAM, run_id).differences == {}
        for job in JobRun.objects.filter(run_id=run_id):
            assert projections.replay(domain.JOB_STREAM, job.id).differences == {}


@pytest.mark.parametrize(
    "completions, message",
    [
        ([], "completions: from 1 to 100"),
        ([(uuid.uuid4(), {})] * 2, "a lease may be completed once per call"),
        ([(None, {}), (None, ["not", "an", "object"])], r"completions\[1\].outputs"),
    ],
    ids=["empty", "a lease twice", "outputs not an object"],
)
def test_a_bad_batch_completion_is_refused_whole_and_changes_nothing(completions, message):
    run_id = services.workflow_run_start(workflow_id=wide("bad", 2)).run.run_id
    jobs = services.jobs_claim(worker_id="w1", labels=[], limit=2)
    completions = [
        (lease_id or job.lease_id, outputs)
        for (lease_id, outputs), job in zip(completions, jobs, strict=False)
    ] + completions[len(jobs) :]
    before = store.load(jobs[0].id)
    with pytest.raises(InvalidInput, match=message):
        services.jobs_complete(completions)
    assert statuses(run_id) == {"j0": "running", "j1": "running"}
    assert store.load(jobs[0].id) == before


@pytest.mark.django_db(transaction=True)
def test_batches_over_the_same_runs_in_opposite_orders_never_deadlock():
    """Runs are locked in run_id order whatever the batch's order: two workers completing jobs
    of the same two runs, listed the other way round, again and again (each call locks both
    runs, even once its leases are spent), never wait on each other in a circle. PostgreSQL
    would end one of them with a deadlock error."""
    runs = [services.workflow_run_start(workflow_id=wide(f"w{n}", 2)).run.run_id for n in range(2)]
    jobs = services.jobs_claim(worker_id="w", labels=[], limit=4)
    by_run = [[job for job in jobs if job.run_id == run_id] for run_id in runs]
    batches = [[by_run[0][0], by_run[1][0]], [by_run[1][1], by_run[0][1]]]
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def complete(batch) -> None:
        try:
            for _ in range(30):
                start.wait()
                with transaction.atomic():
                    services.jobs_complete([(job.lease_id, {}) for job in batch])
                    time.sleep(0.01)  # holding the runs' locks: the other call must wait
        except BaseException as error:  # noqa: BLE001 - the test reads it
            errors.append(error)
            start.abort()
        finally:
            connection.close()

    threads = [threading.Thread(target=complete, args=(batch,)) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert {WorkflowRun.objects.get(run_id=run_id).status for run_id in runs} == {"success"}


MIXED = """
name: Mixed
on: push
jobs:
  prepare: {run: "echo prepare"}
  think:
    needs: prepare
    retries: 1
    agent: {assistant: agent, input: {steps: ["from the DAG"]}}
  report: {needs: think, run: "echo report"}
"""


def test_an_agent_job_runs_an_assistant_and_its_values_are_its_outputs(system_assistant):
    from runs import services as run_services
    from runs.models import Run

    run_id = services.workflow_run_start(workflow_id=define(MIXED, "mixed")).run.run_id
    services.job_complete(lease_id=claim().lease_id, outputs={})
    think = JobRun.objects.get(run_id=run_id, job_id="think")
    assert think.status == "running" and think.worker_id.startswith("agent-run:")
    agent_run = Run.objects.get(run_id=think.worker_id.removeprefix("agent-run:"))
    assert agent_run.kwargs["input"] == {"steps": ["from the DAG"]}
    assert claim() is None, "no worker claims an agent job"
    started = run_services.run_start(run_id=agent_run.run_id, worker_id="executor")
    run_services.run_complete(
        run_id=agent_run.run_id,
        lease_epoch=started.lease_epoch,
        output={"steps": ["a", "b"], "n": 2},
    )
    think.refresh_from_db()
    assert (think.status, think.outputs) == ("success", {"steps": '["a","b"]', "n": "2"})
    report = claim()
    assert report.job_id == "report" and report.upstream_outputs == {"think": think.outputs}


def test_a_failed_agent_run_is_retried_with_a_new_run_and_a_cancel_stops_it(system_assistant):
    from runs import services as run_services
    from runs.models import Run

    run_id = services.workflow_run_start(workflow_id=define(MIXED, "mixed")).run.run_id
    services.job_complete(lease_id=claim().lease_id, outputs={})
    first = JobRun.objects.get(run_id=run_id, job_id="think").worker_id.removeprefix("agent-run:")
    started = run_services.run_start(run_id=first, worker_id="executor")
    run_services.run_fail(
        run_id=first, lease_epoch=started.lease_epoch, error="ValueError", message="boom"
    )
    think = JobRun.objects.get(run_id=run_id, job_id="think")
    second = think.worker_id.removeprefix("agent-run:")
    assert (think.status, think.attempt) == ("running", 2) and second != first
    services.workflow_run_cancel(run_id=run_id)
    assert Run.objects.get(run_id=second).status == "interrupted", "its run is cancelled too"
    assert statuses(run_id) == {"prepare": "success", "think": "cancelled", "report": "cancelled"}


def test_an_agent_job_naming_no_assistant_fails_without_a_run(system_assistant):
    text = "name: Bad\non: push\njobs:\n  think: {agent: {assistant: no-such-graph}}\n"
    run_id = services.workflow_run_start(workflow_id=define(text, "bad")).run.run_id
    think = JobRun.objects.get(run_id=run_id, job_id="think")
    assert think.status == "failure" and "agent run not started" in think.error
