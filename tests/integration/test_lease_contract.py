"""The worker-lease contract, written once and run against both kinds of worker.

:class:`LeaseContract` states what every worker path must guarantee on real PostgreSQL: a run is
leased to one worker at a time; a worker that keeps the lease alive keeps its run; a silent one
loses it to the reaper, which hands the run back; a stale holder's writes are refused and change
nothing; a handed-back run is retried (claimed again, under a new epoch) and can finish; past its
attempt budget it ends ``error``. Each subclass drives one implementation:

- :class:`TestBuiltinExecutorLease`: ``runs.services`` as the built-in executor calls them
  (``runs_claim``, ``run_renew_lease`` from its lease keeper, ``run_record_output`` from its
  output writer, ``run_complete``); its liveness is the lease itself.
- :class:`TestRemoteWorkerLease`: the DuraGraph worker protocol over HTTP (register,
  heartbeat, poll, events) through the API test client; its liveness is the worker's
  heartbeats (the SDK never renews a per-run lease).

The reaper is called as the scheduler calls it (``duragraph_site.scheduler.reap``). Time is a
controlled clock (``django.utils.timezone.now``, which every lease and heartbeat reads), so
"silent for longer than a lease" takes no real time.
"""

from __future__ import annotations

import abc
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar

import pytest
from celery.app import task as celery_task
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient

from assistants import services as assistant_services
from assistants.domain import system_assistant_id
from duragraph_site import scheduler
from duragraph_site.errors import StaleLease
from events import store
from events.models import Event, Outbox
from runs import domain as run_domain
from runs import services as run_services
from runs.models import Run
from threads import services as thread_services
from threads.models import Checkpoint, Thread
from workers.models import Worker

pytestmark = pytest.mark.django_db

#: Longer than any retry backoff (``DURAGRAPH_RETRY_POLICY``): a handed-back run is claimable.
BACKOFF = timedelta(seconds=settings.DURAGRAPH_RETRY_POLICY["max_seconds"] + 1)


class Clock:
    """``timezone.now`` under the test's control: it moves only when told to.

    It starts a day in the past: leases and heartbeats are judged by this clock, but the claim
    asks the database's own clock whether a run is available yet (``runs_claimable_v1``), and a
    run made available at any time this clock reaches must be available to it too.
    """

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


class Refused(Exception):
    """The worker path refused a write (StaleLease; 404 or 409 over HTTP)."""


@dataclass(frozen=True)
class Lease:
    """What a worker holds after a claim."""

    run_id: uuid.UUID
    thread_id: uuid.UUID
    worker_id: str
    lease_epoch: int


def snapshot() -> dict[str, list[dict]]:
    """Every row a worker's write could touch."""
    return {
        model.__name__: list(model.objects.order_by("pk").values())
        for model in (Event, Outbox, Run, Thread, Checkpoint, Worker)
    }


