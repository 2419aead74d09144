"""Chaos under load: 300 runs of a five-node graph on 30 threads, executors saturated, while
faults land one after the other (``tests/e2e/chaos.py`` does the injecting and measuring).

1. SIGKILL of an executor whose slots are all busy: its runs are claimed again within 10 s
   (declared lost after three missed heartbeats, handed back, claimed ahead of newer runs).
2. SIGSTOP of an executor for longer than its lease: ``RunLeaseExpired`` for each of its runs
   within lease + one reaper period, whatever the backlog; after SIGCONT every write it tries
   is refused.
3. ``pg_terminate_backend`` of every connection: the API is back within a second, and never
   answers a 500 or anything but JSON meanwhile.
4. SIGKILL of the relay, restarted: everything committed reaches JetStream.
5. SIGKILL of daphne, restarted: it answers again; the runs never noticed.

Then: every run succeeded, no node ran again after its result had committed, every thread's
state is every run's five steps exactly once, and nothing was written under an expired lease.
One exception to "ran again", which no executor can avoid: a node the frozen executor's lease
gate had admitted just before SIGSTOP runs its body on SIGCONT (a process can be paused between
any check and the next line). Its writes are refused; only a side effect outside the database
repeats (LangGraph's advice holds: make side effects idempotent). At most one per frozen run.
"""

from __future__ import annotations

import pytest
from langgraph_sdk import get_sync_client

from tests.e2e import chaos

pytestmark = pytest.mark.e2e

RUNS, THREADS, PAUSE = 300, 30, 0.1


@pytest.fixture(scope="module")
def stack(server_env, system_assistants, nats_url, tmp_path_factory):
    stack = chaos.Stack.start(
        {**server_env, "NATS_URL": nats_url}, tmp_path_factory.mktemp("chaos"), executors=2
    )
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def client(stack):
    client = get_sync_client(url=stack.url, api_key=None)
    yield client
    client.http.client.close()


def test_faults_under_a_saturated_backlog_lose_and_repeat_nothing(
    stack, client, django_db_blocker, tmp_path
):
    db = django_db_blocker.unblock
    effects = tmp_path / "effects.log"
    runs = chaos.submit_backlog(client, runs=RUNS, threads=THREADS, path=effects, pause=PAUSE)

    killed = chaos.kill_executor(stack, db, stack.executors[0])
    assert killed.seconds <= 10, killed

    frozen, freeze = chaos.freeze_executor(
        stack, db, stack.executors[0], seconds=chaos.LEASE_SECONDS + 4
    )
    assert frozen.seconds <= chaos.LEASE_SECONDS + chaos.REAPER_SECONDS, frozen

    cut = chaos.terminate_connections(stack, db, runs[-1]["thread_id"])
    assert cut.detail["connections"] > 0
    assert cut.seconds < 1.0, cut
    assert set(cut.detail["statuses"]) <= {200, 503} and cut.detail["not_json"] == 0, cut

    relayed = chaos.kill_relay(stack, db)
    api = chaos.kill_api(stack)

    chaos.wait_until_done(client, runs, timeout=240)
    verdict = chaos.verdict(db, runs, effects, [freeze])
    assert verdict.lost == [], chaos.describe_lost(verdict.lost)
    assert verdict.repeated_committed_nodes == [], chaos.describe_repeated(
        verdict.repeated_committed_nodes
    )
    # Woken, the frozen executor started no new node: at most the one each run was entering
    # when it was stopped (admitted before the freeze) ran its body, and wrote nothing.
    assert len(verdict.admitted_before_freeze) <= len(freeze.held), verdict
    assert verdict.wrong_threads == []
    assert verdict.stale_writes == []
    # The frozen executor's runs were finished by others, under later epochs.
    for run in runs:
        if run["run_id"] in {str(run_id) for run_id in freeze.held}:
            assert client.runs.get(run["thread_id"], run["run_id"])["status"] == "success"
    # Each node of a run never retried ran once; a retry may run again at most the five nodes
    # of its run (only those its attempt had not committed: repeated_committed_nodes is empty).
    assert verdict.unretried_runs_run_otherwise == [], verdict
    assert RUNS * 5 <= verdict.executions <= RUNS * 5 + 5 * verdict.retries, verdict
    assert relayed.seconds < 30 and api.seconds < 30
