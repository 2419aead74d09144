"""An executor acts on a lease only while it holds it by its own clock (``workers.executor``):
woken from a freeze past its lease, it starts no node, before any write tells it the run is gone."""

from __future__ import annotations

import operator
import time
from datetime import timedelta
from typing import Annotated

import pytest
from django.utils import timezone
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from runs import services as run_services
from runs.models import Run
from workers.executor import LeaseGate, LeaseKeeper, LeaseLost

pytestmark = pytest.mark.django_db


@pytest.fixture
def claim(thread, assistant):
    run_services.run_create(thread_id=thread.thread_id, assistant_id=assistant.assistant_id)
    [claim] = run_services.runs_claim(worker_id="w1", lease_seconds=30)
    return claim


def test_the_lease_is_ours_until_its_end_by_our_clock(claim):
    keeper = LeaseKeeper(claim, lease_seconds=30)
    keeper.check()  # 30 s left
    keeper.valid_until = time.monotonic() - 0.001  # as after a freeze longer than the lease
    with pytest.raises(LeaseLost):
        keeper.check()


def test_a_lease_already_over_at_the_claim_is_not_acted_on(claim):
    Run.objects.filter(pk=claim.run.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    late = run_services.Claim(run=Run.objects.get(pk=claim.run.pk), lease_epoch=claim.lease_epoch)
    with pytest.raises(LeaseLost):
        LeaseKeeper(late, lease_seconds=30).check()


def test_a_refused_renewal_loses_the_lease_whatever_the_clock(claim):
    keeper = LeaseKeeper(claim, lease_seconds=30)
    keeper.lost.set()
    with pytest.raises(LeaseLost):
        keeper.check()


class Steps(TypedDict):
    steps: Annotated[list[str], operator.add]


def test_the_gate_starts_no_node_once_the_lease_may_be_gone(claim):
    keeper = LeaseKeeper(claim, lease_seconds=30)
    ran: list[str] = []

    def first(state: Steps) -> dict:
        ran.append("first")
        keeper.valid_until = time.monotonic() - 0.001  # frozen past the lease right after it
        return {"steps": ["first"]}

    def second(state: Steps) -> dict:
        ran.append("second")  # a side effect another executor may already have committed
        return {"steps": ["second"]}

    graph = (
        StateGraph(Steps)
        .add_node("first", first)
        .add_node("second", second)
        .add_edge(START, "first")
        .add_edge("first", "second")
        .add_edge("second", END)
        .compile()
    )
    with pytest.raises(LeaseLost):
        graph.invoke({"steps": []}, {"callbacks": [LeaseGate(keeper)]})
    assert ran == ["first"]