class LeaseContract(abc.ABC):
    """The lease protocol every worker path keeps (STYLE.md 18: one suite, many implementations)."""

    #: The graph whose runs the worker serves.
    graph_id: ClassVar[str]

    # -- what each implementation provides --------------------------------------------------------
    @abc.abstractmethod
    def claim(self, worker_id: str) -> Lease | None:
        """*worker_id* takes the next run, if it may."""

    @abc.abstractmethod
    def keep_alive(self, lease: Lease) -> None:
        """What the worker does, periodically, while it executes the run."""

    @abc.abstractmethod
    def write(self, lease: Lease) -> None:
        """A progress write of the holder (a node starts). Raises Refused."""

    @abc.abstractmethod
    def finish(self, lease: Lease, output: dict) -> None:
        """The holder ends the run successfully. Raises Refused."""

    @abc.abstractmethod
    def silence(self, lease: Lease) -> timedelta:
        """How long the holder must stay silent for the reaper to take its run back."""

    @abc.abstractmethod
    def come_back(self, worker_id: str) -> None:
        """A silent worker wakes up and carries on as its implementation does."""

    # -- the shared set-up --------------------------------------------------------------------------
    @pytest.fixture(autouse=True)
    def _contract_setup(self, db, monkeypatch):
        self.clock = Clock(timezone.now() - timedelta(days=1))
        monkeypatch.setattr(timezone, "now", self.clock)
        self.wake_ups = 0

        def apply_async(task, *args, **kwargs):  # a wake-up goes nowhere: no executor here
            self.wake_ups += 1

        monkeypatch.setattr(celery_task.Task, "apply_async", apply_async)

    def new_run(self, **kwargs) -> Run:
        thread = thread_services.thread_create()
        return run_services.run_create(
            thread_id=thread.thread_id, assistant_id=system_assistant_id(self.graph_id), **kwargs
        )

    def reap(self) -> int:
        return scheduler.reap()

    def go_silent(self, lease: Lease) -> None:
        self.clock.advance(self.silence(lease))

    # -- the contract ---------------------------------------------------------------------------------
    def test_a_claim_leases_the_run_to_one_worker_at_a_time(self):
        run = self.new_run(kwargs={"input": {"n": 1}})
        lease = self.claim("a")
        assert lease is not None and lease.run_id == run.run_id and lease.lease_epoch == 1
        claimed = Run.objects.get(pk=run.pk)
        assert (claimed.status, claimed.worker_id, claimed.attempt) == ("running", "a", 1)
        assert self.claim("b") is None  # leased already: nobody else gets it
        self.write(lease)
        self.finish(lease, {"n": 1, "done": True})
        done = Run.objects.get(pk=run.pk)
        assert (done.status, done.output) == ("success", {"n": 1, "done": True})

    def test_keeping_the_lease_alive_keeps_the_run_past_its_first_term(self):
        run = self.new_run()
        lease = self.claim("a")
        term = self.silence(lease)
        for _ in range(3):  # nearly a whole term each time: three in all are well past the first
            self.clock.advance(term * 0.6)
            assert self.reap() == 0
            self.keep_alive(lease)
        kept = Run.objects.get(pk=run.pk)
        assert (kept.status, kept.worker_id, kept.lease_epoch) == ("running", "a", 1)
        self.write(lease)

    def test_a_silent_worker_loses_its_run_to_the_reaper(self):
        run = self.new_run()
        lease = self.claim("a")
        self.go_silent(lease)
        assert self.reap() == 1
        assert self.wake_ups == 1  # the executors are woken for the retry
        retried = Run.objects.get(pk=run.pk)
        assert (retried.status, retried.worker_id, retried.attempt) == ("pending", None, 1)
        assert [e.type for e in store.load(run.run_id)][-2:] == ["RunLeaseExpired", "RunRetried"]
        assert self.reap() == 0  # handed back once

    def test_a_stale_holder_s_writes_are_refused_and_change_nothing(self):
        run = self.new_run()
        stale = self.claim("a")
        self.go_silent(stale)
        self.reap()
        self.come_back("a")
        self.assert_refused(stale)  # the run is pending again
        self.clock.advance(BACKOFF)
        fresh = self.claim("b")
        assert fresh is not None and fresh.lease_epoch == stale.lease_epoch + 1
        self.assert_refused(stale)  # the run is another worker's
        self.write(fresh)
        assert Run.objects.get(pk=run.pk).worker_id == "b"

    def assert_refused(self, lease: Lease) -> None:
        before = snapshot()
        with pytest.raises(Refused):
            self.write(lease)
        with pytest.raises(Refused):
            self.finish(lease, {"stale": True})
        assert snapshot() == before

    def test_a_handed_back_run_is_retried_under_a_new_epoch_and_can_finish(self):
        run = self.new_run(kwargs={"input": {"n": 2}})
        first = self.claim("a")
        self.go_silent(first)
        self.reap()
        assert Run.objects.get(pk=run.pk).available_at > self.clock.now  # after a backoff
        self.clock.advance(BACKOFF)
        second = self.claim("b")
        assert second is not None and second.run_id == run.run_id
        assert second.lease_epoch == first.lease_epoch + 1
        assert Run.objects.get(pk=run.pk).attempt == 2
        self.write(second)
        self.finish(second, {"n": 2, "done": True})
        assert Run.objects.get(pk=run.pk).status == "success"

    def test_past_its_attempt_budget_a_run_ends_in_error(self):
        run = self.new_run(max_attempts=2)
        for attempt in (1, 2):
            lease = self.claim(f"worker-{attempt}")
            assert lease is not None and lease.run_id == run.run_id
            self.go_silent(lease)
            assert self.reap() == 1
            self.clock.advance(BACKOFF)
        failed = Run.objects.get(pk=run.pk)
        assert (failed.status, failed.attempt) == ("error", 2)
        assert failed.error["error"] == "LeaseExpired"
        assert [e.type for e in store.load(run.run_id)][-2:] == ["RunLeaseExpired", "RunFailed"]
        assert self.claim("worker-3") is None
        assert Thread.objects.get(pk=run.thread_id).status == "error"


