"""Celery tasks of the workers app: interfaces, not logic.

A Celery message only ever *wakes* an executor: the run itself is claimed from PostgreSQL
under a lease, so a lost or duplicated message can neither lose nor double a run.
"""

from __future__ import annotations

from celery import shared_task

from workers import executor


@shared_task(name="duragraph.execute_runs", ignore_result=True)
def execute_runs() -> int:
    """Wake-up: execute claimable runs until none are left."""
    return executor.drain(graph_ids=executor.served_graphs())