class TestBuiltinExecutorLease(LeaseContract):
    """``runs.services`` as ``workers.executor`` calls them; the lease is the liveness."""

    graph_id = "agent"
    LEASE_SECONDS = 30.0

    @pytest.fixture(autouse=True)
    def _graph(self, _contract_setup):
        assistant_services.assistants_ensure_system()

    def claim(self, worker_id: str) -> Lease | None:
        claims = run_services.runs_claim(
            worker_id=worker_id,
            limit=1,
            graph_ids=[self.graph_id],
            lease_seconds=self.LEASE_SECONDS,
        )
        if not claims:
            return None
        [claim] = claims
        return Lease(claim.run.run_id, claim.run.thread_id, worker_id, claim.lease_epoch)

    def keep_alive(self, lease: Lease) -> None:  # the executor's LeaseKeeper
        run_services.run_renew_lease(
            run_id=lease.run_id, lease_epoch=lease.lease_epoch, lease_seconds=self.LEASE_SECONDS
        )

    def write(self, lease: Lease) -> None:  # the executor's OutputWriter
        try:
            run_services.run_record_output(
                run_id=lease.run_id,
                thread_id=lease.thread_id,
                lease_epoch=lease.lease_epoch,
                events=[run_domain.NodeStarted(node="step", task_id=uuid.uuid4().hex)],
            )
        except StaleLease as error:
            raise Refused from error

    def finish(self, lease: Lease, output: dict) -> None:
        try:
            run_services.run_complete(
                run_id=lease.run_id, lease_epoch=lease.lease_epoch, output=output
            )
        except StaleLease as error:
            raise Refused from error

    def silence(self, lease: Lease) -> timedelta:
        return timedelta(seconds=self.LEASE_SECONDS + 1)

    def come_back(self, worker_id: str) -> None:
        pass  # a frozen executor wakes with its claim in hand and writes under its old epoch


class TestRemoteWorkerLease(LeaseContract):
    """The DuraGraph SDK's HTTP protocol; the worker's heartbeats are the liveness."""

    graph_id = "hello_world"
    BASE = "/api/v1/workers"
    DEFINITION: ClassVar[dict] = {
        "graph_id": "hello_world",
        "nodes": [{"id": "greet", "type": "function", "config": {"is_entrypoint": True}}],
        "edges": [],
        "entry_point": "greet",
    }

    @pytest.fixture(autouse=True)
    def _api(self, _contract_setup):
        self.api = APIClient()
        self.register("setup")  # makes hello_world a graph of the registry

    def register(self, worker_id: str) -> None:
        body = {
            "worker_id": worker_id,
            "capabilities": {"graphs": [self.graph_id], "max_concurrent_runs": 10},
            "graph_definitions": [self.DEFINITION],
        }
        response = self.api.post(f"{self.BASE}/register", body, format="json")
        assert response.status_code == 200, response.content

    def heartbeat(self, worker_id: str) -> int:
        response = self.api.post(
            f"{self.BASE}/{worker_id}/heartbeat", {"status": "ready"}, format="json"
        )
        return response.status_code

    def event(self, lease: Lease, event_type: str, **data) -> None:
        body = {"run_id": str(lease.run_id), "event_type": event_type, "data": data}
        response = self.api.post(f"{self.BASE}/{lease.worker_id}/events", body, format="json")
        if response.status_code in (404, 409):
            raise Refused(response.json()["detail"])
        assert response.status_code == 200, response.content

    def claim(self, worker_id: str) -> Lease | None:
        if self.heartbeat(worker_id) == 404:  # as the SDK: a 404 means register (again)
            self.register(worker_id)
        response = self.api.post(f"{self.BASE}/{worker_id}/poll", {"max_tasks": 1}, format="json")
        if response.status_code == 204:
            return None
        assert response.status_code == 200, response.content
        [task] = response.json()["tasks"]
        return Lease(
            uuid.UUID(task["run_id"]), uuid.UUID(task["thread_id"]), worker_id, task["lease_epoch"]
        )

    def keep_alive(self, lease: Lease) -> None:
        assert self.heartbeat(lease.worker_id) == 200

    def write(self, lease: Lease) -> None:
        self.event(lease, "node_started", node_id="greet")

    def finish(self, lease: Lease, output: dict) -> None:
        self.event(lease, "run_completed", output=output)

    def silence(self, lease: Lease) -> timedelta:
        interval = Worker.objects.get(worker_id=lease.worker_id).heartbeat_interval
        lost_after = settings.DURAGRAPH_WORKER_LOST_AFTER_HEARTBEATS
        return timedelta(seconds=interval * lost_after + 1)

    def come_back(self, worker_id: str) -> None:
        # The SDK's next heartbeat gets a 404 (it was declared lost): it registers again.
        assert self.heartbeat(worker_id) == 404
        self.register(worker_id)
